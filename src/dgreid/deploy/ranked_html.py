"""Ranked lists as browsable HTML: each query with its top-k gallery thumbnails and distances.

The output is a self-contained folder that can be copied or zipped as a whole: ``index.html``
(links to every page), ``page_N.html`` (``page_size`` queries each) and ``thumbs/`` (one small
JPEG per distinct image, referenced relatively). Thousands of queries give many small pages, never
one huge file. Correct matches are framed green and wrong ones red when labels are known.

Each thumbnail is captioned with its file name and links to the image itself. Links are relative
to the page, so the pages name no folder of the machine they were made on (a copied folder keeps
working wherever the images keep their place relative to it); ``absolute_links=True`` writes
absolute ``file://`` links instead, for pages moved away from the images.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

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
    #: the first true match in the whole gallery and its rank (1-based), when labels are known
    true_match: tuple[int, RankedMatch] | None = None


_CSS = """body{font-family:sans-serif;margin:1em;background:#fafafa}
.q{display:flex;align-items:flex-start;gap:4px;margin:6px 0;padding:4px;
border-bottom:1px solid #ddd}
.c{text-align:center;font-size:10px;width:%dpx;overflow:hidden;overflow-wrap:anywhere}
.c a{color:inherit;text-decoration:none}
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


def image_link(path: str, page_dir: Path, absolute: bool = False) -> str:
    """The URL of image ``path`` from a page in ``page_dir``: relative (forward slashes,
    percent-encoded), or a ``file://`` URL when ``absolute`` or when no relative path exists
    (another drive)."""
    target = Path(path).resolve()
    if not absolute:
        try:
            return quote(Path(os.path.relpath(target, page_dir.resolve())).as_posix())
        except ValueError:  # another drive: no relative path
            pass
    return target.as_uri()


def _cell(rel_thumb: str, link: str, label: str, name: str, cls: str, size: tuple[int, int]) -> str:
    h, w = size
    return (
        f'<div class="c {cls}"><a href="{html.escape(link)}" title="{html.escape(name)}">'
        f'<img src="{html.escape(rel_thumb)}" width="{w}" height="{h}" loading="lazy" alt="">'
        f"{html.escape(name)}</a><br>{html.escape(label)}</div>"
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


def _doc(title: str, body: str, cell_width: int) -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS % cell_width}</style></head><body>\n<h2>{html.escape(title)}</h2>\n"
        f"{body}\n</body></html>\n"
    )


def _query_label(q: RankedQuery) -> str:
    parts = ["query"]
    if q.pid is not None:
        parts.append(f"id {q.pid}")
    if q.camid is not None:
        parts.append(f"cam {q.camid}")
    return " ".join(parts)


def write_ranked_html(
    out_path: str | Path,
    queries: Sequence[RankedQuery],
    page_size: int = 50,
    thumb_size: tuple[int, int] = (128, 64),
    title: str = "Ranked gallery",
    absolute_links: bool = False,
) -> Path:
    """Write the pages and thumbnails; return the path of the index page.

    ``out_path`` ending in ``.html`` is the index page, with pages and thumbnails in the folder
    ``<stem>_files/`` beside it; any other ``out_path`` is a folder that gets ``index.html``.
    ``thumb_size`` is (height, width); ``absolute_links``: see the module's docstring.
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

    def cell(path: str, label: str, cls: str) -> str:
        link = image_link(path, folder, absolute_links)
        return _cell(thumb(path), link, label, Path(path).name, cls, thumb_size)

    n_pages = max(1, -(-len(queries) // page_size))
    width = thumb_size[1] + 12  # the thumbnail and its frame
    toc = []
    for p in range(n_pages):
        chunk = queries[p * page_size : (p + 1) * page_size]
        rows = []
        for q in chunk:
            cells = [cell(q.path, _query_label(q), "query")]
            for rank, m in enumerate(q.matches, 1):
                cls = {True: "hit", False: "miss", None: ""}[m.is_match]
                cells.append(cell(m.path, f"#{rank} {m.distance:.3f}", cls))
            rows.append(f'<div class="q">{"".join(cells)}</div>')
        nav = _nav(p, n_pages, index_rel)
        first, last = p * page_size + 1, p * page_size + len(chunk)
        body = nav + "\n" + "\n".join(rows) + "\n" + nav
        page_title = f"{title}: queries {first}-{last}"
        atomic_write_text(folder / _page_name(p), _doc(page_title, body, width))
        toc.append(f'<li><a href="{page_prefix}{_page_name(p)}">queries {first}-{last}</a></li>')
    summary = f"<p>{len(queries)} queries, {n_pages} page(s) of up to {page_size}.</p>"
    legend = "<p>Frames: blue query, green correct match, red wrong match (when labels exist).</p>"
    atomic_write_text(index_path, _doc(title, summary + legend + f"<ul>{''.join(toc)}</ul>", width))
    return index_path
