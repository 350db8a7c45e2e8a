"""The documentation site as a reader meets it: built once by `python docs/build.py`, served on 127.0.0.1, opened in
headless Chromium (Debian's `chromium` and `chromium-driver`, which .ci/run installs).

Screenshots of the home page and the core page are left in `_screenshots/` to look at.
"""
import functools, json, re, subprocess, sys, threading, time, urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

from browser import chromium, needs_browser

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_docs'
SHOTS = ROOT / '_screenshots'


def _notebooks():
    "(notebook, page) for every notebook the site documents, found as the build finds them."
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    nbs = get_config(path=ROOT).nbs_path
    pages = []
    for nb in sorted(nbglob(nbs, as_path=True)):
        rel = nb.relative_to(nbs)
        pages.append((nb, (rel.parent / re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower())).as_posix()))
    return pages


def _purpose(nb: Path) -> str:
    "The `> ...` sentence under a notebook's title, as plain text: what the page must open with."
    first = json.loads(nb.read_text(encoding='utf-8'))['cells'][0]
    quote = ' '.join(l.lstrip('>').strip() for l in ''.join(first['source']).splitlines() if l.startswith('>'))
    return _plain(quote)


def _plain(text: str) -> str:
    "Text as the page shows it, to compare with its markdown: no markup, straight quotes, single spaces."
    text = text.translate(str.maketrans('‘’“”', "''\"\""))
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
    return re.sub(r'\s+', ' ', re.sub(r'[`*$]', '', text)).strip()


@pytest.fixture(scope='module')
def site():
    "`_docs/`, built by the README's command; notebooks unchanged since the last build are not run again."
    start = time.time()
    r = subprocess.run([sys.executable, 'docs/build.py'], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f'python docs/build.py failed:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}'
    print(f'built the docs in {time.time() - start:.0f}s')
    return SITE


def test_every_notebook_has_a_page_and_a_place_in_the_sidebar(site):
    home = (site / 'index.html').read_text(encoding='utf-8')
    for nb, page in _notebooks():
        assert (site / f'{page}.html').is_file(), f'{nb.name} has no page {page}.html'
        if page != 'index': assert f'href="{page}.html"' in home, f'{nb.name} is missing from the sidebar'
    assert (site / 'searchindex.js').is_file(), 'no search index'


# ---------------------------------------------------------------- in the browser

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


class _Server(ThreadingHTTPServer):
    # Chromium drops connections it no longer needs; that is no error of the site
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)


@pytest.fixture(scope='module')
def server(site):
    httpd = _Server(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp('chromium-profile')) as driver: yield driver


def _shown(el) -> bool:
    "Drawn for real: WebDriver's visibility rules, and a box with an area."
    rect = el.rect
    return el.is_displayed() and rect['width'] > 0 and rect['height'] > 0


def _screenshot(driver, name: str, full_page: bool = True) -> Path:
    "The window as it is, or the whole page from its top (Chrome's own capture beyond the window)."
    import base64
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f'{name}.png'
    if not full_page:
        driver.save_screenshot(str(path))
        return path
    size = driver.execute_cdp_cmd('Page.getLayoutMetrics', {})['cssContentSize']
    shot = driver.execute_cdp_cmd('Page.captureScreenshot', {
        'format': 'png', 'captureBeyondViewport': True,
        'clip': {'x': 0, 'y': 0, 'width': size['width'], 'height': min(size['height'], 10000), 'scale': 1}})
    path.write_bytes(base64.b64decode(shot['data']))
    return path


@needs_browser
def test_home_page_shows_the_two_commands_and_the_dendrogram(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(server + 'index.html')
    # pictured first, before the checks below scroll and bring up the theme's "back to top" button
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        'return [...document.images].every(i => i.complete)'))
    _screenshot(browser, 'docs-home-first-screen', full_page=False)
    print('screenshot:', _screenshot(browser, 'docs-home'))
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    commands = [b.split('\n```')[0].strip() for b in readme.split('```sh\n')[1:3]]
    blocks = [b for b in browser.find_elements(By.CSS_SELECTOR, 'article pre') if _shown(b)]
    for command in commands:
        assert any(b.text.strip() == command for b in blocks), f'command not shown on the home page: {command}'
    # the dendrogram is the figure under the cell that plots the hierarchy
    plot_cells = [c for c in browser.find_elements(By.CSS_SELECTOR, 'div.cell')
                  if '.plot(' in c.find_element(By.CSS_SELECTOR, '.cell_input').text]
    assert plot_cells, 'no cell plots the hierarchy on the home page'
    imgs = plot_cells[0].find_elements(By.CSS_SELECTOR, '.cell_output img')
    assert imgs, 'the plotting cell has no figure'
    img = imgs[0]
    browser.execute_script('arguments[0].scrollIntoView()', img)
    assert _shown(img), 'the dendrogram is not visible'
    assert browser.execute_script('return arguments[0].complete && arguments[0].naturalWidth', img) > 0, 'image did not load'
    assert img.rect['width'] > 300 and img.rect['height'] > 200, f'the dendrogram is drawn tiny: {img.rect}'
    maths = browser.find_elements(By.CSS_SELECTOR, 'article math')
    assert maths and all(_shown(m) for m in maths), 'formulas are not rendered'


