"""Evaluation: rank metrics, distances and top-k search, feature extraction, target splits and
the DG protocol runner."""

from dgreid.evaluation.distance import compute_distance, topk_search
from dgreid.evaluation.metrics import (
    EvaluationError,
    RankMetrics,
    compute_rank_metrics,
    evaluate_rank,
)

__all__ = [
    "EvaluationError",
    "RankMetrics",
    "compute_distance",
    "compute_rank_metrics",
    "evaluate_rank",
    "topk_search",
]
