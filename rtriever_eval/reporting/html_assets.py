"""The HTML report's inline style sheet and script (the per-query explorer), kept apart from the page builder.

The script reads the JSON block `report-data` and builds every element with textContent (document texts are
never parsed as HTML); it loads nothing from the network.
"""

# ruff: noqa: E501  (the script's lines are the browser's, not Python's)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;
color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2ea}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{padding:3px 8px;border-bottom:1px solid #e6e9ef;
text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}
thead th{background:#f3f5f9;position:sticky;top:0}
table.facts td,table.plain td{text-align:left}
.muted{color:#6b7385}.note{color:#7a4b00;background:#fff7e6;padding:6px 10px;border-radius:4px}
.warn{color:#b45309;font-weight:600}.legend{color:#6b7385;font-size:12px}
img{max-width:100%;margin-top:8px}
select{font:inherit;margin:0 10px 6px 4px;max-width:520px}
#view .query{white-space:pre-wrap;background:#f6f8fb;padding:8px 10px;border-radius:4px}
.runs{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.run{border:1px solid #e0e4ec;border-radius:6px;padding:8px}
.run ol{padding-left:22px;margin:4px 0}.run li{margin-bottom:6px}
.gold{background:#e8f7ec}.id{font-family:ui-monospace,Menlo,monospace;font-size:12px}
.snip{color:#4a5263;font-size:12px;display:block;max-height:4.3em;overflow:hidden}
.prompt{font-family:ui-monospace,Menlo,monospace;font-size:12px;white-space:pre-wrap}
.win{color:#166534}.loss{color:#991b1b}a.q{cursor:pointer;color:#1d4ed8;text-decoration:underline}
"""

SCRIPT = r"""
(function () {
  const D = JSON.parse(document.getElementById('report-data').textContent);
  document.querySelectorAll('section.dataset').forEach(function (sec) {
    const pick = sec.querySelector('.metric-pick');
    pick.addEventListener('change', function () {
      sec.querySelectorAll('.metric').forEach(function (div) { div.hidden = div.dataset.metric !== pick.value; });
    });
  });
  function el(tag, props, kids) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(function ([k, v]) {
      if (k === 'text') node.textContent = v; else if (k === 'cls') node.className = v; else node.setAttribute(k, v);
    });
    (kids || []).forEach(function (kid) { if (kid) node.appendChild(kid); });
    return node;
  }
  const S = {};
  const controls = document.getElementById('controls'), view = document.getElementById('view');
  function select(label, values, current, onChange, names) {
    const s = el('select', {'aria-label': label});
    values.forEach(function (v, i) { const o = el('option', {value: v, text: names ? names[i] : v}); if (v === current) o.selected = true; s.appendChild(o); });
    s.addEventListener('change', function () { onChange(s.value); render(); });
    return el('label', {text: label + ' '}, [s]);
  }
  function fmt(v) { return v === undefined || v === null ? '' : (100 * v).toFixed(1); }
  function domainData() { return D.datasets[S.ds].domains[S.dom]; }
  function render() {
    const datasets = Object.keys(D.datasets);
    if (!datasets.length) return;
    if (!D.datasets[S.ds]) S.ds = datasets[0];
    const domains = Object.keys(D.datasets[S.ds].domains);
    if (!D.datasets[S.ds].domains[S.dom]) S.dom = domains[0];
    const dd = domainData();
    const qids = Object.keys(dd.queries);
    if (!(S.q in dd.queries)) S.q = qids[0];
    const runs = Object.keys(dd.runs);
    if (!dd.runs[S.a]) S.a = runs[0];
    if (!dd.runs[S.b]) S.b = runs[Math.min(1, runs.length - 1)];
    const metric = D.datasets[S.ds].metric;
    controls.replaceChildren(
      select('dataset', datasets, S.ds, function (v) { S.ds = v; }),
      select('domain', domains, S.dom, function (v) { S.dom = v; }),
      select('query', qids, S.q, function (v) { S.q = v; }, qids.map(function (q) { return q + ': ' + (dd.queries[q] || '').slice(0, 70); })),
      select('run A', runs, S.a, function (v) { S.a = v; }),
      select('run B', runs, S.b, function (v) { S.b = v; }));
    const gold = new Set(dd.gold[S.q] || []);
    const out = [el('h3', {text: 'Query ' + S.q}), el('div', {cls: 'query', text: dd.queries[S.q] || '(query text not recorded)'})];
    const prompts = el('table', {cls: 'plain'}, [el('tr', {}, [el('th', {text: 'run'}), el('th', {text: 'query prompt (before the query text)'}), el('th', {text: 'document prompt'})])]);
    runs.forEach(function (r) { prompts.appendChild(el('tr', {}, [el('td', {text: r}), el('td', {cls: 'prompt', text: JSON.stringify(dd.runs[r].query_prompt)}), el('td', {cls: 'prompt', text: JSON.stringify(dd.runs[r].document_prompt)})])); });
    out.push(el('h3', {text: 'Prompts'}), prompts);
    const goldList = el('ul');
    (dd.gold[S.q] || []).forEach(function (d) { goldList.appendChild(el('li', {cls: 'gold'}, [el('span', {cls: 'id', text: d}), el('span', {cls: 'snip', text: dd.docs[d] || ''})])); });
    out.push(el('h3', {text: 'Gold documents (' + gold.size + ')'}), goldList);
    const metricNames = Object.keys((dd.runs[runs[0]].metrics[S.q]) || {});
    const mt = el('table', {}, [el('tr', {}, [el('th', {text: 'run'}), el('th', {text: 'first gold rank'})].concat(metricNames.map(function (m) { return el('th', {text: m}); })))]);
    runs.forEach(function (r) {
      const m = dd.runs[r].metrics[S.q] || {};
      const fg = dd.runs[r].first_gold[S.q];
      mt.appendChild(el('tr', {}, [el('td', {text: r}), el('td', {text: fg === null || fg === undefined ? 'not retrieved' : String(fg)})].concat(metricNames.map(function (k) { return el('td', {text: fmt(m[k])}); }))));
    });
    out.push(el('h3', {text: 'Per-query metrics (×100)'}), mt);
    const grid = el('div', {cls: 'runs'});
    runs.forEach(function (r) {
      const list = el('ol');
      (dd.runs[r].top[S.q] || []).forEach(function ([d, s]) {
        list.appendChild(el('li', {cls: gold.has(d) ? 'gold' : ''}, [el('span', {cls: 'id', text: (gold.has(d) ? '✓ ' : '') + d + '  ' + s.toFixed(4)}), el('span', {cls: 'snip', text: dd.docs[d] || ''})]));
      });
      grid.appendChild(el('div', {cls: 'run'}, [el('b', {text: r}), list]));
    });
    out.push(el('h3', {text: 'Top ' + 10 + ' per run (✓ gold)'}), grid);
    const diffs = qids.map(function (q) {
      const a = (dd.runs[S.a].metrics[q] || {})[metric], b = (dd.runs[S.b].metrics[q] || {})[metric];
      return [q, a, b, (a === undefined || b === undefined) ? null : a - b];
    }).filter(function (x) { return x[3] !== null; }).sort(function (x, y) { return y[3] - x[3] || (x[0] < y[0] ? -1 : 1); });
    const wl = el('table', {}, [el('tr', {}, [el('th', {text: 'query'}), el('th', {text: S.a}), el('th', {text: S.b}), el('th', {text: 'A − B'})])]);
    diffs.forEach(function ([q, a, b, d]) {
      const link = el('a', {cls: 'q', text: q + ': ' + (dd.queries[q] || '').slice(0, 60)});
      link.addEventListener('click', function () { S.q = q; render(); window.scrollTo(0, document.getElementById('explorer').offsetTop); });
      wl.appendChild(el('tr', {}, [el('td', {}, [link]), el('td', {text: fmt(a)}), el('td', {text: fmt(b)}), el('td', {cls: d > 0 ? 'win' : d < 0 ? 'loss' : '', text: (d > 0 ? '+' : '') + fmt(d)})]));
    });
    out.push(el('h3', {text: 'Wins and losses of run A against run B on ' + metric + ' (×100), best first'}), wl);
    view.replaceChildren.apply(view, out);
  }
  render();
})();
"""
