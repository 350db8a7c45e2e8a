"""Sphinx settings for the l2h site that `python docs/build.py` builds (see its docstring for the whole path)."""
import re
from configparser import ConfigParser
from pathlib import Path

from docutils import nodes

_ini = ConfigParser(delimiters=['='])
_ini.read(Path(__file__).resolve().parents[1] / 'settings.ini', encoding='utf-8')
_cfg = _ini['DEFAULT']

project = _cfg['title']
author = _cfg['author']
copyright = _cfg['copyright']
release = version = _cfg['version']
html_title = f"{_cfg['title']} {version}"
html_baseurl = _cfg['doc_host'] + _cfg['doc_baseurl'] + '/'

extensions = ['myst_nb', 'sphinx.ext.githubpages']
exclude_patterns = ['**/.ipynb_checkpoints', '_proc', '_docs']

# The notebooks arrive executed and processed by nbdev (docs/build.py): render, never run.
nb_execution_mode = 'off'
nb_merge_streams = True
myst_enable_extensions = ['dollarmath']
# `$$…$$` inside a paragraph is display math, as pandoc (so Quarto, nbdev's renderer) reads it; MyST's default reads
# its first `$` as the start of inline math and runs the prose after it together in italics.
myst_dmath_double_inline = True
myst_heading_anchors = 3
# docs/build.py has already made nbdev's links relative to this site; MyST must not try to resolve them as references.
myst_all_links_external = True

html_theme = 'furo'
html_static_path = ['_static']
html_css_files = ['l2h.css']
html_js_files = ['l2h.js']
html_show_sourcelink = False
html_copy_source = False
# No "edit this page" button: pages are named as nbdev names them (core.html), not as their notebooks (00_core.ipynb),
# so the theme's link to the source would point at a file that does not exist.
html_theme_options = {'navigation_with_keys': True, 'top_of_page_buttons': []}
pygments_style = 'friendly'
pygments_dark_style = 'monokai'

# Math as MathML, written at build time: the site then needs no MathJax from a CDN, so it reads the same offline.
html_math_renderer = 'mathml'


# TeX that latex2mathml does not know, written in TeX it does: it would show `\arg` as is, and `\operatorname{softmax}`
# as an empty operator before italic letters.
_TEX = [(re.compile(r'\\operatorname\*?\{([^{}]*)\}'), r'\\mathrm{\1}\\,'),
        (re.compile(r'\\(arg|deg|det|dim|hom|ker|lg)(?![a-zA-Z])'), r'\\mathrm{\1}\\,')]


def _mathml(latex: str, display: str) -> str:
    from latex2mathml.converter import convert
    for pattern, plain in _TEX: latex = pattern.sub(plain, latex)
    try: return convert(latex, display=display)
    except Exception: return f'<code class="l2h-math-fallback">{latex}</code>'   # shown as TeX rather than lost


def _visit_inline(self, node):
    self.body.append(_mathml(node.astext(), 'inline'))
    raise nodes.SkipNode


def _visit_block(self, node):
    self.body.append(f'<div class="math">{_mathml(node.astext(), "block")}</div>')
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer('mathml', (_visit_inline, None), (_visit_block, None))
