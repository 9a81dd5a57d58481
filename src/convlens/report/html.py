"""A self-contained HTML report built from sections (images embedded as data URIs)."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .._io import atomic_write_text


@dataclass(frozen=True)
class Section:
    """One titled part of a report; ``body`` is trusted HTML built with the helpers below."""

    title: str
    body: str
    anchor: str = ""

    @property
    def id(self) -> str:
        return self.anchor or "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def esc(value: object) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(value))


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def image(png: bytes, caption: str = "", alt: str = "") -> str:
    """A PNG embedded as a data URI, with an optional caption."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt or caption)}">{cap}</figure>'


def table(header: Sequence[object], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; columns listed in ``numeric`` are right-aligned."""
    right = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in right else ''}>{esc(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    """A two-column definition table."""
    return table(("", ""), pairs)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{margin-bottom:.2em} nav a{margin-right:1em} section{margin:2.5em 0}
table{border-collapse:collapse;font-size:.9em;margin:.8em 0}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} figure{margin:1em 0} img{max-width:100%}
figcaption{color:#555;font-size:.9em} .meta{color:#666;font-size:.9em}
"""


def render(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole HTML document."""
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>"
        f"<p class=meta>{esc(subtitle)} · generated {stamp} by convlens</p><nav>{nav}</nav>{body}</body></html>"
    )


def write_report(path: str | Path, title: str, sections: Sequence[Section], subtitle: str = "") -> Path:
    """Write the report atomically and return its path."""
    return atomic_write_text(path, render(title, sections, subtitle))
