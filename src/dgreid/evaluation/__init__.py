"""Evaluation: rank metrics, distances and top-k search, k-reciprocal re-ranking, feature
extraction, target splits and the DG protocol runner."""

from dgreid.evaluation.distance import compute_distance, topk_search
from dgreid.evaluation.extract import FeatureSet, extract_features
from dgreid.evaluation.metrics import (
    EvaluationError,
    RankMetrics,
    compute_rank_metrics,
    evaluate_rank,
)
from dgreid.evaluation.protocol import (
    ProtocolResult,
    format_table,
    result_to_dict,
    run_protocol,
    write_protocol_outputs,
)
from dgreid.evaluation.rerank import (
    Rerank,
    RerankError,
    check_rerank_size,
    k_reciprocal_rerank,
    rerank_bytes,
)
from dgreid.evaluation.splits import Split, SplitsFileError, load_splits, make_splits, save_splits

__all__ = [
    "EvaluationError",
    "FeatureSet",
    "ProtocolResult",
    "RankMetrics",
    "Rerank",
    "RerankError",
    "Split",
    "SplitsFileError",
    "check_rerank_size",
    "compute_distance",
    "compute_rank_metrics",
    "evaluate_rank",
    "extract_features",
    "format_table",
    "k_reciprocal_rerank",
    "load_splits",
    "make_splits",
    "rerank_bytes",
    "result_to_dict",
    "run_protocol",
    "save_splits",
    "topk_search",
    "write_protocol_outputs",
]
