"""Published rank-1 numbers (average of 10 splits) from the paper's Tables III-V, as restated
in METHOD.md. Shown beside measured numbers when a comparison runs the paper protocol (its
four sources and four targets; with another source set the figures are not comparable)."""

from __future__ import annotations

SOURCES = ("market1501", "dukemtmc", "cuhk02", "cuhk03")
TARGETS = ("grid", "ilids", "prid", "viper")

#: method -> target -> rank-1 (%), plus "avg".
PAPER_RANK1: dict[str, dict[str, float]] = {
    "dimn": {"grid": 23.4, "ilids": 44.8, "prid": 13.1, "viper": 29.9, "avg": 27.8},
    "dualnorm": {"grid": 29.2, "ilids": 58.3, "prid": 54.3, "viper": 38.6, "avg": 45.1},
    "baseline": {"grid": 18.8, "ilids": 52.5, "prid": 14.8, "viper": 32.0, "avg": 29.5},
    "dann": {"grid": 29.0, "ilids": 57.2, "prid": 56.8, "viper": 37.8, "avg": 45.2},
    "episodic_no_tri": {"grid": 31.3, "ilids": 59.0, "prid": 55.8, "viper": 37.3, "avg": 45.8},
    "episodic_no_consis": {"grid": 30.6, "ilids": 60.3, "prid": 55.7, "viper": 40.1, "avg": 46.7},
    "episodic": {"grid": 33.0, "ilids": 62.3, "prid": 57.6, "viper": 38.5, "avg": 47.8},
}

#: The paper's three tables: title and the methods in its rows.
TABLES: list[tuple[str, str, list[str]]] = [
    ("III", "Comparison with DG re-ID methods", ["dimn", "dualnorm", "episodic", "episodic_plus"]),
    ("IV", "Comparison with the baseline and DANN", ["baseline", "dann", "episodic"]),
    ("V", "Ablation of the losses", ["episodic_no_tri", "episodic_no_consis", "episodic"]),
]

DISPLAY_NAMES: dict[str, str] = {
    "dimn": "DIMN",
    "dualnorm": "DualNorm",
    "baseline": "Baseline",
    "dann": "DANN",
    "episodic": "Ours",
    "episodic_no_tri": "Ours w/o L_tri",
    "episodic_no_consis": "Ours w/o L_consis",
    "episodic_plus": "Ours+ (episodic_plus)",
}
