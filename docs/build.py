"""Builds the l2h documentation site into `_docs/`, offline, from nbdev's processed notebooks.

    python docs/build.py            # re-executes only the notebooks (or l2h code) changed since the last build
    python docs/build.py --force    # re-executes every notebook

nbdev's own path, `nbdev_docs`, renders `_proc/` with Quarto. Quarto cannot be installed without downloading its binary,
so this script makes the same `_proc/` notebooks with nbdev's own processors (front matter, `show_doc` cells for every
export, hidden and exported cells removed, doc links) and renders them with Sphinx + myst-nb:

1. process: nbdev's `FilterDefaults` processors, with one change. nbdev only runs the cells its `show_doc` output
   needs, because Quarto shows the outputs saved in the notebook; ours are saved without outputs, so every cell runs
   here, as `nbdev_test` runs it (`#| eval: false` and test-flagged cells are shown, not run). Written to `_proc/`,
   where a later `nbdev_docs` picks them up, figures included.
2. translate: what Quarto reads from a processed notebook (front matter, `#| echo: false`, `#| output: asis`, pandoc
   link attributes, absolute doc links) becomes what myst-nb reads (a title cell, cell tags, markdown cells, HTML
   anchors with Quarto's ids, relative links), in a scratch folder.
3. render: Sphinx with `docs/conf.py` writes `_docs/`; pages keep nbdev's names (`core.html`, ...), so the links
   that nbdev puts in docstrings and prose (`core.html#logits_to_hierarchy`) resolve on this site too.
"""
from __future__ import annotations

import argparse, json, multiprocessing, os, re, shutil, tempfile, time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RUN_MARK = 'l2h_docs_all_cells_run'    # notebook metadata: set on the `_proc/` copies this script ran in full


# ---------------------------------------------------------------- 1. process (runs in a fresh process per notebook)

def _skipped(cell, skip_flags) -> bool:
    "The cells `nbdev_test` leaves out: `eval: false`, a test flag from settings.ini, or an `nbdev_export()` call."
    if cell.cell_type != 'code' or not cell.source: return True
    if 'nbdev_export' + '(' in cell.source: return True
    directives = getattr(cell, 'directives_', {}) or {}
    if directives.get('eval:', [''])[0].lower() == 'false': return True
    return bool(set(skip_flags) & directives.keys())


def _python_signatures():
    """show_doc's signatures as Python prints them, annotations as the source writes them: fastcore's `DocmentText`
    gives a parameter without one the type of its default (`device:NoneType=None`) and drops PEP 8's spaces."""
    import inspect
    from fastcore import docments
    empty = inspect.Parameter.empty

    def written(obj):
        try: return inspect.signature(obj)    # not evaluated: under `from __future__ import annotations`, the source's text
        except (TypeError, ValueError): return None

    def fmt(annotation): return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    def param(self, name, p):
        sig = written(self.obj)
        annotation = sig.parameters[name].annotation if sig and name in sig.parameters else empty
        stars = {inspect.Parameter.VAR_POSITIONAL: '*', inspect.Parameter.VAR_KEYWORD: '**'}.get(p.get('kind'), '')
        default = p.get('default', empty)
        kinds = [q.kind for q in sig.parameters.values()] if sig else []
        if (p.get('kind') == inspect.Parameter.KEYWORD_ONLY and inspect.Parameter.VAR_POSITIONAL not in kinds
                and next(n for n, q in sig.parameters.items() if q.kind == q.KEYWORD_ONLY) == name): stars = '*, '
        text = stars + name + (f': {fmt(annotation)}' if annotation is not empty else '')
        if default is not empty: text += (' = ' if annotation is not empty else '=') + docments._fmt_default(default)
        return text

    def returns(self):
        sig, doc = written(self.obj), self.dm.get('return', {}).get('docment')
        arrow = f' -> {fmt(sig.return_annotation)}' if sig and sig.return_annotation is not empty else ''
        return f'){arrow}:' + (f' # {doc}' if doc else '')

    def text(self, plain=docments.DocmentText.__str__):
        "A class as Python defines it: its `__init__`, not a `def` named as the class."
        s = plain(self)
        if not inspect.isclass(self.obj): return s
        params = s.partition('(')[2]     # `):` or the parameters, one line or more, then `):`
        init = 'def __init__(self):' if params == '):' else 'def __init__(\n    self, ' + params.lstrip('\n ')
        return f'class {self.obj.__name__}:\n    ' + init.replace('\n', '\n    ')

    def read(self, obj):
        "Docments of `*args` and `**kwargs` too: left out, fastcore gives their comment to the return value."
        self.obj, self.dm = obj, docments.docments(obj, full=True, args_kwargs=True)
        self.dm.pop('self', None)

    docments._DocmentBase.__init__ = read
    docments.DocmentText._fmt_param, docments.DocmentText._ret_str = param, property(returns)
    docments.DocmentText.__str__ = docments.DocmentText.__repr__ = text