@needs_browser
def test_core_page_documents_logits_to_hierarchy(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(server + 'core.html#logits_to_hierarchy')
    # the anchor has the id Quarto would give the entry, so nbdev's links (core.html#logits_to_hierarchy) land here
    anchor = browser.find_element(By.ID, 'logits_to_hierarchy')
    heading = browser.execute_script(  # the first heading after the anchor, wherever the sections split
        'return [...document.querySelectorAll("article h1, article h2, article h3, article h4")]'
        '.find(h => arguments[0].compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING)', anchor)
    entry = browser.execute_script('return arguments[0].closest("section")', heading)
    assert heading.text.strip().rstrip('#').strip() == 'logits_to_hierarchy' and _shown(heading)
    top = lambda d: d.execute_script('return arguments[0].getBoundingClientRect().top', heading)
    # the theme scrolls smoothly to the anchor: wait for it to arrive
    WebDriverWait(browser, 15).until(lambda d: 0 <= top(d) < 300, f'the link does not land on the entry ({top(browser)}px)')
    signature = entry.find_element(By.CSS_SELECTOR, 'pre')
    assert signature.text.startswith('def logits_to_hierarchy(') and _shown(signature)
    doc = entry.find_element(By.CSS_SELECTOR, 'p em')
    assert 'hierarchy' in doc.text and _shown(doc)
    source = browser.execute_script(  # show_doc puts it between the anchor and the heading, as Quarto shows it
        'return [...document.querySelectorAll("a.l2h-source")].filter(a => '
        'arguments[0].compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING && '
        'a.compareDocumentPosition(arguments[1]) & Node.DOCUMENT_POSITION_FOLLOWING)[0]', anchor, heading)
    assert source is not None and _shown(source), 'the entry has no visible source link'
    assert re.search(r'/l2h/core\.py#L\d+$', source.get_attribute('href')), source.get_attribute('href')
    print('screenshot:', _screenshot(browser, 'docs-core', full_page=False))


@needs_browser
def test_every_page_opens_with_what_it_is_for(server, browser):
    from selenium.webdriver.common.by import By
    for nb, page in _notebooks():
        browser.get(server + f'{page}.html')
        h1 = browser.find_element(By.CSS_SELECTOR, 'article h1')
        lead = browser.execute_script(
            'let e = arguments[0].nextElementSibling; while (e && e.tagName !== "P") e = e.nextElementSibling; return e', h1)
        assert lead is not None and _shown(lead), f'{page}.html has no opening paragraph'
        want = _purpose(nb)
        assert want, f'{nb.name} has no `> one sentence` under its title saying what it is for'
        assert _plain(lead.text) == want, (f'{page}.html opens with "{lead.text}", not all of {nb.name}\'s "> ..." line '
                                           "(nbdev keeps only the first line of it: write it on one line)")


@needs_browser
def test_hidden_cells_stay_hidden_and_unevaluated_cells_are_shown(server, browser):
    from nbdev.process import NBProcessor
    for nb, page in _notebooks():
        browser.get(server + f'{page}.html')
        shown = browser.execute_script(
            'return [...document.querySelectorAll("div.cell")].map(c => '
            '[c.querySelector(".cell_input pre")?.innerText ?? "", !!c.querySelector(".cell_output")])')
        shown = {re.sub(r'\s+', ' ', code).strip(): has_output for code, has_output in shown}
        for cell in NBProcessor(nb).nb.cells:
            if cell.cell_type != 'code': continue
            code = re.sub(r'\s+', ' ', '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|'))).strip()
            if 'hide' in cell.directives_:
                assert code not in shown, f'{page}.html shows a `#| hide` cell: {code[:80]}'
            elif cell.directives_.get('eval:', [''])[0] == 'false' and code and not {'export', 'exporti'} & cell.directives_.keys():
                assert code in shown, f'{page}.html lacks the `#| eval: false` cell: {code[:80]}'
                assert not shown[code], f'{page}.html shows an output for a cell that is not run: {code[:80]}'


