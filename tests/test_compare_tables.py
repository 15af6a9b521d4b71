"""The comparison tables: the paper's layout, every cell filled, the best mean marked."""

from __future__ import annotations

from pathlib import Path

from dgreid.report.tables import CompareResult, MethodSummary, tables_markdown, text_table

TARGETS = ["grid", "ilids", "prid", "viper"]


def summary(name: str, r1: float) -> MethodSummary:
    s = MethodSummary(name, [Path(f"runs/{name}")])
    s.rank1 = {t: (r1 + 0.01 * i, 0.02) for i, t in enumerate(TARGETS)}
    s.mAP = {t: (r1 / 2, 0.01) for t in TARGETS}
    s.cmc = {t: [r1] * 20 for t in TARGETS}
    s.avg_rank1, s.avg_mAP = (r1 + 0.015, 0.01), (r1 / 2, 0.005)
    return s


def result(paper: bool) -> CompareResult:
    names = ["baseline", "dann", "dualnorm", "dimn", "episodic", "episodic_no_tri"]
    methods = {n: summary(n, 0.1 * (i + 1)) for i, n in enumerate(names)}
    return CompareResult(methods, TARGETS, Path("runs"), paper_protocol=paper)


def test_three_tables_with_paper_rows_and_best_in_bold() -> None:
    md = tables_markdown(result(paper=True))
    for number in ("Table III", "Table IV", "Table V", "mAP (%) of every method"):
        assert number in md
    table3 = md.split("### Table III")[1].split("###")[0]
    rows = [line for line in table3.splitlines() if line.startswith("| ")][1:]
    # DIMN, DualNorm, Ours with the paper's numbers under each; Ours is best everywhere
    assert [r.split("|")[1].strip() for r in rows] == [
        "DIMN", "_DIMN (paper)_", "DualNorm", "_DualNorm (paper)_", "Ours", "_Ours (paper)_",
    ]  # fmt: skip
    ours = rows[4]
    assert ours.count("**") == 2 * 5  # five bold cells: four targets and the average
    assert "51.0 ± 2.0" in ours  # 0.5 + 0.01 for the first target, in percent
    assert "33.0" in rows[5] and "47.8" in rows[5]  # the paper's GRID and average for Ours
    # Table V: a missing ablation is simply absent; no empty cells anywhere
    assert "Ours w/o L_consis" not in md.split("### Table V")[1]
    assert "|  |" not in md


def test_no_paper_rows_off_the_paper_protocol() -> None:
    md = tables_markdown(result(paper=False))
    assert "(paper)" not in md


def test_the_terminal_table_writes_mean_and_spread_as_the_others_do() -> None:
    lines = text_table(result(paper=False)).splitlines()
    ours = next(line for line in lines if line[1:].startswith("Ours "))
    assert lines[0] == "rank-1 / mAP (%), mean ± std over splits"
    assert "51.0 ± 2.0 / 25.0" in ours and "+-" not in "".join(lines)
    assert [line[0] for line in lines[2:-1]] == [" "] * 5 + ["*"]  # the best average
    assert len({len(line) for line in lines[1:-1]}) == 1  # columns line up


def test_a_single_evaluation_shows_its_mean_without_a_spread() -> None:
    """One seed on a target's own query/gallery: one value, so no "± 0.0" anywhere."""
    from dgreid.report.tables import verdict_lines

    one = {"market1501": (0.5, None)}
    methods = {}
    for name, r1 in (("baseline", 0.4), ("episodic", 0.5)):
        s = MethodSummary(name, [Path(f"runs/{name}")])
        s.rank1, s.mAP = {"market1501": (r1, None)}, {"market1501": (r1 / 2, None)}
        s.cmc = {"market1501": [r1] * 20}
        s.avg_rank1, s.avg_mAP = (r1, None), (r1 / 2, None)
        methods[name] = s
    res = CompareResult(methods, list(one), Path("runs"), paper_protocol=False)
    md, text = tables_markdown(res), text_table(res)
    assert "| **50.0** | **50.0** |" in md and "± " not in md.split("\n", 1)[1]
    assert "50.0 / 25.0" in text and "±" not in text.split("\n", 1)[1]
    assert "spread over splits: none, one evaluation for it" in verdict_lines(res)[0]
