"""The tree explorer (`Hierarchy.to_html`, `tree.html`) as a user meets it: opened from disk in headless Chromium.

Screenshots go to $L2H_SCREENSHOTS when set, else to pytest's temporary folder; the load times are printed (`-s`).
"""
import os, random, time, xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from browser import chromium, needs_browser
from l2h.explorer import explorer_html, node_majorities
from l2h.hierarchy import Hierarchy, from_linkage
from l2h.synsets import imagenet_class_names, imagenet_wnids
from l2h.wordnet import lca_matrix

PACKAGE = Path(__file__).resolve().parents[1] / 'l2h'


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp('chromium-profile')) as driver: yield driver


@pytest.fixture(scope='module')
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ['L2H_SCREENSHOTS']) if os.environ.get('L2H_SCREENSHOTS') else tmp_path_factory.mktemp('shots')
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def imagenet_tree() -> Hierarchy:
    "A 1000-class tree shaped like WordNet's (average linkage on the depth of the classes' WordNet ancestor)."
    depth = lca_matrix()
    Z = linkage(squareform(depth.max() - depth, checks=False), 'average')
    return from_linkage(Z, names=imagenet_class_names())


@pytest.fixture(scope='module')
def page_1000(tmp_path_factory) -> Path:
    h = imagenet_tree()
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 1000, 20000)
    labels = np.where(rng.random(20000) < 0.9, clusters, rng.integers(0, 1000, 20000))
    path = tmp_path_factory.mktemp('explorer') / 'tree.html'
    return h.to_html(path, labels=[h.names[l] for l in labels], clusters=clusters, wnids=imagenet_wnids(),
                     support=rng.random(999), reference=[n[0].upper() for n in h.names], title='ImageNet-1k')


def random_tree(K: int, seed: int = 0) -> Hierarchy:
    "A random binary tree over K clusters: each merge joins two of the nodes still on top, picked at random."
    rng, top, children = random.Random(seed), list(range(K)), []
    for t in range(K - 1):
        pair = []
        for _ in range(2):
            i = rng.randrange(len(top))
            top[i], top[-1] = top[-1], top[i]
            pair.append(top.pop())
        children.append(pair)
        top.append(K + t)
    return Hierarchy(children=children, n_clusters=K, names=[f'class {c:05d}' for c in range(K)])


def test_script_and_style_are_package_data():
    "explorer.js and .css are files of l2h/data, which setup.py's package_data ('data/*') puts in every build, as kernels.c."
    page = explorer_html(dict(K=2, children=[0, 1], names=['a', 'b']))
    for name in ('explorer.js', 'explorer.css'): assert (PACKAGE / 'data' / name).read_text(encoding='utf-8') in page
    setup = PACKAGE.parent / 'setup.py'
    if setup.exists(): assert "package_data={'l2h': ['data/*']}" in setup.read_text()


def test_node_majorities_agree_with_counting_each_node():
    rng = np.random.default_rng(1)
    h = random_tree(60)
    clusters, labels = rng.integers(0, 50, 3000), rng.integers(0, 7, 3000)  # clusters 50..59 have no samples
    majority, purity, names = node_majorities(h.children, clusters, labels)
    assert names == list(range(7))
    for v in range(2 * 60 - 1):
        mine = np.isin(clusters, h.members(v))
        if not mine.any(): assert majority[v] == -1 and purity[v] == 0; continue
        counts = np.bincount(labels[mine], minlength=7)
        assert majority[v] == counts.argmax() and purity[v] == pytest.approx(counts.max() / mine.sum())


def test_node_majorities_of_a_deep_tree_with_many_labels():
    "A caterpillar over 21,841 clusters, each its own label: the smaller counter is added into the larger, O(N log K)."
    K = 21841
    h = Hierarchy(children=np.c_[np.r_[0, K + np.arange(K - 2)], np.arange(1, K)], n_clusters=K)
    clusters = np.repeat(np.arange(K), 5)
    start = time.perf_counter()
    majority, purity, _ = node_majorities(h.children, clusters, clusters)
    assert time.perf_counter() - start < 20
    assert majority[K] == 0 and purity[K] == 0.5 and purity[-1] == pytest.approx(1 / K)


