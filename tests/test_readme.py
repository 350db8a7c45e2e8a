"""README.md is nbs/index.ipynb rendered as Markdown: this test checks they agree, and running this file rewrites it.

    python tests/test_readme.py     # after editing nbs/index.ipynb
"""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render_readme(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    "Markdown cells as they are (pictures found from the root), code cells as fenced Python without `#|` lines; `#| hide` cells out."
    parts = []
    for cell in json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']:
        lines = ''.join(cell['source']).splitlines()
        if cell['cell_type'] == 'markdown':
            # a picture the notebook shows from nbs/ (where the docs copy it) is shown to the README from the root
            parts.append(re.sub(r'(!\[[^\]]*\]\()(?![a-z]+:|/|#)', r'\1nbs/', '\n'.join(lines).strip()))
        elif cell['cell_type'] == 'code':
            directives = [l for l in lines if l.startswith('#|')]
            if any(d.replace(' ', '') in ('#|hide', '#|default_exp') or d.startswith('#| default_exp') for d in directives):
                continue
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            if code: parts.append(f'```python\n{code}\n```')
    return '\n\n'.join(parts) + '\n'


def test_readme_is_the_rendered_index_notebook():
    assert (ROOT / 'README.md').read_text(encoding='utf-8') == render_readme(), \
        'README.md is out of date: run `python tests/test_readme.py`'


def test_readme_opens_with_the_two_commands():
    blocks = (ROOT / 'README.md').read_text(encoding='utf-8').split('```sh\n')[1:3]
    commands = [b.split('\n```')[0].strip() for b in blocks]
    assert commands[0].endswith('pip install -e . && l2h demo')
    assert commands[1].endswith('pip install -e ".[dev]" && nbdev_test && pytest tests')


if __name__ == '__main__':
    (ROOT / 'README.md').write_text(render_readme(), encoding='utf-8')