def _process_one(job: tuple[str, str]) -> tuple[str, float, str | None]:
    "Process `src` as `nbdev_proc_nbs` does, running all its cells, into `dest`; returns its name, seconds and error."
    src, dest = map(Path, job)
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.basics import str2bool
    from nbdev.config import get_config
    from nbdev.processors import FilterDefaults, Processor, exec_show_docs, _do_eval

    skip_flags = get_config().get('tst_flags', '').split()
    _python_signatures()

    class run_cells(Processor):
        "Stands where nbdev's `exec_show_docs` stands, after the `show_doc` cells are added, and runs every cell."
        def begin(self):
            self.k = CaptureShell(src)
            self.k.run_cell('from nbdev.showdoc import show_doc')
            # a notebook marked `skip_exec` keeps nbdev's behaviour: only what its API docs need is run
            self.only_docs = str2bool(getattr(self.nb, 'frontmatter_', {}).get('skip_exec', False))
            self.failed = None

        def __call__(self, cell):
            if self.failed: return       # as nbdev_test: cells after an error are left unrun
            run = _do_eval(cell) if self.only_docs else not _skipped(cell, skip_flags)
            if not run: return
            self.k.cell(cell)            # the error, if any, stays in the cell's outputs and so on the page
            if self.k.exc:
                self.failed = f'{src.name}, cell {cell.idx_}:\n{cell.source}\n\n' + self.k.prettytb(fname=src)

    class Procs(FilterDefaults):
        def base_procs(self): return [run_cells if p is exec_show_docs else p for p in super().base_procs()]

    # nbdev's added show_doc cells have no id; nbformat warns of it at every write, as under nbdev_proc_nbs
    import warnings
    warnings.filterwarnings('ignore', message='Cell is missing an id field')
    start = time.time()
    os.environ['IN_TEST'] = '1'          # as nbdev_test and nbdev_proc_nbs set it
    os.chdir(src.parent)                 # notebooks read their files relative to themselves
    nb = read_nb(src)
    procs = Procs()
    proc = procs.nb_proc(nb)
    proc.process()
    failed = next((p.failed for p in proc.procs if isinstance(p, run_cells)), None)
    nb.metadata[RUN_MARK] = True
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)
    if failed: os.utime(dest, (0, 0))   # so the next build runs it again
    return src.name, time.time() - start, failed


def _fresh(src: Path, dest: Path, newest_code: float) -> bool:
    "`dest` was made by this script (not by `nbdev_proc_nbs`, which runs too little) after `src` and the code changed."
    if not dest.exists() or dest.stat().st_mtime < max(src.stat().st_mtime, newest_code): return False
    try: return bool(json.loads(dest.read_text(encoding='utf-8')).get('metadata', {}).get(RUN_MARK))
    except ValueError: return False


def notebooks(nbs_path: Path) -> list[Path]:
    "Every notebook nbdev would document: found as `nbdev_export` finds them, so a new one needs no registration."
    from nbdev.doclinks import nbglob
    return sorted(nbglob(nbs_path, as_path=True))


