"""Ranked lists as browsable HTML: each query with its top-k gallery thumbnails and distances.

The output is a self-contained folder that can be copied or zipped as a whole: ``index.html``
(links to every page), ``page_N.html`` (``page_size`` queries each) and ``thumbs/`` (one small
JPEG per distinct image, referenced relatively). Thousands of queries give many small pages, never
one huge file. Correct matches are framed green and wrong ones red when labels are known.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from dgreid.utils.io import atomic_write, atomic_write_text


@dataclass(frozen=True)
class RankedMatch:
    """One gallery item in a ranked list; ``is_match`` is ``None`` when labels are unknown."""

    path: str
    distance: float
    is_match: bool | None = None


@dataclass
class RankedQuery:
    """One query image and its gallery items, nearest first."""

    path: str
    matches: list[RankedMatch] = field(default_factory=list)
    pid: int | None = None
    camid: int | None = None


_CSS = """body{font-family:sans-serif;margin:1em;background:#fafafa}
.q{display:flex;align-items:flex-start;gap:4px;margin:6px 0;padding:4px;
border-bottom:1px solid #ddd}
.c{text-align:center;font-size:10px;width:72px;overflow:hidden}
.c img{display:block;margin:auto;border:3px solid transparent}
.query img{border-color:#36c}.hit img{border-color:#2a2}.miss img{border-color:#c22}
nav{margin:8px 0}nav a{margin-right:1em}"""


def _thumb_name(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:20] + ".jpg"


def _write_thumb(src: str, dst: Path, size: tuple[int, int]) -> None:
    """A small JPEG of ``src`` (grey when the image cannot be read) at (height, width) ``size``."""
    h, w = size
    try:
        with Image.open(src) as im:
            thumb = im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError):
        thumb = Image.new("RGB", (w, h), (160, 160, 160))
    atomic_write(dst, lambda f: thumb.save(f, format="JPEG", quality=85))


def _cell(rel_thumb: str, label: str, title: str, cls: str, size: tuple[int, int]) -> str:
    h, w = size
    return (
        f'<div class="c {cls}"><img src="{html.escape(rel_thumb)}" width="{w}" height="{h}" '
        f'loading="lazy" title="{html.escape(title)}" alt="">{html.escape(label)}</div>'
    )


def _page_name(i: int) -> str:
    return f"page_{i + 1}.html"


def _nav(i: int, n_pages: int, index_rel: str) -> str:
    links = [f'<a href="{index_rel}">index</a>']
    if i > 0:
        links.append(f'<a href="{_page_name(i - 1)}">&laquo; previous</a>')
    if i < n_pages - 1:
        links.append(f'<a href="{_page_name(i + 1)}">next &raquo;</a>')
    return f"<nav>{''.join(links)} page {i + 1} of {n_pages}</nav>"


def _doc(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n<h2>{html.escape(title)}</h2>\n{body}\n</body></html>\n"
    )


def _query_label(q: RankedQuery) -> str:
    parts = [Path(q.path).name]
    if q.pid is not None:
        parts.append(f"id {q.pid}")
    if q.camid is not None:
        parts.append(f"cam {q.camid}")
    return " ".join(parts)


def write_ranked_html(
    out_path: str | Path,
    queries: Sequence[RankedQuery],
    page_size: int = 50,
    thumb_size: tuple[int, int] = (64, 32),
    title: str = "Ranked gallery",
) -> Path:
    """Write the pages and thumbnails; return the path of the index page.

    ``out_path`` ending in ``.html`` is the index page, with pages and thumbnails in the folder
    ``<stem>_files/`` beside it; any other ``out_path`` is a folder that gets ``index.html``.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    out_path = Path(out_path)
    if out_path.suffix.lower() in (".html", ".htm"):
        index_path, folder = out_path, out_path.parent / f"{out_path.stem}_files"
        index_rel, page_prefix = f"../{out_path.name}", f"{folder.name}/"
    else:
        index_path, folder = out_path / "index.html", out_path
        index_rel, page_prefix = "index.html", ""
    thumbs = folder / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()

    def thumb(path: str) -> str:
        name = _thumb_name(path)
        if name not in made:
            _write_thumb(path, thumbs / name, thumb_size)
            made.add(name)
        return f"thumbs/{name}"

    n_pages = max(1, -(-len(queries) // page_size))
    toc = []
    for p in range(n_pages):
        chunk = queries[p * page_size : (p + 1) * page_size]
        rows = []
        for q in chunk:
            cells = [_cell(thumb(q.path), _query_label(q), q.path, "query", thumb_size)]
            for rank, m in enumerate(q.matches, 1):
                cls = {True: "hit", False: "miss", None: ""}[m.is_match]
                label = f"#{rank} {m.distance:.3f}"
                cells.append(_cell(thumb(m.path), label, m.path, cls, thumb_size))
            rows.append(f'<div class="q">{"".join(cells)}</div>')
        nav = _nav(p, n_pages, index_rel)
        first, last = p * page_size + 1, p * page_size + len(chunk)
        body = nav + "\n" + "\n".join(rows) + "\n" + nav
        atomic_write_text(folder / _page_name(p), _doc(f"{title}: queries {first}-{last}", body))
        toc.append(f'<li><a href="{page_prefix}{_page_name(p)}">queries {first}-{last}</a></li>')
    summary = f"<p>{len(queries)} queries, {n_pages} page(s) of up to {page_size}.</p>"
    legend = "<p>Frames: blue query, green correct match, red wrong match (when labels exist).</p>"
    atomic_write_text(index_path, _doc(title, summary + legend + f"<ul>{''.join(toc)}</ul>"))
    return index_path