@needs_browser
def test_every_internal_link_resolves(server, browser):
    "Every page reachable from the home page, and every link, image, style sheet and script on them, here."
    pages, todo, targets, ids = set(), [server + 'index.html'], {}, {}
    collect = ('return [[...document.querySelectorAll("a[href]")].map(a => a.href), '
               '[...document.querySelectorAll("img[src], script[src]")].map(e => e.src), '
               '[...document.querySelectorAll("link[href]")].map(e => e.href), '
               '[...document.querySelectorAll("[id], a[name]")].map(e => e.id || e.name)]')
    while todo:
        url = todo.pop()
        if url in pages: continue
        pages.add(url)
        assert len(pages) < 500, 'the crawl does not end'
        browser.get(url)
        links, assets, heads, found = browser.execute_script(collect)
        ids[url] = set(found)
        for link in links + assets + heads:
            if not link.startswith(server): continue
            targets.setdefault(link, url)
            target, _ = urldefrag(link)
            if target.endswith('.html') and target not in pages: todo.append(target)
    broken = []
    for link, on_page in sorted(targets.items()):
        target, fragment = urldefrag(link)
        try: status = urllib.request.urlopen(target, timeout=10).status
        except Exception as e: status = e
        if status != 200: broken.append(f'{link} (on {on_page}): {status}')
        elif fragment and target in ids and unquote(fragment) not in ids[target]:
            broken.append(f'{link} (on {on_page}): no element with id "{fragment}"')
    assert not broken, 'broken internal links:\n' + '\n'.join(broken)
    assert {server + f'{page}.html' for _, page in _notebooks()} <= pages, 'some notebook pages are not linked'


@needs_browser
def test_search_finds_the_api(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(server + 'search.html?q=logits_to_hierarchy')
    results = WebDriverWait(browser, 30).until(lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, 'ul.search li a')
                                                          if _shown(a)])
    assert any(urlsplit(a.get_attribute('href')).path.endswith('/core.html') for a in results), [a.text for a in results]


@needs_browser
def test_formulas_render_and_no_tex_shows(server, browser):
    "Prose shows formulas, never their TeX: no `$`, `\\arg` or `\\frac` outside code, and no formula left as TeX code."
    visible_text = ('const skip = "pre, code, script, style, .highlight";'
                    'const w = document.createTreeWalker(document.querySelector("article"), NodeFilter.SHOW_TEXT);'
                    'let out = [], n; while ((n = w.nextNode())) if (!n.parentElement.closest(skip)) out.push(n.data);'
                    'return out.join(" ")')
    bad = []
    for _, page in _notebooks():
        browser.get(server + f'{page}.html')
        text = browser.execute_script(visible_text)
        for tex in re.findall(r'\$|\\[a-zA-Z]+', text):
            bad.append(f'{page}.html shows {tex!r}: …{text[max(0, text.find(tex) - 60):text.find(tex) + 40]}…')
        bad += [f'{page}.html leaves a formula as TeX: {e.text[:80]}'
                for e in browser.find_elements('css selector', '.l2h-math-fallback')]
    assert not bad, '\n'.join(sorted(set(bad))[:20])


@needs_browser
def test_signatures_read_like_python(server, browser):
    "show_doc's signatures as Python writes them: annotations only where the code has them (no `device:NoneType=None`)."
    import ast
    bad = []
    for _, page in _notebooks():
        browser.get(server + f'{page}.html')
        for sig in browser.execute_script('return [...document.querySelectorAll("article pre")].map(p => p.innerText)'
                                          '.filter(t => /^(async def|def|class) /.test(t))'):
            code = re.sub(r'#.*', '', re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", sig))
            body = '\n' + ' ' * (8 if sig.startswith('class ') else 4) + 'pass'   # a class shows its __init__
            try: ast.parse(sig.rstrip() + (body if code.rstrip().endswith(':') else ''))
            except SyntaxError as e: bad.append(f'{page}.html: {sig.splitlines()[0]} does not parse: {e}')
            # PEP 8's spacing, as `inspect.signature` prints it: `seed=0`, `largest: bool = True`, `) -> int`
            if 'NoneType' in code or re.search(r'\w:\w|\w:[^=,\n]*\S=|\)->', code) or re.search(r'\).*:\s*#', sig):
                bad.append(f'{page}.html: {sig.splitlines()[0]} … not as Python writes it:\n{sig}')
    assert not bad, '\n'.join(bad[:10])


@needs_browser
def test_nothing_runs_off_the_page(server, browser):
    "Code wraps; what cells print keeps its columns and scrolls, as do wide tables: none is clipped or cut off."
    bad = []
    for _, page in _notebooks():
        browser.get(server + f'{page}.html')
        bad += [f'{page}.html: {what}' for what in browser.execute_script("""
            const page = document.querySelector("article").getBoundingClientRect(), out = [];
            for (const e of document.querySelectorAll("article pre, article table")) {
              const box = e.getBoundingClientRect(), what = e.tagName + " " + JSON.stringify(e.innerText.slice(0, 60));
              const wider = e.scrollWidth > e.clientWidth + 1;
              const scroller = [...document.querySelectorAll("article *")].find(a => (a === e || a.contains(e)) &&
                ["auto", "scroll"].includes(getComputedStyle(a).overflowX) && a.getBoundingClientRect().right <= page.right + 8);
              if (box.right > page.right + 1 && !scroller) out.push("runs past the page: " + what);
              if (wider && e.tagName === "PRE" && !e.closest(".cell_output")) out.push("code cut off, not wrapped: " + what);
              if (wider && !["auto", "scroll"].includes(getComputedStyle(e).overflowX)) out.push("clipped: " + what);
            }
            return out""")]
    assert not bad, '\n'.join(bad[:15])
