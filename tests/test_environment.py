"""The installed environment against settings.ini: every runtime requirement imports on this Python, and no test module
skips silently because an import failed.

A requirement that cannot be imported fails here, named, instead of making the test modules that use it skip — as
ete3 did on Python 3.13, where the `cgi` module it imports was removed (settings.ini adds legacy-cgi there).
"""
import ast, importlib, sys
from configparser import ConfigParser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def requirements(key='requirements'):
    "The requirements under `key` in settings.ini, split on whitespace as setup.py splits them."
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    reqs = []
    for word in cfg['DEFAULT'][key].split():
        try: reqs.append(Requirement(word))
        except InvalidRequirement as e:
            raise ValueError(f'settings.ini {key}: {word!r} is not a requirement; requirements are separated by whitespace, '
                             f'so write an environment marker without spaces: legacy-cgi;python_version>="3.13"') from e
    return reqs


def import_names(dist: metadata.Distribution) -> list[str]:
    "The module a distribution is imported as: the one named like it, else every public top-level module it installs."
    own = canonicalize_name(dist.metadata['Name']).replace('-', '_')
    tops = {(f.parts[0] if len(f.parts) > 1 else f.stem) for f in dist.files or () if f.suffix == '.py'}
    tops |= set((dist.read_text('top_level.txt') or '').split())
    tops = {m for m in tops if m.isidentifier() and not m.startswith('_')}
    return [own] if own in tops or not tops else sorted(tops)


def _param(req):
    applies = req.marker is None or req.marker.evaluate()
    why = f'not required on Python {sys.version.split()[0]}: {req}'
    return pytest.param(req, id=req.name, marks=() if applies else pytest.mark.skip(reason=why))


@pytest.mark.parametrize('req', [_param(r) for r in requirements()])
def test_runtime_requirement_imports(req):
    try: dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f'{req} (settings.ini requirements) is not installed: pip install -e .', pytrace=False)
    assert req.specifier.contains(dist.version, prereleases=True), f'{req.name} {dist.version} does not satisfy {req}'
    names = import_names(dist)
    assert names, f'{req.name} {dist.version} is installed but provides no module to import'
    for name in names:
        try: importlib.import_module(name)
        except Exception as e:
            pytest.fail(f'{req.name} {dist.version} is installed but `import {name}` fails on Python '
                        f'{sys.version.split()[0]}: {type(e).__name__}: {e}', pytrace=False)


def _importorskips(path: Path):
    "(line, module, reason) of every `pytest.importorskip` call in a test file."
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', getattr(node.func, 'id', None)) == 'importorskip':
            module = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            reason = next((k.value for k in node.keywords if k.arg == 'reason'), None)
            yield node.lineno, module, reason


def test_no_test_module_skips_silently_on_an_import():
    "A runtime requirement is imported, never import-skipped; an optional test dependency skips with a reason."
    runtime = {name.split('.')[0] for r in requirements() if r.marker is None or r.marker.evaluate()
               for name in import_names(metadata.distribution(r.name))}
    runtime |= {canonicalize_name(r.name).replace('-', '_') for r in requirements()}
    bad = []
    for path in sorted((ROOT / 'tests').rglob('*.py')):
        for line, module, reason in _importorskips(path):
            where = f'{path.relative_to(ROOT)}:{line}'
            if module is None or module.split('.')[0] in runtime:
                bad.append(f'{where}: importorskip({module!r}) of a runtime requirement: import it')
            elif reason is None:
                bad.append(f'{where}: importorskip({module!r}) without reason= saying how to install it')
    assert not bad, '\n'.join(bad)
