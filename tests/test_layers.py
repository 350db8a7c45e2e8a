"""The package's floors, as the design card draws them: every module imports only from its own floor or those below,
never in a cycle, and no module imports another's private names."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'l2h'
FLOORS = [{'io', 'kernels', 'newick', 'hierarchy', 'explorer', 'synsets'},  # the type, files, Newick, compiled loops, page, WordNet access
          {'core'},                                                          # the algorithm
          {'metrics', 'baselines', 'logits', 'flat', 'wordnet', 'demo', 'stability', 'distributed'},  # what is built on it
          {'cli', 'reproduce', '__init__'}]                                  # what a user runs or imports
FLOOR = {module: level for level, modules in enumerate(FLOORS) for module in modules}


def l2h_imports(path: Path) -> list[tuple[str, list[str]]]:
    "(module of l2h, names taken from it) for every import of l2h in the file at `path`, nested ones too."
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or '').split('.')[0] == 'l2h':
                module = (node.module or '').removeprefix('l2h').lstrip('.')
                if module: found.append((module.split('.')[0], [a.name for a in node.names]))
                else: found.extend((a.name, []) for a in node.names)  # from l2h import kernels
        elif isinstance(node, ast.Import):
            found.extend((a.name.split('.')[1], []) for a in node.names if a.name.startswith('l2h.'))
    return found


MODULES = sorted(p for p in PACKAGE.glob('*.py') if p.stem != '_modidx')


def test_every_module_has_a_floor():
    assert {p.stem for p in MODULES} == set(FLOOR), 'a module was added or removed: give it its floor here'


@pytest.mark.parametrize('path', MODULES, ids=[p.stem for p in MODULES])
def test_imports_go_downwards_and_take_no_private_names(path):
    for module, names in l2h_imports(path):
        assert module in FLOOR, f'{path.name} imports l2h.{module}, which has no floor'
        assert FLOOR[module] <= FLOOR[path.stem], \
            f'{path.name} (floor {FLOOR[path.stem]}) imports l2h.{module} (floor {FLOOR[module]})'
        private = [n for n in names if n.startswith('_')]
        assert not private, f'{path.name} imports private names of l2h.{module}: {private}'


def test_no_import_cycle():
    graph = {p.stem: {m for m, _ in l2h_imports(p)} - {p.stem} for p in MODULES}
    def reaches(a, goal, seen):
        return any(b == goal or (b not in seen and reaches(b, goal, seen | {b})) for b in graph.get(a, ()))
    cyclic = [m for m in graph if reaches(m, m, {m})]
    assert not cyclic, f'these modules import themselves through others: {cyclic}'


def test_a_hierarchy_has_its_methods_wherever_it_was_made():
    "Methods are declared in the class (editors see them), so a hierarchy from l2h.core alone converts and plots."
    import subprocess, sys
    code = ('from l2h.core import logits_to_hierarchy; h = logits_to_hierarchy([[2., 0., 1.], [0., 3., 1.], [0., 0., 1.]]); '
            'print(h.to_newick(), h.to_linkage().shape, callable(h.plot))')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ['(1,(2,0));', '(2,', '4)', 'True'], r.stderr
    from l2h.hierarchy import Hierarchy
    declared = {'to_linkage', 'to_newick', 'to_ete3', 'to_sklearn_children', 'cut', 'predict', 'clades', 'leaf_order',
                'preorder', 'save', 'load', 'from_linkage', 'plot'}
    assert declared <= set(vars(Hierarchy)), declared - set(vars(Hierarchy))
