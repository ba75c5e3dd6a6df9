"""The report page: one HTML file with every figure inlined (base64 PNG), so it can be
mailed or attached as it is, and a contents list linking to each section."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io

import pandas as pd
from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
section { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: 0.5rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.empty { color: #a33; } .source { color: #666; font-size: 0.8rem; }
details summary { cursor: pointer; color: #345; }
"""


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _table(caption: str, rows: pd.DataFrame) -> str:
    body = rows.to_html(index=False, na_rep="", float_format=lambda v: f"{v:,.3f}", border=0)
    return (
        f"<details open><summary>{html.escape(caption)} ({len(rows)} rows)</summary>"
        f"{body}</details>"
    )


def render(sections: list, images: dict[str, bytes], title: str, context: str) -> str:
    """The page: ``sections`` from report.sections, ``images`` the PNG bytes of each
    figure by its name."""
    toc = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = []
    for s in sections:
        body = [f"<p>{html.escape(s.about)}</p>"]
        if s.empty:
            body.append(f'<p class="empty">{html.escape(s.empty)}</p>')
        for name, caption, _ in s.figures:
            data = base64.b64encode(images[name]).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"'
                f' data-figure="{html.escape(name)}"><figcaption>{html.escape(caption)}'
                f" (figures/{html.escape(name)}.png)</figcaption></figure>"
            )
        body += [_table(caption, rows) for caption, rows in s.tables]
        body.append(f'<p class="source">From {", ".join(s.tables_read)}.</p>')
        parts.append(
            f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>{"".join(body)}</section>'
        )
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="meta">{html.escape(context)}; made {made}</p>'
        f"<nav><ol>{toc}</ol></nav>{''.join(parts)}</body></html>\n"
    )