def _in_fresh_process(job):
    """`_process_one(job)` in a new interpreter of its own, so no notebook sees another's state (and IPython's takeover
    of `__main__` in one cannot break the next job's unpickling). `ProcessPoolExecutor(max_tasks_per_child=1)` would do
    the same, but only from Python 3.11 on."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:
        return pool.submit(_process_one, job).result()


def process(nbs_path: Path, proc_path: Path, force: bool = False, workers: int = 2) -> tuple[list[Path], list[str]]:
    "Write `_proc/` for every notebook, re-running one only when it, l2h's code or the settings are newer than its copy."
    nbs = notebooks(nbs_path)
    # this script is left out of the key, so editing how pages look does not re-run every notebook: --force does
    newest_code = max(p.stat().st_mtime for p in [*(ROOT / 'l2h').rglob('*.py'), ROOT / 'settings.ini'])
    jobs = []
    for nb in nbs:
        dest = proc_path / nb.relative_to(nbs_path)
        if force or not _fresh(nb, dest, newest_code):
            jobs.append((str(nb), str(dest)))
    print(f'docs: {len(nbs)} notebooks, {len(jobs)} to run')
    failures = []
    if jobs:
        with ThreadPoolExecutor(max(1, min(workers, len(jobs)))) as pool:
            for name, secs, error in pool.map(_in_fresh_process, jobs):
                print(f'docs: ran {name} in {secs:.0f}s' + (' -- FAILED' if error else ''))
                if error: failures.append(error)
    return [proc_path / nb.relative_to(nbs_path) for nb in nbs], failures


# ---------------------------------------------------------------- 2. translate Quarto's reading into myst-nb's

_directive = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_quarto_link = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}')
_attr = re.compile(r'([\w-]+)="([^"]*)"')
_nb_link = re.compile(r'\]\(((?:\.\./)*)([\w./-]+?)\.ipynb(#[^)\s]*)?\)')
_heading = re.compile(r'^(#{1,6})\s+(.+?)\s*#*\s*$', re.MULTILINE)


def quarto_id(text: str) -> str:
    "The id pandoc (so Quarto, so nbdev's doc links) gives a heading: `Hierarchy.cut` -> `hierarchy.cut`."
    text = re.sub(r'<[^>]+>|`', '', text).strip().lower()
    text = re.sub(r'[^\w\s.-]', '', text)
    return re.sub(r'^[^a-z]+', '', re.sub(r'\s+', '-', text))


def _split_options(source: str) -> tuple[dict, str]:
    "Quarto's `#| key: value` lines at the top of a processed code cell, and the code under them."
    options, lines = {}, source.splitlines()
    while lines and (m := _directive.match(lines[0])):
        options[m[1]] = m[2].strip('"\''); lines.pop(0)
    return options, '\n'.join(lines)


def _front_matter(cell) -> dict | None:
    "nbdev's front matter (a raw `---` YAML cell it puts first), or None."
    import yaml
    src = ''.join(cell['source']).strip()
    if cell['cell_type'] != 'raw' or not src.startswith('---'): return None
    return yaml.safe_load(src.strip('-')) or {}


def _source_line(text: str, name: str) -> str:
    "show_doc's source link with the line of `name`'s definition, which nbdev 2.4.14 leaves as `#LNone`."
    import ast
    m = re.search(r'/blob/[^/\s]+/([^#\s)]+\.py)#LNone', text)
    path = ROOT / m[1] if m else None
    if not path or not path.is_file(): return text.replace('#LNone', '')
    lines = {}
    for node in ast.parse(path.read_text(encoding='utf-8')).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            lines[node.name] = node.lineno
            if isinstance(node, ast.ClassDef):
                lines.update({f'{node.name}.{n.name}': n.lineno for n in node.body
                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))})
    name = name.strip('`')
    line = lines.get(name) or lines.get(name.rsplit('.', 1)[-1])    # fastcore's @patch defines methods at top level
    return text.replace('#LNone', f'#L{line}' if line else '')


def _ends_with_heading(text: str) -> bool:
    lines = text.strip().splitlines()
    return bool(lines) and lines[-1].startswith('#')


def _md(text: str) -> dict: return {'cell_type': 'markdown', 'metadata': {}, 'source': text}


class Translator:
    "Turns one processed notebook into the notebook myst-nb renders the same way Quarto would."

    def __init__(self, doc_root_url: str):
        self.doc_root_url = doc_root_url.rstrip('/') + '/'

    @staticmethod
    def page_of(notebook: str) -> str:
        "The page nbdev names for a notebook path (`api/00_core` -> `api/core`)."
        p = Path(notebook)
        return (p.parent / re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.name.lower())).as_posix()

    def links(self, text: str, page: str) -> str:
        "Pandoc link attributes become HTML; links into this site (nbdev writes them absolute) become relative."
        def html_link(m):
            attrs = dict(_attr.findall(m[3]))
            target = f' target="{attrs["target"]}" rel="noopener"' if 'target' in attrs else ''
            return f'<a class="l2h-{quarto_id(m[1]) or "link"}" href="{m[2]}"{target}>{m[1]}</a>'
        text = _quarto_link.sub(html_link, text)
        up = '../' * page.count('/')
        text = text.replace(f']({self.doc_root_url}', f']({up}').replace(f'href="{self.doc_root_url}', f'href="{up}')
        # a link to a sibling notebook (`02_metrics.ipynb#...`) goes to its page, as Quarto rewrites it
        return _nb_link.sub(lambda m: f']({m[1]}{self.page_of(m[2])}.html{m[3] or ""})', text)

    def asis(self, text: str, page: str) -> str:
        "Markdown that Quarto would paste into the page; its headings get Quarto's ids, which nbdev's links use."
        headings = _heading.findall(text)
        if headings: text = _source_line(text, headings[0][1])
        text = self.links(text, page)
        anchor = lambda title: f'<div id="{quarto_id(title)}" class="l2h-anchor"></div>\n\n'
        if len(headings) == 1 and not text.lstrip().startswith('#'):
            # one show_doc entry (rule, source link, heading): its anchor goes on top, so a link shows all of it
            return anchor(headings[0][1]) + text
        return _heading.sub(lambda m: anchor(m[2]) + m[0], text)

    def notebook(self, nb: dict, page: str) -> dict:
        cells = []
        for cell in nb['cells']:
            source = ''.join(cell.get('source', ''))
            fm = _front_matter(cell) if not cells else None
            if fm is not None:
                # Quarto prints front matter as the title and a lead paragraph: the page's "what this is for"
                title = fm.get('title') or Path(page).stem
                lead = fm.get('description', '')
                cells.append(_md(f'# {title}\n\n{lead}'.strip()))
                continue
            if cell['cell_type'] == 'markdown':
                cells.append(_md(self.links(source, page)))
                continue
            if cell['cell_type'] != 'code':
                continue
            options, code = _split_options(source)
            tags = []
            if options.get('include') == 'false': continue
            if options.get('echo') == 'false': tags.append('remove-input')
            if options.get('output') == 'false': tags.append('remove-output')
            if options.get('code-fold') == 'true': tags.append('hide-input')
            outputs = cell.get('outputs', [])
            if options.get('output') == 'asis':
                # Quarto pastes an "asis" output into the page as markdown: show_doc's entries are made of these
                if 'remove-input' not in tags and code.strip():
                    cells.append({'cell_type': 'code', 'metadata': {}, 'source': code, 'outputs': [],
                                  'execution_count': None})
                for out in outputs:
                    data = out.get('data', {})
                    if 'text/markdown' not in data: continue
                    text = self.asis(''.join(data['text/markdown']), page)
                    if cells and cells[-1]['cell_type'] == 'markdown' and _ends_with_heading(cells[-1]['source']):
                        # show_doc opens with a rule to separate entries; straight under a heading it separates nothing
                        text = re.sub(r'^\s*---\s*\n', '', text)
                    cells.append(_md(text))
                continue
            for out in outputs:
                data = out.get('data', {})
                if 'text/markdown' in data: data['text/markdown'] = self.links(''.join(data['text/markdown']), page)
            meta = {k: v for k, v in cell.get('metadata', {}).items() if k not in ('tags',)}
            if tags: meta['tags'] = tags
            cells.append({'cell_type': 'code', 'metadata': meta, 'source': code, 'outputs': outputs,
                          'execution_count': cell.get('execution_count')})
        for i, cell in enumerate(cells): cell['id'] = f'cell-{i}'    # nbformat 4.5 wants ids; ours are stable
        return {**nb, 'cells': cells, 'nbformat': 4, 'nbformat_minor': 5}


def page_name(proc_nb: Path, proc_path: Path) -> str:
    "The page Quarto writes for a notebook: nbdev's `output-file`, else its name without the number (`00_core` -> `core`)."
    rel = proc_nb.relative_to(proc_path)
    nb = json.loads(proc_nb.read_text(encoding='utf-8'))
    fm = _front_matter(nb['cells'][0]) if nb['cells'] else None
    out = (fm or {}).get('output-file') or re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())
    return (rel.parent / Path(out).stem).as_posix()


def stage(proc_nbs: list[Path], proc_path: Path, nbs_path: Path, src: Path, doc_root_url: str) -> list[str]:
    "Write the Sphinx source folder: translated notebooks, the files notebooks refer to, and the nav on the home page."
    # pictures and data next to the notebooks, as nbdev_proc_nbs copies them (nbdev's own output folders left out)
    for f in nbs_path.rglob('*'):
        rel = f.relative_to(nbs_path)
        if f.is_file() and f.suffix != '.ipynb' and not any(p.startswith('.') or p in ('_proc', '_docs', '_site') for p in rel.parts):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, src / rel)
    translator, pages = Translator(doc_root_url), []
    for proc_nb in proc_nbs:
        page = page_name(proc_nb, proc_path)
        nb = translator.notebook(json.loads(proc_nb.read_text(encoding='utf-8')), page)
        (src / page).parent.mkdir(parents=True, exist_ok=True)
        (src / f'{page}.ipynb').write_text(json.dumps(nb, indent=1), encoding='utf-8')
        pages.append(page)
    if 'index' not in pages: raise SystemExit(f'docs: no index notebook in {nbs_path} for the home page')
    # the sidebar: every page, in the notebooks' own order (00_core, 01_hierarchy, ...), generated, never listed by hand
    nav = [p for p in pages if p != 'index'] + sorted(
        (f.relative_to(src).with_suffix('').as_posix() for f in src.rglob('*.md')), key=str)
    index = json.loads((src / 'index.ipynb').read_text(encoding='utf-8'))
    index['cells'].append({**_md('```{toctree}\n:hidden:\n:maxdepth: 1\n\n' + '\n'.join(nav) + '\n```'), 'id': 'site-nav'})
    (src / 'index.ipynb').write_text(json.dumps(index, indent=1), encoding='utf-8')
    return pages


# ---------------------------------------------------------------- 3. render

def build(force: bool = False, workers: int = 2, out: Path | None = None) -> Path:
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    out = Path(out or cfg.doc_path)
    proc_nbs, failures = process(cfg.nbs_path, cfg.config_path / '_proc', force=force, workers=workers)
    try: from sphinx.cmd.build import build_main
    except ImportError: raise SystemExit('docs: Sphinx is missing: pip install -e ".[dev]" installs it with myst-nb and furo')
    with tempfile.TemporaryDirectory(prefix='l2h-docs-') as tmp:
        src = Path(tmp) / 'src'
        src.mkdir()
        stage(proc_nbs, cfg.config_path / '_proc', cfg.nbs_path, src, cfg.doc_host + cfg.doc_baseurl)
        fresh = Path(tmp) / 'html'
        # warnings are printed, not fatal: a new notebook must not break the site (tests/test_docs.py checks the links)
        rc = build_main(['-b', 'html', '-q', '-j', '1', '-c', str(DOCS), '-d', str(Path(tmp) / 'doctrees'), str(src), str(fresh)])
        if rc: raise SystemExit(f'docs: sphinx-build failed ({rc})')
        # replaced whole, so pages of a deleted notebook do not linger
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(fresh, out)
    if failures:
        # the site is still written, each error shown where it happened, but a broken notebook fails the build
        raise SystemExit(f'docs: {out} written, but {len(failures)} notebook(s) failed:\n\n' + '\n\n'.join(failures))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--force', action='store_true', help='re-execute every notebook, even those unchanged since the last build')
    p.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1), help='notebooks executed at once')
    args = p.parse_args(argv)
    start = time.time()
    out = build(force=args.force, workers=args.workers)
    print(f'docs: {out / "index.html"} in {time.time() - start:.0f}s')


if __name__ == '__main__':
    main()
