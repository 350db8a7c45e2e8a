// The l2h tree explorer: draws the tree in l2h-data as plain SVG; no library, nothing fetched.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('l2h-data').textContent);
  const K = D.K, N = 2 * K - 1, ROOT = N - 1, SVGNS = 'http://www.w3.org/2000/svg';
  const $ = id => document.getElementById(id);
  const kids = v => v < K ? null : [D.children[2 * (v - K)], D.children[2 * (v - K) + 1]];

  // Per node: parent, depth (edges from the root), classes under it, samples under it, reference group (-1: mixed).
  const parent = new Int32Array(N).fill(-1), depth = new Int32Array(N), size = new Int32Array(N);
  const samples = D.counts ? new Float64Array(N) : null, group = D.reference ? new Int32Array(N) : null;
  for (let c = 0; c < K; c++) {
    size[c] = 1;
    if (samples) samples[c] = D.counts[c];
    if (group) group[c] = D.reference[c];
  }
  for (let v = K; v < N; v++) {
    const [a, b] = kids(v);
    parent[a] = parent[b] = v;
    size[v] = size[a] + size[b];
    if (samples) samples[v] = samples[a] + samples[b];
    if (group) group[v] = group[a] === group[b] ? group[a] : -1;
  }
  for (let v = N - 2; v >= 0; v--) depth[v] = depth[parent[v]] + 1;  // parents have larger ids

  // Which internal nodes are open at first: all of a tree of up to 150 classes; of a larger one the largest, parents
  // before children, until 60 rows show.
  const open = new Uint8Array(N), FIRST_ROWS = K <= 150 ? K : 60;
  const bySize = Array.from({ length: K - 1 }, (_, t) => K + t).sort((a, b) => size[b] - size[a] || b - a);
  function openLargest(rows) { open.fill(0); for (let i = 0; i < Math.min(rows - 1, K - 1); i++) open[bySize[i]] = 1; }
  function openAll() { open.fill(1); }
  openLargest(FIRST_ROWS);

  // Visible nodes, parents first; leaves and closed nodes take one row each.
  function visible() {
    const out = [], stack = [ROOT];
    while (stack.length) {
      const v = stack.pop();
      out.push(v);
      if (v >= K && open[v]) { const [a, b] = kids(v); stack.push(b, a); }
    }
    return out;
  }

  const svg = $('l2h-svg'), view = $('l2h-view'), state = { layout: 'rect', colour: 'none', selected: -1, path: new Set() };
  let shown = [], pos = new Map(), zoom = { k: 1, x: 0, y: 0 };
  const ROW = 14, PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
    '#bcbd22', '#17becf', '#393b79', '#ad494a', '#637939', '#8c6d31', '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1', '#636363'];

  function label(v) {
    if (v < K) return D.names[v];
    const lca = D.lca ? D.lca[v - K].split('.')[0].replace(/_/g, ' ') + ' · ' : '';
    return lca + size[v].toLocaleString('en') + ' classes: ' + D.names[firstLeaf(v)] + ', …';
  }
  function firstLeaf(v) { while (v >= K) v = kids(v)[0]; return v; }
  function members(v, limit) {
    const out = [], stack = [v];
    while (stack.length && out.length < limit) { const u = stack.pop(); if (u < K) out.push(u); else { const [a, b] = kids(u); stack.push(b, a); } }
    return out;
  }

  // Layout: rows for leaves and closed nodes, depth outwards; radial maps rows to angles and depth to radius.
  function layout() {
    shown = visible(); pos = new Map();
    const rows = new Map(); let row = 0, maxDepth = 1;
    for (const v of shown) if (v < K || !open[v]) rows.set(v, row++);
    for (const v of shown) maxDepth = Math.max(maxDepth, depth[v]);
    const y = new Map();
    for (let i = shown.length - 1; i >= 0; i--) {  // children come after their parent
      const v = shown[i];
      if (rows.has(v)) y.set(v, rows.get(v));
      else { const [a, b] = kids(v); y.set(v, (y.get(a) + y.get(b)) / 2); }
    }
    if (state.layout === 'rect') {
      const col = Math.max(3, Math.min(24, 40 * Math.sqrt(row) / maxDepth));
      for (const v of shown) pos.set(v, { x: depth[v] * col, y: y.get(v) * ROW, a: 0, r: depth[v] * col });
    } else {
      // rows on the outer circle, ROW px apart there; leaves and closed nodes on that circle, where labels have room
      const ring = Math.max(6, row * ROW / (2 * Math.PI) / maxDepth);
      for (const v of shown) {
        const a = 2 * Math.PI * y.get(v) / Math.max(row, 1), r = (rows.has(v) ? maxDepth : depth[v]) * ring;
        pos.set(v, { x: r * Math.cos(a), y: r * Math.sin(a), a: a, r: r });
      }
    }
  }

  function edgePath(p, c) {
    if (state.layout === 'rect') return `M${r1(p.x)},${r1(p.y)}V${r1(c.y)}H${r1(c.x)}`;
    const x0 = p.r * Math.cos(c.a), y0 = p.r * Math.sin(c.a), sweep = c.a > p.a ? 1 : 0;
    const arc = Math.abs(c.a - p.a) < 1e-9 || p.r === 0 ? `L${r1(x0)},${r1(y0)}` : `A${r1(p.r)},${r1(p.r)} 0 0 ${sweep} ${r1(x0)},${r1(y0)}`;
    return `M${r1(p.r * Math.cos(p.a))},${r1(p.r * Math.sin(p.a))}${arc}L${r1(c.x)},${r1(c.y)}`;
  }

  // Colour of a node: its group under the cut, its reference group when pure, or its support; null for none.
  function colourOf(v) {
    if (state.colour === 'cut') {
      const first = K - cutGroups();  // the merges done before the cut
      let u = v;
      if (u >= K && u - K >= first) return null;  // above the cut
      while (parent[u] >= 0 && parent[u] - K < first) u = parent[u];
      return PALETTE[cutIndex.get(u) % PALETTE.length];
    }
    if (state.colour === 'reference' && group) return group[v] < 0 ? null : PALETTE[group[v] % PALETTE.length];
    if (state.colour === 'support' && D.support) {
      const s = v < K ? (parent[v] >= 0 ? D.support[parent[v] - K] : 1) : D.support[v - K];
      const t = Math.max(0, Math.min(1, s));
      return `rgb(${Math.round(215 - 190 * t)},${Math.round(48 + 120 * t)},${Math.round(39 + 50 * t)})`;
    }
    return null;
  }
  let cutIndex = new Map();
  function cutGroups() { return Math.max(1, Math.min(K, parseInt($('l2h-groups').value, 10) || 1)); }
  function indexCut() {
    const first = K - cutGroups(), roots = [];
    for (let v = 0; v < N; v++) if ((v < K || v - K < first) && (parent[v] < 0 || parent[v] - K >= first)) roots.push(v);
    roots.sort((a, b) => firstRow(a) - firstRow(b));
    cutIndex = new Map(roots.map((v, i) => [v, i]));
  }
  const order = new Int32Array(N);
  (function () { let i = 0; const stack = [ROOT]; while (stack.length) { const v = stack.pop(); order[v] = i++; if (v >= K) { const [a, b] = kids(v); stack.push(b, a); } } })();
  function firstRow(v) { return order[v]; }

  // The drawing is written as one string of SVG: at 21,841 leaves that is several times faster than element by element.
  // Labels are a layer of their own, drawn only where they can be read: rows at least 5 px apart, inside the window.
  const r1 = x => Math.round(x * 10) / 10;
  const esc = s => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  let labelled = [], labelLayer = null;
  function draw() {
    if (state.colour === 'cut') indexCut();
    layout();
    const edges = [], nodes = [];
    labelled = [];
    for (const v of shown) {
      const p = pos.get(v), colour = colourOf(v), on = state.path.has(v), closed = v >= K && !open[v];
      if (parent[v] >= 0) edges.push(`<path d="${edgePath(pos.get(parent[v]), p)}" class="edge${on ? ' hl' : ''}"${colour ? ` style="stroke:${colour}"` : ''}/>`);
      nodes.push(`<circle cx="${r1(p.x)}" cy="${r1(p.y)}" r="${closed ? 4 : v < K ? 2.5 : 2}" data-node="${v}" class="node${v < K ? ' leaf' : closed ? ' closed' : ''}${on ? ' hl' : ''}${v === state.selected ? ' sel' : ''}"${colour ? ` style="fill:${colour}"` : ''}/>`);
      if (v < K || closed) labelled.push(v);
    }
    view.innerHTML = `<g class="edges">${edges.join('')}</g><g class="nodes">${nodes.join('')}</g><g class="labels"></g>`;
    labelLayer = view.lastChild;
    applyZoom();
  }
  function labelText(v) {
    const p = pos.get(v), on = state.path.has(v), closed = v >= K && !open[v];
    let where;
    if (state.layout === 'rect') where = `x="${r1(p.x + 6)}" y="${r1(p.y + 4)}"`;
    else {
      const deg = p.a * 180 / Math.PI, flip = Math.cos(p.a) < 0;
      where = `transform="translate(${r1(p.x)},${r1(p.y)}) rotate(${r1(flip ? deg + 180 : deg)}) translate(${flip ? -6 : 6},4)"${flip ? ' text-anchor="end"' : ''}`;
    }
    return `<text ${where} data-node="${v}" class="label${on ? ' hl' : ''}${closed ? ' closed' : ''}">${esc(label(v))}</text>`;
  }
  function drawLabels() {
    const w = svg.clientWidth || 800, h = svg.clientHeight || 600, out = [];
    if (zoom.k * ROW >= 5) {
      for (const v of labelled) {
        const p = pos.get(v), x = p.x * zoom.k + zoom.x, y = p.y * zoom.k + zoom.y;
        if (x > -w && x < 2 * w && y > -50 && y < h + 50) out.push(labelText(v));  // labels run rightwards from x
      }
    }
    labelLayer.innerHTML = out.join('');
  }

  // Zoom and pan: the wheel zooms about the pointer, dragging pans; Fit shows the whole drawing.
  function applyZoom() {
    view.setAttribute('transform', `translate(${zoom.x},${zoom.y}) scale(${zoom.k})`);
    drawLabels();
  }
  function bounds() {  // of the drawing, from the layout: measuring thousands of SVG elements would cost seconds
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const v of shown) {
      const p = pos.get(v), room = (v < K || !open[v]) ? 7 * label(v).length : 0;  // about 7 px a character
      const rx = state.layout === 'rect' ? p.x + room : p.x + Math.cos(p.a) * room, ry = state.layout === 'rect' ? p.y : p.y + Math.sin(p.a) * room;
      x0 = Math.min(x0, p.x, rx); x1 = Math.max(x1, p.x, rx); y0 = Math.min(y0, p.y - 6, ry); y1 = Math.max(y1, p.y + 6, ry);
    }
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }
  function fit() {
    const b = bounds(), w = svg.clientWidth || 800, h = svg.clientHeight || 600;
    const k = Math.min(w / (b.width + 40), h / (b.height + 40), 2);
    zoom = { k: k, x: (w - b.width * k) / 2 - b.x * k, y: (h - b.height * k) / 2 - b.y * k };
    applyZoom();
  }
  function centreOn(v, k) {
    const p = pos.get(v), w = svg.clientWidth || 800, h = svg.clientHeight || 600;
    zoom.k = Math.max(zoom.k, k); zoom.x = w / 2 - p.x * zoom.k; zoom.y = h / 2 - p.y * zoom.k;
    applyZoom();
  }
  svg.addEventListener('wheel', e => {
    e.preventDefault();
    const r = svg.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    const f = Math.exp(-e.deltaY * 0.002), k = Math.max(0.01, Math.min(50, zoom.k * f));
    zoom.x = mx - (mx - zoom.x) * k / zoom.k; zoom.y = my - (my - zoom.y) * k / zoom.k; zoom.k = k;
    applyZoom();
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', e => { drag = { x: e.clientX, y: e.clientY, zx: zoom.x, zy: zoom.y, moved: false }; });
  svg.addEventListener('pointermove', e => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) { zoom.x = drag.zx + dx; zoom.y = drag.zy + dy; applyZoom(); }
  });
  window.addEventListener('pointerup', () => { setTimeout(() => { drag = null; }, 0); });

  // A click selects a node and shows it in the panel; a click on an internal node also opens or closes it.
  svg.addEventListener('click', e => {
    if (drag && drag.moved) return;
    const v = e.target.getAttribute && e.target.getAttribute('data-node');
    if (v === null || v === undefined) return;
    select(+v);
    if (+v >= K) toggle(+v);
  });
  function toggle(v) { open[v] = open[v] ? 0 : 1; const keep = pos.get(v); draw(); keepInPlace(v, keep); }
  function keepInPlace(v, before) {  // the clicked node stays under the pointer
    const after = pos.get(v);
    if (!before || !after) return;
    zoom.x += (before.x - after.x) * zoom.k; zoom.y += (before.y - after.y) * zoom.k;
    applyZoom();
  }

  const fmt = x => x === null || x === undefined ? '–' : Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString('en') : x.toPrecision(3);
  function row(name, value) { return `<tr><th>${name}</th><td>${value}</td></tr>`; }
  function select(v) {
    state.selected = v;
    for (const c of view.querySelectorAll('.sel')) c.classList.remove('sel');
    const n = view.querySelector(`circle[data-node="${v}"]`);
    if (n) n.classList.add('sel');
    const t = v - K, rows = [];
    rows.push(row(v < K ? 'class' : 'node', v < K ? esc(D.names[v]) : `${size[v].toLocaleString('en')} classes`));
    if (samples) rows.push(row('samples', fmt(samples[v])));
    if (v >= K) {
      rows.push(row('merge step', `${t} of ${K - 1}`));
      if (D.scores) rows.push(row('score', fmt(D.scores[t])));
      if (D.affinities) rows.push(row('affinity', fmt(D.affinities[t])));
      if (D.support) rows.push(row('support', fmt(D.support[t])));
    } else if (parent[v] >= 0) rows.push(row('joined at step', `${parent[v] - K}`));
    if (D.majority) {
      const m = D.majority[v];
      rows.push(row('majority label', m < 0 ? '–' : esc(D.label_names[m])));
      rows.push(row('purity', m < 0 ? '–' : (100 * D.purity[v]).toFixed(1) + '%'));
    }
    if (D.lca && v >= K) {
      rows.push(row('WordNet LCA', esc(D.lca[t])));
      const whole = D.lca_classes[t] === size[v];
      rows.push(row('agrees', whole ? 'yes: the same classes' : `no: WordNet's LCA covers ${D.lca_classes[t]} classes, this node ${size[v]}`));
    }
    if (group) rows.push(row('reference', group[v] < 0 ? 'mixed' : esc(D.reference_names[group[v]])));
    const shownMembers = members(v, 200);
    const list = shownMembers.map(c => `<li data-node="${c}">${esc(D.names[c])}</li>`).join('') + (size[v] > 200 ? `<li>… ${size[v] - 200} more</li>` : '');
    $('l2h-panel').innerHTML = `<table>${rows.join('')}</table><h4>members</h4><ol class="members">${list}</ol>`;
  }

  // Search: suggestions as one types; choosing one opens the way to the leaf, highlights its path and centres it.
  const lower = D.names.map(s => s.toLowerCase()), q = $('l2h-q'), box = $('l2h-suggest');
  let active = -1;
  function suggestions(text) {
    const s = text.trim().toLowerCase(); if (!s) return [];
    const starts = [], within = [];
    for (let c = 0; c < K && starts.length < 12; c++) {
      const i = lower[c].indexOf(s);
      if (i === 0) starts.push(c); else if (i > 0 && within.length < 12) within.push(c);
    }
    return starts.concat(within).slice(0, 12);
  }
  function showSuggestions() {
    const found = suggestions(q.value); active = found.length ? 0 : -1;
    box.innerHTML = found.map((c, i) => `<div class="option${i === 0 ? ' active' : ''}" data-leaf="${c}">${esc(D.names[c])}</div>`).join('');
    box.style.display = found.length ? 'block' : 'none';
  }
  q.addEventListener('input', showSuggestions);
  q.addEventListener('keydown', e => {
    const options = box.querySelectorAll('.option');
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault(); if (!options.length) return;
      active = (active + (e.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length;
      options.forEach((o, i) => o.classList.toggle('active', i === active));
    } else if (e.key === 'Enter') {
      const exact = lower.indexOf(q.value.trim().toLowerCase());
      const c = active >= 0 && options[active] ? +options[active].dataset.leaf : exact;
      if (c >= 0) find(c);
    } else if (e.key === 'Escape') box.style.display = 'none';
  });
  box.addEventListener('mousedown', e => { const o = e.target.closest('.option'); if (o) { e.preventDefault(); find(+o.dataset.leaf); } });
  $('l2h-panel').addEventListener('click', e => { const li = e.target.closest('li[data-node]'); if (li) find(+li.dataset.node); });
  function find(c) {
    q.value = D.names[c]; box.style.display = 'none';
    state.path = new Set();
    for (let u = c; u >= 0; u = parent[u]) { state.path.add(u); if (u >= K) open[u] = 1; }
    draw(); select(c); centreOn(c, 14 / ROW);
  }

  function exportSvg() {
    const copy = svg.cloneNode(true);
    copy.setAttribute('xmlns', SVGNS);
    copy.querySelector('#l2h-view .labels').innerHTML = labelled.map(labelText).join('');  // every label, not the window's
    const b = bounds(), g = copy.querySelector('#l2h-view');
    g.setAttribute('transform', `translate(${20 - b.x},${20 - b.y})`);  // the whole drawing of the current view
    copy.setAttribute('width', Math.ceil(b.width + 40)); copy.setAttribute('height', Math.ceil(b.height + 40));
    copy.setAttribute('viewBox', `0 0 ${Math.ceil(b.width + 40)} ${Math.ceil(b.height + 40)}`);
    const style = document.createElementNS(SVGNS, 'style');
    style.textContent = document.getElementById('l2h-style').textContent;
    copy.insertBefore(style, copy.firstChild);
    const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
    a.download = (D.title || 'tree').replace(/[^\w.-]+/g, '_') + '.svg';
    document.body.appendChild(a); a.click(); a.remove();
    window.l2hExplorer.exported = text;
    return text;
  }

  const colour = $('l2h-colour');
  if (!group) colour.querySelector('option[value="reference"]').remove();
  if (!D.support) colour.querySelector('option[value="support"]').remove();
  $('l2h-groups').max = K;
  $('l2h-groups').value = Math.min(K, 8);
  $('l2h-layout').addEventListener('change', e => { state.layout = e.target.value; draw(); fit(); });
  colour.addEventListener('change', e => { state.colour = e.target.value; $('l2h-groups').style.display = state.colour === 'cut' ? '' : 'none'; draw(); });
  $('l2h-groups').addEventListener('input', () => { if (state.colour === 'cut') draw(); });
  $('l2h-fit').addEventListener('click', fit);
  $('l2h-expand').addEventListener('click', () => { openAll(); draw(); fit(); });
  $('l2h-collapse').addEventListener('click', () => { openLargest(FIRST_ROWS); state.path = new Set(); draw(); fit(); });
  $('l2h-export').addEventListener('click', exportSvg);
  $('l2h-groups').style.display = 'none';
  if (group) { state.colour = colour.value = 'reference'; }  // a reference taxonomy given is worth seeing first

  draw(); fit(); select(ROOT);
  window.l2hExplorer = { find: c => find(typeof c === 'number' ? c : lower.indexOf(String(c).toLowerCase())), toggle: toggle,
    exportSvg: exportSvg, visibleNodes: () => shown.slice(), isOpen: v => !!open[v], exported: null };
  // Ready once the first frame is painted: ms since the page was asked for
  requestAnimationFrame(() => setTimeout(() => { document.documentElement.dataset.ready = Math.round(performance.now()); }));
})();