def open_page(driver, path: Path) -> tuple[float, int]:
    "Open `path` from disk; the seconds until the explorer says it is drawn, as Python saw them and as the page did."
    start = time.perf_counter()
    driver.get(path.as_uri())
    from selenium.webdriver.support.ui import WebDriverWait
    ready = WebDriverWait(driver, 60).until(lambda d: d.execute_script('return document.documentElement.dataset.ready'))
    return time.perf_counter() - start, int(ready)


def console_errors(driver) -> list[str]:
    return [e['message'] for e in driver.get_log('browser') if e['level'] == 'SEVERE']


def visible(driver) -> list[int]:
    return driver.execute_script('return window.l2hExplorer.visibleNodes()')


@needs_browser
def test_opens_from_disk_fast_and_without_errors(browser, page_1000, shots):
    seconds, page_ms = open_page(browser, page_1000)
    print(f'\nK=1000: ready {page_ms} ms after navigation (page clock); {seconds:.2f} s as Selenium saw it; '
          f'{page_1000.stat().st_size / 1e3:.0f} kB')
    assert console_errors(browser) == []
    assert page_ms < 2000, f'the explorer took {page_ms} ms to open at K=1000'
    assert 100 < len(visible(browser)) < 130, 'the tree opens on its ~60 largest clades'
    assert 'src=' not in page_1000.read_text().split('<script type="application/json"')[0], 'the page fetches nothing'
    browser.save_screenshot(str(shots / 'explorer-1000.png'))


@needs_browser
def test_search_jumps_to_the_husky_and_highlights_its_path(browser, page_1000, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    open_page(browser, page_1000)
    box = browser.find_element(By.ID, 'l2h-q')
    box.send_keys('siberian h')
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, '#l2h-suggest .option') if o.is_displayed()]
    assert options == ['Siberian husky'], options
    box.send_keys(Keys.ENTER)
    husky = imagenet_class_names().index('Siberian husky')
    label = browser.find_element(By.CSS_SELECTOR, f'text.label.hl[data-node="{husky}"]')
    assert label.text == 'Siberian husky' and label.is_displayed()
    rect = browser.find_element(By.ID, 'l2h-svg').rect
    at = label.rect  # on screen, large enough to read
    assert rect['x'] < at['x'] < rect['x'] + rect['width'] and rect['y'] < at['y'] < rect['y'] + rect['height'], at
    assert at['height'] >= 8, f'the husky is too small to read: {at}'
    parent = {int(c): 1000 + t for t, pair in enumerate(imagenet_tree().children) for c in pair}
    chain = [husky]
    while chain[-1] in parent: chain.append(parent[chain[-1]])
    highlighted = browser.find_elements(By.CSS_SELECTOR, 'circle.node.hl')
    assert sorted(int(c.get_attribute('data-node')) for c in highlighted) == sorted(chain), 'the path to the root'
    panel = browser.find_element(By.ID, 'l2h-panel').text
    assert 'Siberian husky' in panel and 'joined at step' in panel
    assert console_errors(browser) == []
    browser.save_screenshot(str(shots / 'explorer-search-husky.png'))


