"""HTML pieces of the report: page template, tables, summary, figures.

Pure string building (no matplotlib): everything inline so the page works offline.
The interactive map is in :mod:`._svg`.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;
 color:#1d2430;background:#f7f8fa}
header{background:#23395d;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:1.5em} header p{margin:4px 0 0;opacity:.8}
header p{overflow-wrap:anywhere}
main{padding:8px 32px 40px;max-width:1400px;box-sizing:border-box}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:12px 20px;
 margin:16px 0}
h2{font-size:1.15em;margin:6px 0 12px;color:#23395d}
table{border-collapse:collapse;font-size:.85em;margin:4px 0}
th,td{border-bottom:1px solid #e4e7ed;padding:3px 10px;text-align:right;white-space:nowrap}
th{background:#eef1f6;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#dfe5ef}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td.str,th.str{text-align:left}
td.long{max-width:16em;overflow:hidden;text-overflow:ellipsis}
.summary td{white-space:normal;overflow-wrap:anywhere}
.summary td:first-child{text-align:left;font-weight:600;white-space:nowrap}
.scroll{max-height:420px;overflow:auto;border:1px solid #e4e7ed}
.figs{display:flex;flex-wrap:wrap;gap:16px} .figs figure{margin:0}
.figs img{max-width:min(560px,100%);height:auto;border:1px solid #e4e7ed}
.figs figure{max-width:100%}
figcaption{font-size:.85em;color:#555;text-align:center}
#map-wrap{position:relative;display:inline-block;max-width:100%;overflow-x:auto}
#cellmap text{font-size:12px;fill:#222} #cellmap text.name{font-size:13px;font-weight:600}
#cellmap line{stroke:#333;stroke-width:1} #cellmap rect.frame{fill:#f4f4f4;stroke:none}
#cellmap circle{stroke:#fff;stroke-width:.5} #cellmap circle.lab{stroke:#000}
#cellmap circle.labk{stroke:#fff;stroke-width:.8}
#cellmap .points{pointer-events:none}
#cellmap polygon{stroke:#222;stroke-width:.6;vector-effect:non-scaling-stroke}
#cellmap polygon:hover,#cellmap polygon.hl{stroke:#e11;stroke-width:2.5}
#tooltip{position:absolute;pointer-events:none;background:rgba(20,25,35,.92);color:#fff;
 font-size:12px;padding:6px 9px;border-radius:4px;display:none;white-space:nowrap}
#tooltip table{font-size:12px;margin:0} #tooltip td{border:0;padding:1px 6px;color:#fff}
.note{color:#666;font-size:.85em}
"""

JS = r"""
(function(){
function cellValue(td){var v=td.getAttribute('data-v');
  if(v!==null&&v!==''&&!isNaN(v))return parseFloat(v);return td.textContent;}
function sortTable(th){var table=th.closest('table');var idx=Array.prototype.indexOf.call(
  th.parentNode.children,th);var body=table.tBodies[0];var rows=Array.prototype.slice.call(
  body.rows);var asc=!th.classList.contains('asc');
  Array.prototype.forEach.call(th.parentNode.children,function(h){h.classList.remove('asc',
  'desc');});th.classList.add(asc?'asc':'desc');
  rows.sort(function(a,b){var x=cellValue(a.cells[idx]),y=cellValue(b.cells[idx]);
    if(typeof x==='number'&&typeof y==='number')return asc?x-y:y-x;
    return asc?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
  rows.forEach(function(r){body.appendChild(r);});}
document.querySelectorAll('table.sortable th').forEach(function(th){
  th.addEventListener('click',function(){sortTable(th);});});
var map=document.getElementById('cellmap');
if(map){var tip=document.getElementById('tooltip');
  var data=JSON.parse(document.getElementById('cell-data').textContent);
  var cols=data.columns;var wrap=document.getElementById('map-wrap');
  function show(ev){var i=parseInt(ev.target.getAttribute('data-cell'),10);
    if(isNaN(i))return;var row=data.rows[i];var h='<table>';
    for(var j=0;j<cols.length;j++){h+='<tr><td>'+cols[j]+'</td><td>'+row[j]+'</td></tr>';}
    tip.innerHTML=h+'</table>';tip.style.display='block';
    var r=wrap.getBoundingClientRect();tip.style.left=(ev.clientX-r.left+14)+'px';
    tip.style.top=(ev.clientY-r.top+14)+'px';ev.target.classList.add('hl');}
  function hide(ev){tip.style.display='none';ev.target.classList.remove('hl');}
  map.querySelectorAll('polygon').forEach(function(p){p.addEventListener('mouseover',show);
    p.addEventListener('mousemove',show);p.addEventListener('mouseout',hide);});}
})();
"""


def fmt(value) -> str:
    """Short, exact-enough text for a table cell."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != v:
            return "NaN"
        return f"{v:.6g}"
    return str(value)


#: strings longer than this are cut with an ellipsis (the whole text in the tooltip)
LONG_TEXT = 24


def table_html(df: pd.DataFrame, sortable: bool = True, max_rows: int | None = None,
               cls: str = "") -> str:
    """A table with ``data-v`` sort keys; strings left-aligned, long ones (cell keys of
    forests and networks) cut to a fixed width with the whole text as their title."""
    shown = df if max_rows is None else df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(
        shown[c]) for c in shown.columns]
    classes = " ".join(c for c in ("sortable" if sortable else "", cls) if c)
    head = "".join(f'<th class="{"" if num else "str"}">{html.escape(str(c))}</th>'
                   for c, num in zip(shown.columns, numeric))
    body = []
    for row in shown.itertuples(index=False):
        tds = []
        for v, num in zip(row, numeric):
            if num:
                key = "" if (isinstance(v, float) and v != v) else repr(float(v))
                tds.append(f'<td data-v="{key}">{fmt(v)}</td>')
            else:
                text = html.escape(fmt(v))
                if len(text) > LONG_TEXT:
                    tds.append(f'<td class="str long" title="{text}">{text}</td>')
                else:
                    tds.append(f'<td class="str">{text}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    note = ""
    if max_rows is not None and len(df) > max_rows:
        note = f'<p class="note">first {max_rows} of {len(df)} rows</p>'
    return (f'<div class="scroll"><table class="{classes}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{note}')


def summary_html(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td class=\"str\">{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return f'<table class="summary"><tbody>{body}</tbody></table>'


def figures_html(figures: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, b64 in figures)
    return f'<div class="figs">{items}</div>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    body = "".join(f'<section id="{html.escape(sid)}"><h2>{html.escape(head)}</h2>{content}'
                   "</section>" for sid, head, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<main>{body}</main><script>{JS}</script></body></html>\n"
    )
