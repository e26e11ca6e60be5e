"""The report page's style sheet and its figure check: static text, kept out of the page code."""

FIGURE_CHECK = """
window.addEventListener('error', e => { document.body.dataset.jsError = String(e.message); });
window.addEventListener('load', () => {
  const figures = [...document.querySelectorAll('figure.plot img')];
  document.body.dataset.figures = figures.length;
  document.body.dataset.figuresOk = figures.every(i => i.complete && i.naturalWidth > 0);
});
"""
CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #666; }
.summary { background: #f4f7fb; border-left: 4px solid #3b6ea8; padding: .6em 1em; }
.summary p { margin: .4em 0; } .summary h2 { margin-top: 0; border: 0; }
.note { color: #8a5a00; background: #fff8e6; border-left: 4px solid #e0a800; padding: .4em .8em; }
figure.plot { margin: 1em 0; } figure.plot img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; max-width: 60em; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f2f2f2; text-align: left; }
td.text { text-align: left; } tr.best { background: #e6f4ea; font-weight: 600; }
dl.metrics dt { font-weight: 600; float: left; clear: left; margin-right: .5em; } dl.metrics dd { margin: 0 0 .2em 0; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
table.keys { font-size: 14px; background: #fff; } table.keys th[colspan] { background: #e3ebf5; }
table.keys td.num { font-weight: 700; font-size: 16px; } td.method { color: #555; font-size: 12px; max-width: 34em; }
table.samples td.sample { max-width: 30em; font-size: 12px; } table.samples ul { margin: 0; padding-left: 1.1em; }
span.role { color: #666; font-size: 12px; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 .4em 1.5em; color: #333; }
details { margin: .6em 0; } details summary { cursor: pointer; color: #3b6ea8; }
"""
