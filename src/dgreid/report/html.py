"""Self-contained HTML reports: one file with a table, CMC curves and ranked lists (the demo's:
:func:`write_demo_report`), and a training run's own (:func:`write_run_report`).

Pictures are embedded as data URIs, so ``report.html`` opens in any browser, from any folder,
without a server.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from dgreid.deploy.ranked_html import RankedQuery
from dgreid.report.tables import CompareResult, display_name, results_table_html, verdict_lines
from dgreid.utils.io import atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}
.best{font-weight:bold;background:#e7f6e7}.curves img{width:320px;margin:4px}
.training img{max-width:100%}
.q{display:flex;gap:3px;align-items:flex-end;
margin:6px 0}.q figure{margin:0;text-align:center;font-size:10px}.q img{width:40px;height:80px;
image-rendering:pixelated;border:3px solid #ddd}.q .probe img{border-color:#36c}
.q .hit img{border-color:#2a2}.q .miss img{border-color:#d33}.note{color:#555}
.q .who{width:7em;align-self:center;font-size:12px}.q .gap{align-self:center;padding:0 4px}
"""


def data_uri_png(path: str | Path, size: tuple[int, int] | None = None) -> str:
    """A PNG data URI of an image file, optionally resized to ``(width, height)``."""
    with Image.open(path) as src:
        rgb = src.convert("RGB")
    if size is not None:
        rgb = rgb.resize(size)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(path: str, cls: str, caption: str) -> str:
    return (
        f'<figure class="{cls}"><img src="{data_uri_png(path, (32, 64))}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _ranked_row(q: RankedQuery, label: str) -> str:
    """``label``, the probe, its ranked gallery and, when the true match is not among them,
    that match with its rank."""
    cells = [f'<div class="who">{html.escape(label)}</div>', _figure(q.path, "probe", "probe")]
    for rank, m in enumerate(q.matches, 1):
        cells.append(_figure(m.path, "hit" if m.is_match else "miss", f"{rank}: {m.distance:.2f}"))
    if q.true_match is not None and q.true_match[0] > len(q.matches):
        rank, m = q.true_match
        cells.append('<span class="gap">&hellip;</span>')
        cells.append(_figure(m.path, "hit", f"{rank}: {m.distance:.2f}"))
    return f'<div class="q">{"".join(cells)}</div>'


def _ranked_section(ranked: Mapping[str, Mapping[str, Sequence[RankedQuery]]]) -> str:
    """Per target, each probe ranked by every method in turn (``ranked``: method -> target ->
    probes, the same probes for every method)."""
    targets = list(dict.fromkeys(t for per_method in ranked.values() for t in per_method))
    parts = []
    for t in targets:
        rows = []
        probes = max(len(per_method.get(t, [])) for per_method in ranked.values())
        for i in range(probes):
            for method, per_method in ranked.items():
                if i < len(per_method.get(t, [])):
                    rows.append(_ranked_row(per_method[t][i], display_name(method)))
        parts.append(f"<h3>{html.escape(t)}</h3>\n" + "\n".join(rows))
    return "\n".join(parts)


def write_report(
    path: str | Path,
    *,
    title: str,
    intro: str,
    table_html: str,
    curves: Mapping[str, Path],
    ranked: Mapping[str, Mapping[str, Sequence[RankedQuery]]],
    footer: str = "",
) -> Path:
    """Write the report; ``table_html`` is an HTML table, ``curves`` target -> PNG path,
    ``ranked`` method -> target -> a few probes with their ranked gallery."""
    curve_imgs = "".join(
        f'<img alt="CMC {html.escape(t)}" src="{data_uri_png(p)}">' for t, p in curves.items()
    )
    body = f"""{intro}
<h2>Results on unseen target domains</h2>
{table_html}
<p class="note">Percent, mean ± std over the splits. <span class="best">Bold on green</span>:
the best mean of its column.</p>
<h2>CMC curves</h2>
<div class="curves">{curve_imgs}</div>
<h2>Ranked galleries</h2>
<p class="note">Each probe (blue) as every method ranks the gallery, nearest first, with the
distance; a green frame marks the true match, red the others. When the true match is not in
the top {_shown(ranked)}, it follows the dots with its rank.</p>
{_ranked_section(ranked)}
{footer}"""
    return _write_page(path, title, body)


def _write_page(path: str | Path, title: str, body: str) -> Path:
    """Write, atomically, a page titled ``title`` holding ``body`` under the heading."""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""
    path = Path(path)
    atomic_write_text(path, page)
    return path


def _shown(ranked: Mapping[str, Mapping[str, Sequence[RankedQuery]]]) -> int:
    """How many gallery images each ranked list shows."""
    return max(
        (
            len(q.matches)
            for per_method in ranked.values()
            for qs in per_method.values()
            for q in qs
        ),
        default=0,
    )


def write_demo_report(
    path: str | Path,
    result: CompareResult,
    ranked: Mapping[str, Mapping[str, Sequence[RankedQuery]]],
    *,
    quick: bool,
    runs_dir: Path,
    seconds: float,
) -> Path:
    """The demo's report: what it ran, the verdict sentences, the results table, the CMC curves
    of ``result`` and every method's ``ranked`` lists; ``seconds`` is its wall time."""
    verdict = "".join(f"<p>{line}</p>" for line in verdict_lines(result))
    intro = (
        "<p>dgreid rendered a synthetic benchmark of eight camera networks, trained three "
        "methods on the four <em>source</em> networks (synth-market, synth-duke, synth-cuhk02, "
        "synth-cuhk03) and evaluated them, with the 10-split single-shot protocol, on four "
        "<em>target</em> networks none of them saw in training (synth-grid, synth-ilids, "
        "synth-prid, synth-viper). Baseline: one network with id cross-entropy and a triplet "
        "loss. DualNorm: a network with instance normalisation in its early layers, id "
        "cross-entropy alone (its best recipe here). Ours: per-domain extractors, "
        f"then cross-domain episodic training.{' (quick budget)' if quick else ''}</p>" + verdict
    )
    footer = (
        f"<p class='note'>Run folders, configs and results.json: {html.escape(str(runs_dir))}."
        f" Wall time {seconds:.0f} s.</p>"
    )
    curves = {t: p for k, p in result.files.items() if k.startswith("cmc_") for t in [k[4:]]}
    return write_report(
        path,
        title="dgreid demo: domain-generalized re-ID on a synthetic benchmark",
        intro=intro,
        table_html=results_table_html(result),
        curves=curves,
        ranked=ranked,
        footer=footer,
    )


def write_run_report(
    path: str | Path,
    *,
    title: str,
    facts: Mapping[str, str],
    tables: Mapping[str, str],
    curves: Path | None,
) -> Path:
    """A training run's report: ``facts`` (label -> value), ``tables`` (heading -> text table)
    and the training curves, embedded, with a link to the PNG ``curves`` beside the report;
    without curves (nothing logged) a line says so instead of a picture."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
    )
    parts = [f"<table>{rows}</table>"] if rows else []
    for heading, table in tables.items():
        parts.append(f"<h2>{html.escape(heading)}</h2>\n<pre>{html.escape(table)}</pre>")
    parts.append("<h2>Training curves</h2>")
    if curves is None:
        parts.append('<p class="note">No training metrics were logged (metrics.jsonl).</p>')
    else:
        name = html.escape(curves.name)
        parts.append(
            f'<div class="training"><a href="{name}"><img alt="training curves" '
            f'src="{data_uri_png(curves)}"></a></div>\n<p class="note">Each loss term (mean over '
            f"train.log_every iterations) and the learning rate against iterations; {name} "
            "beside this report.</p>"
        )
    return _write_page(path, title, "\n".join(parts))
