"""Ranked-list HTML: pages, relative thumbnails, match marks, paging links."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from dgreid.deploy.ranked_html import RankedMatch, RankedQuery, write_ranked_html
from test_deploy_helpers import write_images


def test_pages_thumbs_and_marks(tmp_path: Path) -> None:
    imgs = [str(p) for p in write_images(tmp_path / "imgs", 4)]
    queries = [
        RankedQuery(
            imgs[i % 4],
            [RankedMatch(imgs[0], 0.5, True), RankedMatch(imgs[1], 1.25, False)],
            pid=i,
            camid=0,
        )
        for i in range(7)
    ]
    queries.append(RankedQuery(imgs[2], [RankedMatch(str(tmp_path / "missing.jpg"), 2.0)]))
    index = write_ranked_html(tmp_path / "out.html", queries, page_size=3)
    files = tmp_path / "out_files"
    assert index == tmp_path / "out.html"
    pages = sorted(p.name for p in files.glob("page_*.html"))
    assert pages == ["page_1.html", "page_2.html", "page_3.html"]  # 8 queries, 3 per page
    toc = index.read_text()
    assert all(f"out_files/{p}" in toc for p in pages)
    p1, p3 = (files / "page_1.html").read_text(), (files / "page_3.html").read_text()
    assert p1.count('class="q"') == 3 and p3.count('class="q"') == 2
    assert 'href="page_2.html"' in p1 and "previous" not in p1
    assert 'href="page_2.html"' in p3 and "next" not in p3
    assert "c hit" in p1 and "c miss" in p1 and "#2 1.250" in p1
    for src in re.findall(r'src="([^"]+)"', p3):
        thumb = files / src
        assert thumb.is_file() and not src.startswith("/")
        with Image.open(thumb) as im:
            assert im.format == "JPEG" and im.size == (64, 128)
    # one thumbnail per distinct image (4 images + the unreadable one)
    assert len(list((files / "thumbs").glob("*.jpg"))) == 5


def test_folder_output(tmp_path: Path) -> None:
    imgs = [str(p) for p in write_images(tmp_path / "imgs", 2)]
    index = write_ranked_html(
        tmp_path / "report", [RankedQuery(imgs[0], [RankedMatch(imgs[1], 1.0)])]
    )
    assert index == tmp_path / "report" / "index.html"
    assert 'href="page_1.html"' in index.read_text()
    assert (tmp_path / "report" / "page_1.html").is_file()


def test_each_thumbnail_is_named_and_links_to_its_image_by_a_relative_path(
    tmp_path: Path,
) -> None:
    imgs = [str(p) for p in write_images(tmp_path / "imgs", 2)]
    spaced = tmp_path / "imgs" / "a b.png"
    Image.open(imgs[1]).save(spaced)
    queries = [RankedQuery(imgs[0], [RankedMatch(str(spaced), 0.5, True)], pid=1, camid=0)]
    index = write_ranked_html(tmp_path / "out" / "r.html", queries)
    page = (tmp_path / "out" / "r_files" / "page_1.html").read_text()
    links = re.findall(r'<a href="([^"]+)"[^>]*><img [^>]*>([^<]+)</a>', page)
    rel = Path("..", "..", "imgs")
    assert links == [
        (f"{rel.as_posix()}/{Path(imgs[0]).relative_to(tmp_path / 'imgs').as_posix()}",
         Path(imgs[0]).name),
        (f"{rel.as_posix()}/a%20b.png", "a b.png"),
    ]  # fmt: skip
    for href, _ in links:  # each link reaches its image from the page's folder
        assert (tmp_path / "out" / "r_files" / href.replace("%20", " ")).is_file()
    assert str(tmp_path) not in page and str(tmp_path) not in index.read_text()

    write_ranked_html(tmp_path / "abs", queries, absolute_links=True)
    page = (tmp_path / "abs" / "page_1.html").read_text()
    assert f'href="{spaced.resolve().as_uri()}"' in page
