"""The protocol runner end to end on tiny image files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dgreid.evaluation.metrics import EvaluationError
from dgreid.evaluation.protocol import (
    METRIC_KEYS,
    ProtocolResult,
    SplitResult,
    TargetResult,
    format_table,
    result_to_dict,
    run_protocol,
    write_protocol_outputs,
)
from dgreid.evaluation.splits import SplitsFileError, load_splits, make_splits
from dgreid.structures import ImageRecord, ReIDDataset


class MeanColour(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def colour(pid: int, noise: int) -> tuple[int, int, int]:
    return (20 * pid % 256, 255 - 20 * pid % 256, (37 * pid + noise) % 256)


def viper_like(root, n_ids: int = 8) -> ReIDDataset:
    """cam_a / cam_b, one image per id per camera; colour encodes the id (camera b shifted)."""
    recs = []
    for cam, sub in enumerate(("cam_a", "cam_b")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for p in range(n_ids):
            path = root / sub / f"{p:03d}_{sub[-1]}.png"
            Image.new("RGB", (8, 16), colour(p, 3 * cam)).save(path)
            recs.append(ImageRecord(str(path), p, cam))
    return ReIDDataset("viper", root, recs, protocol="viper")


def market_like(root) -> ReIDDataset:
    root.mkdir(parents=True, exist_ok=True)
    q, g = [], []
    for p in range(5):
        for cam, group in ((0, q), (1, g), (2, g)):
            path = root / f"{p:04d}_c{cam}.png"
            Image.new("RGB", (8, 16), colour(p, cam)).save(path)
            group.append(ImageRecord(str(path), p, cam))
    return ReIDDataset("market", root, q + g, query=q, gallery=g)


def test_end_to_end_and_repeat_from_saved_splits(tmp_path):
    viper = viper_like(tmp_path / "viper")
    market = market_like(tmp_path / "market")
    splits = {"viper": make_splits(viper, num_splits=3, seed=0, num_test_ids=5)}
    splits["market"] = make_splits(market)
    targets = {"viper": viper, "market": market}
    kw = dict(batch_size=4, height=16, width=8, progress=False)
    result = run_protocol(MeanColour(), targets, splits=splits, **kw)

    v = result.targets["viper"]
    assert len(v.splits) == 3 and v.splits[0].num_query == 5 and v.splits[0].num_gallery == 5
    assert v.mean["rank1"] == pytest.approx(1.0) and v.std["rank1"] == pytest.approx(0.0)
    assert result.targets["market"].mean["mAP"] == pytest.approx(1.0)
    assert result.average["rank1"] == pytest.approx(1.0)

    table = format_table(result)
    assert "viper" in table and "average" in table and "100.0 ± 0.0" in table and "+-" not in table

    paths = write_protocol_outputs(tmp_path / "run", result)
    data = json.loads(paths["results"].read_text())
    assert data == json.loads(json.dumps(result_to_dict(result)))
    assert len(data["targets"]["viper"]["splits"]) == 3
    again = run_protocol(MeanColour(), targets, splits=load_splits(paths["splits"]), **kw)
    assert result_to_dict(again) == result_to_dict(result)


def test_imperfect_model_metrics_match_direct_evaluation(tmp_path):
    """A model that ignores colour ranks by gallery index: rank-1 is 1/5 for 5 ids."""
    viper = viper_like(tmp_path / "viper", n_ids=5)

    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 3)

    splits = {"viper": make_splits(viper, num_splits=2, seed=1, num_test_ids=5)}
    r = run_protocol(
        Constant(), {"viper": viper}, splits=splits, height=16, width=8, progress=False
    )
    s = r.targets["viper"].splits[0]
    # all distances tie -> ranked list is the gallery order; the query of gallery position i
    # finds its match at rank i + 1
    np.testing.assert_allclose(s.cmc[:5], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert s.metrics["mAP"] == pytest.approx(np.mean(1 / np.arange(1, 6)))


def test_saved_splits_must_cover_every_target(tmp_path):
    viper = viper_like(tmp_path / "viper")
    with pytest.raises(SplitsFileError, match="no target 'viper'"):
        run_protocol(MeanColour(), {"viper": viper}, splits={}, progress=False)


def test_custom_distance_fn_is_used(tmp_path):
    """A distance that reverses the order of the Euclidean one turns perfect rank-1 into 0."""
    viper = viper_like(tmp_path / "viper", n_ids=5)
    splits = {"viper": make_splits(viper, num_splits=1, seed=0, num_test_ids=5)}

    def negated(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(q, g)

    kw = dict(splits=splits, height=16, width=8, progress=False)
    r = run_protocol(MeanColour(), {"viper": viper}, distance_fn=negated, **kw)
    assert r.metric == "custom" and r.targets["viper"].mean["rank1"] == 0.0
    with pytest.raises(EvaluationError, match="distance_fn returned shape"):
        run_protocol(MeanColour(), {"viper": viper}, distance_fn=lambda q, g: q, **kw)


def target(name: str, splits: list[dict[str, float]]) -> TargetResult:
    """A target's result from its splits' metrics (fractions)."""
    table = np.array([[m[k] for k in METRIC_KEYS] for m in splits])
    return TargetResult(
        name,
        [SplitResult(m, [], 5, 5, 0) for m in splits],
        dict(zip(METRIC_KEYS, table.mean(0).tolist())),
        dict(zip(METRIC_KEYS, table.std(0).tolist())),
    )


def metrics(rank1: float, mAP: float, mINP: float) -> dict[str, float]:
    return {"rank1": rank1, "rank5": 0.9, "rank10": 0.95, "rank20": 1.0, "mAP": mAP, "mINP": mINP}


def protocol_result(*targets: TargetResult) -> ProtocolResult:
    average = {k: float(np.mean([t.mean[k] for t in targets])) for k in METRIC_KEYS}
    return ProtocolResult({t.name: t for t in targets}, average, "cosine")


def test_single_shot_targets_say_minp_is_map_and_one_split_has_no_spread() -> None:
    viper = target("viper", [metrics(0.25, 0.4, 0.4), metrics(0.35, 0.5, 0.5)])
    market = target("market", [metrics(0.5, 0.3, 0.1)])  # one split, several matches a query
    table = format_table(protocol_result(viper, market))
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert rows["viper"].endswith(
        "30.0 ± 5.0  90.0 ± 0.0  95.0 ± 0.0  100.0 ± 0.0  45.0 ± 5.0  = mAP"
    )
    assert rows["market"].split()[2:] == ["50.0", "90.0", "95.0", "100.0", "30.0", "10.0"]
    assert "±" not in rows["market"] and "+-" not in table

    only_single_shot = format_table(protocol_result(viper))
    assert "mINP" not in only_single_shot.splitlines()[0]
    assert only_single_shot.splitlines()[-1] == (
        "mINP not shown: it equals mAP on every split (one true match per query)"
    )


def test_rerank_ranks_each_split_by_the_re_ranked_distances(tmp_path):
    """With ``rerank`` each split is scored on k_reciprocal_rerank of its distances (query-query
    and gallery-gallery from the same features), and the result records the parameters."""
    from dgreid.evaluation import Rerank, compute_distance, compute_rank_metrics
    from dgreid.evaluation.rerank import k_reciprocal_rerank

    class Noisy(nn.Module):  # mean colour plus a fixed per-image offset: an imperfect model
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = x.mean((2, 3))
            return f + 1.0 * torch.sin(37.0 * f.sum(1, keepdim=True) + torch.arange(3.0))

    market = market_like(tmp_path / "market")
    splits = {"market": make_splits(market)}
    params = Rerank(k1=3, k2=2, lambda_value=0.2)
    kw = dict(splits=splits, height=16, width=8, progress=False)
    plain = run_protocol(Noisy(), {"market": market}, **kw)
    got = run_protocol(Noisy(), {"market": market}, rerank=params, **kw)

    split = splits["market"][0]
    from dgreid.evaluation import extract_features

    def feats(records):
        return extract_features(Noisy(), records, 4, "cpu", False, 16, 8, 0, False).features

    qf, gf = feats(split.query), feats(split.gallery)
    dist = k_reciprocal_rerank(
        compute_distance(qf, gf), compute_distance(qf, qf), compute_distance(gf, gf), 3, 2, 0.2
    )
    labels = [np.array([getattr(r, a) for r in rs]) for a in ("pid", "camid")
              for rs in (split.query, split.gallery)]  # fmt: skip
    want = compute_rank_metrics(dist, labels[0], labels[1], labels[2], labels[3], max_rank=50)
    s = got.targets["market"].splits[0]
    assert s.metrics["mAP"] == pytest.approx(want.mAP)
    assert s.cmc[:10] == pytest.approx(want.cmc[:10])
    # two gallery images per identity: here re-ranking mends much of the noise
    assert s.metrics["mAP"] > plain.targets["market"].mean["mAP"] + 0.1
    assert result_to_dict(got)["rerank"] == {"k1": 3, "k2": 2, "lambda_value": 0.2}
    assert result_to_dict(plain)["rerank"] is None
    assert "k-reciprocal re-ranked (k1=3, k2=2, lambda=0.2)" in format_table(got)
    assert "re-ranked" not in format_table(plain)


def test_rerank_with_a_method_distance_refuses_negative_distances(tmp_path):
    viper = viper_like(tmp_path / "viper", n_ids=5)
    splits = {"viper": make_splits(viper, num_splits=1, seed=0, num_test_ids=5)}

    def negated(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(q, g)

    from dgreid.evaluation import Rerank, RerankError

    kw = dict(splits=splits, height=16, width=8, progress=False, rerank=Rerank())
    with pytest.raises(RerankError, match="q_g holds negative distances"):
        run_protocol(MeanColour(), {"viper": viper}, distance_fn=negated, **kw)
    ok = run_protocol(MeanColour(), {"viper": viper}, distance_fn=torch.cdist, **kw)
    assert ok.metric == "custom" and ok.targets["viper"].mean["rank1"] == pytest.approx(1.0)