@needs_browser
def test_collapse_and_expand(browser, page_1000, shots):
    from selenium.webdriver.common.by import By
    open_page(browser, page_1000)
    dogs = imagenet_class_names().index('Siberian husky')
    parent = {int(c): 1000 + t for t, pair in enumerate(imagenet_tree().children) for c in pair}
    node = parent[parent[parent[dogs]]]  # a clade of a few breeds
    browser.execute_script('window.l2hExplorer.find(arguments[0])', dogs)  # zoomed in there, as a reader would be
    before = visible(browser)
    browser.find_element(By.CSS_SELECTOR, f'circle[data-node="{node}"]').click()
    after = visible(browser)
    assert node in after and len(after) < len(before) and dogs not in after
    closed = browser.find_element(By.CSS_SELECTOR, f'text.label.closed[data-node="{node}"]')
    assert closed.text.endswith(', …') and 'classes' in closed.text
    browser.save_screenshot(str(shots / 'explorer-collapsed.png'))
    browser.find_element(By.CSS_SELECTOR, f'circle[data-node="{node}"]').click()
    assert visible(browser) == before
    browser.find_element(By.ID, 'l2h-expand').click()
    assert len(visible(browser)) == 1999
    browser.find_element(By.ID, 'l2h-collapse').click()
    assert len(visible(browser)) == 119, 'back to the 60 largest clades'
    assert console_errors(browser) == []


