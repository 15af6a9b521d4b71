"""The demo report's HTML: cells that keep one line, the highlighting explained, every method's
ranked lists, and the true match's rank when it is not among those shown."""

from __future__ import annotations

import re
from pathlib import Path

from dgreid.deploy.ranked_html import RankedMatch, RankedQuery
from dgreid.report.html import write_report
from test_deploy_helpers import write_images


def test_every_method_ranks_each_probe_and_a_far_true_match_shows_its_rank(
    tmp_path: Path,
) -> None:
    imgs = [str(p) for p in write_images(tmp_path / "imgs", 4)]
    near = RankedQuery(imgs[0], [RankedMatch(imgs[1], 0.1, True), RankedMatch(imgs[2], 0.2, False)])
    near.true_match = (1, near.matches[0])
    far = RankedQuery(
        imgs[0],
        [RankedMatch(imgs[2], 0.1, False), RankedMatch(imgs[3], 0.2, False)],
        true_match=(17, RankedMatch(imgs[1], 0.93, True)),
    )
    ranked = {"baseline": {"synth-viper": [far]}, "episodic": {"synth-viper": [near]}}
    table = '<table><tr><td>Ours</td><td class="best">13.8 ± 2.1</td></tr></table>'
    page = write_report(
        tmp_path / "report.html", title="t", intro="", table_html=table, curves={}, ranked=ranked
    ).read_text()

    assert re.search(r"th,td\{[^}]*white-space:nowrap", page)  # "13.8 ± 2.1" on one line
    assert '<span class="best">Bold on green</span>' in page and "best mean" in page
    rows = re.findall(r'<div class="q"><div class="who">([^<]+)</div>(.*?)</div>\n?', page)
    assert [who for who, _ in rows] == ["Baseline", "Ours"]
    baseline, ours = rows[0][1], rows[1][1]
    assert "&hellip;" in baseline and "<figcaption>17: 0.93</figcaption>" in baseline
    assert baseline.count('class="hit"') == 1 and baseline.count('class="miss"') == 2
    assert "&hellip;" not in ours  # its true match is shown at rank 1
    assert "not in the top 2, it follows the dots with its rank" in " ".join(page.split())
