"""One self-contained HTML page of benchmark results, readable offline and mailable as a single file.

The page holds, per section: paragraphs, tables (pandas DataFrames, every cell escaped; a cell written
``**x**``, the leaderboards' mark of the best model, is shown bold), PNG images inlined as base64 ``data:``
URIs, and settings (a protocol) as JSON; then the provenance: every bench invocation with its command, wall
time, machine, commit and library versions. The style is inline CSS with the system's fonts; a
Content-Security-Policy (:data:`CSP`) forbids the browser to fetch anything, so what shows was in the file.
The output has no timestamp: the same inputs give the same page.
"""

from __future__ import annotations

import base64
import html
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.fileio import write_text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: inline styles and ``data:`` images only, no script, no network."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BOLD = re.compile(r"^\*\*(.*)\*\*$")
_NUMBER = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?( ± [\d.,e+-]+)?$|^n/a$")
_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
       max-width: 1280px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #d0d7de; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #d0d7de; padding-bottom: .15em; }
nav ul { columns: 2; padding-left: 1.2em; }
.scroll { overflow-x: auto; margin: .8em 0 1.4em; }
table { border-collapse: collapse; font-size: .9em; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: .9em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .85em; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
p.warning { border-left: 4px solid #cf222e; background: #fff0ee; padding: .4em .8em; font-weight: 600; }
footer { margin-top: 3em; color: #57606a; font-size: .85em; }
"""


@dataclass(frozen=True)
class Section:
    """One part of the page, rendered in this order: heading, warnings (highlighted), paragraphs, tables, images,
    settings.

    ``tables`` are ``(caption, DataFrame)`` pairs (the index is shown unless it is a plain range);
    ``images`` are ``(caption, PNG file path or PNG bytes)`` pairs; ``settings`` (e.g. a protocol's) is
    shown as sorted JSON under ``settings_title``. All text is plain text: it is escaped, never markup.
    """

    heading: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    images: Sequence[tuple[str, str | Path | bytes]] = ()
    settings: Mapping[str, Any] | None = None
    settings_title: str = "protocol settings"
    warnings: Sequence[str] = ()


def render_html(
    title: str,
    sections: Sequence[Section],
    *,
    intro: str = "",
    invocations: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The complete page: ``title``, an ``intro`` paragraph, a table of contents, each section, then the
    provenance table of ``invocations`` (records as in ``invocations.json``: command, started_at, wall_seconds,
    ran/skipped/diverged, device_name, git_commit, versions; missing keys are left blank). Raises
    ``ValueError`` for an image that is not a PNG. Every image is inlined; nothing refers outside the page."""
    *ids, provenance_id = _anchors([s.heading for s in sections] + ["How these results were made"])
    anchored = list(zip(ids, sections, strict=True))
    body = [f"<h1>{_e(title)}</h1>"] + ([f"<p>{_e(intro)}</p>"] if intro else [])
    toc = "".join(f'<li><a href="#{i}">{_e(s.heading)}</a></li>' for i, s in anchored)
    body.append(f"<nav><ul>{toc}</ul></nav>" if len(sections) > 1 else "")
    body += [_section(anchor, section) for anchor, section in anchored]
    records = list(invocations)
    if records:
        body.append(f'<h2 id="{provenance_id}">How these results were made</h2>')
        body.append(_table("bench invocations", _provenance(records)))
    body.append("<footer>Written by zoo; self-contained: every table and image is in this file.</footer>")
    head = (
        f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style>"
    )
    page = "\n".join(part for part in body if part)
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>\n{page}\n</body>\n</html>\n'


def write_html(
    path: str | Path,
    title: str,
    sections: Sequence[Section],
    *,
    intro: str = "",
    invocations: Iterable[Mapping[str, Any]] = (),
) -> Path:
    """:func:`render_html` written to ``path`` atomically (UTF-8); returns ``path``."""
    write_text(path, render_html(title, sections, intro=intro, invocations=invocations))
    return Path(path)


def data_uri(png: str | Path | bytes) -> tuple[str, int, int]:
    """``(data URI, width, height)`` of a PNG given as a path or bytes; ``ValueError`` if it is not a PNG."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError(f"not a PNG image: {png if not isinstance(png, bytes) else f'{len(data)} bytes'}")
    width, height = struct.unpack(">II", data[16:24])
    return f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}", width, height


def _section(anchor: str, section: Section) -> str:
    parts = [f'<h2 id="{anchor}">{_e(section.heading)}</h2>']
    parts += [f'<p class="warning">{_e(text)}</p>' for text in section.warnings]
    parts += [f"<p>{_e(text)}</p>" for text in section.paragraphs]
    parts += [_table(caption, frame) for caption, frame in section.tables]
    for caption, png in section.images:
        uri, width, height = data_uri(png)
        parts.append(
            f'<figure><img src="{uri}" width="{width}" height="{height}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    if section.settings is not None:
        settings = json.dumps(dict(section.settings), indent=2, sort_keys=True, default=str)
        summary = f"<summary>{_e(section.settings_title)}</summary>"
        parts.append(f"<details>{summary}<pre>{html.escape(settings, quote=False)}</pre></details>")
    return "\n".join(parts)


def _table(caption: str, frame: pd.DataFrame) -> str:
    show_index = not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None
    columns = ([frame.index.name or ""] if show_index else []) + [str(c) for c in frame.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    rows = []
    for index, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = ([f"<th>{_e(_text(index))}</th>"] if show_index else []) + [_cell(v) for v in values]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(value: Any) -> str:
    text = _text(value)
    bold = _BOLD.match(text)
    inner = f"<strong>{_e(bold.group(1))}</strong>" if bold else _e(text)
    numeric = _NUMBER.match(bold.group(1) if bold else text) and text != ""
    return f'<td class="num">{inner}</td>' if numeric else f"<td>{inner}</td>"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def _provenance(records: list[Mapping[str, Any]]) -> pd.DataFrame:
    def row(r: Mapping[str, Any]) -> dict[str, str]:
        wall = r.get("wall_seconds")
        versions = r.get("versions") or {}
        return {
            "command": _text(r.get("command")),
            "started": _text(r.get("started_at")),
            "wall time": f"{wall / 60:.1f} min" if isinstance(wall, (int, float)) else "",
            "cells run / skipped / diverged": "/".join(_text(r.get(k)) for k in ("ran", "skipped", "diverged")),
            "machine": _text(r.get("device_name")),
            "commit": _text(r.get("git_commit")) + (" (interrupted)" if r.get("interrupted") else ""),
            "versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        }

    return pd.DataFrame([row(r) for r in records])


def _anchors(headings: Sequence[str]) -> list[str]:
    """Unique ``id`` values (lowercase letters, digits and dashes) for ``headings``."""
    seen: dict[str, int] = {}
    out = []
    for heading in headings:
        slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
        seen[slug] = seen.get(slug, 0) + 1
        out.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return out


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