@needs_browser
def test_radial_layout_colours_and_panel(browser, page_1000, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    open_page(browser, page_1000)
    browser.find_element(By.ID, 'l2h-expand').click()
    Select(browser.find_element(By.ID, 'l2h-layout')).select_by_value('radial')
    arcs = browser.execute_script('return [...document.querySelectorAll("path.edge")].filter(p => / A/.test('
                                  'p.getAttribute("d").replace("A", " A"))).length')
    assert arcs > 900, f'{arcs} edges drawn as arcs in the radial layout'
    zoom = lambda: browser.find_element(By.ID, 'l2h-view').get_attribute('transform')
    before = zoom()
    browser.execute_script('document.getElementById("l2h-svg").dispatchEvent(new WheelEvent("wheel", '
                           '{deltaY: -300, clientX: 400, clientY: 400, bubbles: true, cancelable: true}))')
    assert zoom() != before and float(zoom().split('scale(')[1].rstrip(')')) > float(before.split('scale(')[1].rstrip(')'))
    browser.execute_script('window.l2hExplorer.find("Siberian husky")')  # zoomed in: labels, turned along their radius
    assert 'rotate(' in browser.find_element(By.CSS_SELECTOR, 'text.label.hl').get_attribute('transform')
    Select(browser.find_element(By.ID, 'l2h-colour')).select_by_value('cut')
    fills = browser.execute_script('return [...document.querySelectorAll("circle.leaf")].map(c => c.style.fill)')
    assert len(set(fills)) == 8, 'a cut into 8 groups colours the leaves 8 ways'
    browser.save_screenshot(str(shots / 'explorer-radial-cut.png'))
    for colouring in ('reference', 'support'):
        Select(browser.find_element(By.ID, 'l2h-colour')).select_by_value(colouring)
        assert browser.execute_script('return [...document.querySelectorAll("circle.node")].some(c => c.style.fill)')
    root = browser.find_element(By.CSS_SELECTOR, 'circle[data-node="1998"]')
    browser.execute_script('arguments[0].dispatchEvent(new MouseEvent("click", {bubbles: true}))', root)
    panel = browser.find_element(By.ID, 'l2h-panel').text
    for shown in ('1,000 classes', 'samples', 'merge step', '998 of 999', 'support', 'majority label', 'purity',
                  'WordNet LCA', 'entity.n.01', 'agrees', 'yes: the same classes'):
        assert shown in panel, f'the panel lacks {shown!r}: {panel[:400]}'
    assert console_errors(browser) == []


@needs_browser
def test_export_svg(browser, page_1000, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    open_page(browser, page_1000)
    browser.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': str(tmp_path)})
    browser.execute_script('window.l2hExplorer.find("Siberian husky")')
    shown = [int(v) for v in visible(browser)]
    browser.find_element(By.ID, 'l2h-export').click()
    saved = WebDriverWait(browser, 20).until(lambda d: [p for p in tmp_path.glob('*.svg')])
    svg = ET.parse(saved[0]).getroot()
    assert svg.tag == '{http://www.w3.org/2000/svg}svg' and saved[0].name == 'ImageNet-1k.svg'
    labelled = [int(t.get('data-node')) for t in svg.iter('{http://www.w3.org/2000/svg}text')]
    circles = [int(c.get('data-node')) for c in svg.iter('{http://www.w3.org/2000/svg}circle')]
    assert circles == shown, 'the tree as it is open on screen'
    assert sorted(labelled) == sorted(v for v in shown if v < 1000 or not browser.execute_script(
        'return window.l2hExplorer.isOpen(arguments[0])', v)), 'every leaf and closed clade labelled'
    assert 'Siberian husky' in [t.text for t in svg.iter('{http://www.w3.org/2000/svg}text')]
    assert svg.find('{http://www.w3.org/2000/svg}style') is not None, 'the drawing keeps its style'


@needs_browser
def test_21841_classes_open_collapsed_and_stay_usable(browser, tmp_path, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    K = 21841
    h = random_tree(K)
    start = time.perf_counter()
    path = h.to_html(tmp_path / 'tree.html')
    written = time.perf_counter() - start
    seconds, page_ms = open_page(browser, path)
    print(f'\nK=21841: written in {written:.2f} s ({path.stat().st_size / 1e6:.1f} MB); ready {page_ms} ms after '
          f'navigation (page clock); {seconds:.2f} s as Selenium saw it')
    assert len(visible(browser)) == 119, 'the 60 largest clades'
    assert page_ms < 5000
    box = browser.find_element(By.ID, 'l2h-q')
    box.send_keys('class 12345')
    box.send_keys(Keys.ENTER)
    assert browser.find_element(By.CSS_SELECTOR, 'text.label.hl[data-node="12345"]').text == 'class 12345'
    assert len(visible(browser)) < 4000, 'finding one class opens only the way to it'
    assert console_errors(browser) == []
    browser.save_screenshot(str(shots / 'explorer-21841.png'))
    start = time.perf_counter()
    browser.find_element(By.ID, 'l2h-expand').click()
    assert len(visible(browser)) == 2 * K - 1
    print(f'K=21841: every node drawn ("expand all") in {time.perf_counter() - start:.2f} s')
    assert console_errors(browser) == []


@needs_browser
def test_demo_page(browser, tmp_path, shots):
    "The page `l2h demo` writes, coloured by the planted families; its screenshot is the README's (nbs/images/explorer.png)."
    from contextlib import redirect_stdout
    from io import StringIO
    from selenium.webdriver.common.by import By
    from l2h.cli import demo
    with redirect_stdout(StringIO()): demo(out=tmp_path / 'demo')
    browser.set_window_size(1100, 600)
    try:
        open_page(browser, tmp_path / 'demo' / 'tree.html')
        assert len(visible(browser)) == 2 * 27 - 1, 'a small tree opens whole'
        assert browser.find_element(By.ID, 'l2h-colour').get_attribute('value') == 'reference'
        browser.execute_script('window.l2hExplorer.find("Bc2")')
        browser.execute_script('document.getElementById("l2h-fit").click()')
        panel = browser.find_element(By.ID, 'l2h-panel').text
        assert 'Bc2' in panel and 'planted family 1' in panel and 'purity' in panel
        assert console_errors(browser) == []
        browser.save_screenshot(str(shots / 'explorer.png'))
    finally: browser.set_window_size(1280, 1000)


@needs_browser
def test_inline_in_a_notebook(browser, tmp_path):
    "What Jupyter shows for a hierarchy (`_repr_html_`): the explorer in a sandboxed frame, working as on its own."
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    h = random_tree(300)
    notebook = tmp_path / 'notebook.html'
    notebook.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>Out[1]:</p>{h._repr_html_()}'
                        f'</body></html>', encoding='utf-8')
    browser.get(notebook.as_uri())
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, 'iframe'))
    try:
        WebDriverWait(browser, 30).until(lambda d: d.execute_script('return document.documentElement.dataset.ready'))
        browser.execute_script('window.l2hExplorer.find("class 00042")')
        assert browser.find_element(By.CSS_SELECTOR, 'text.label.hl').text == 'class 00042'
    finally: browser.switch_to.default_content()
    assert console_errors(browser) == []
