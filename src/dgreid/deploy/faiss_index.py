"""A faiss index over gallery features: built once, saved, reused while the gallery is unchanged.

faiss is an optional extra (``pip install 'dgreid[faiss]'``). Two kinds: ``flat`` (exact,
IndexFlatL2 / IndexFlatIP) and ``ivf`` (IndexIVFFlat: approximate, for large galleries). Cosine
search L2-normalises both sides and uses inner product. Distances returned match the exact path:
Euclidean distance (not squared) or ``1 - cosine similarity``.

On disk: ``<index path>`` holds the serialised index; ``<index path>.json`` its fingerprint
(SHA-256 of the gallery features plus the index settings). A saved index is reused only when the
fingerprint matches the gallery being searched.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_bytes, atomic_write_json

KINDS = ("flat", "ivf")
METRICS = ("euclidean", "cosine")


class FaissError(DgreidError):
    """faiss is missing, or an index cannot be built or read."""


def import_faiss() -> Any:
    """The faiss module, or a clear error saying how to install it."""
    try:
        import faiss
    except ImportError as e:
        raise FaissError(
            "--index faiss needs the optional faiss package: pip install 'dgreid[faiss]' "
            "(or use --index exact)"
        ) from e
    return faiss


@dataclass(frozen=True)
class IndexSpec:
    """How to index: ``kind`` flat | ivf, ``metric``; IVF cells (0 = about sqrt(N)) and the
    number of cells visited per query."""

    kind: str = "flat"
    metric: str = "euclidean"
    nlist: int = 0
    nprobe: int = 32

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaissError(f"index kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.metric not in METRICS:
            raise FaissError(f"metric {self.metric!r}: expected one of {', '.join(METRICS)}")


def _prepare(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def fingerprint(features: np.ndarray, spec: IndexSpec) -> str:
    """SHA-256 of the gallery features (shape, bytes) and the index settings that shape it."""
    h = hashlib.sha256()
    feats = np.ascontiguousarray(features, dtype=np.float32)
    h.update(f"{feats.shape}|{spec.kind}|{spec.metric}|{spec.nlist}".encode())
    h.update(feats.data)  # no copy of a large gallery
    return h.hexdigest()


def _nlist(spec: IndexSpec, n: int) -> int:
    nlist = spec.nlist or int(round(math.sqrt(n)))
    return max(1, min(nlist, n // 39 or 1))  # faiss wants ~39 training points per cell


class GalleryIndex:
    """A built faiss index; ``search`` returns (distances, indices) like the exact path."""

    def __init__(self, index: Any, spec: IndexSpec, fp: str) -> None:
        self.index = index
        self.spec = spec
        self.fingerprint = fp

    @classmethod
    def build(cls, gallery: np.ndarray, spec: IndexSpec, seed: int = 0) -> GalleryIndex:
        faiss = import_faiss()
        x = _prepare(gallery, spec.metric)
        n, d = x.shape
        ip = spec.metric == "cosine"
        if spec.kind == "flat":
            index = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
        else:
            nlist = _nlist(spec, n)
            quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
            mt = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
            index = faiss.IndexIVFFlat(quantizer, d, nlist, mt)
            rng = np.random.default_rng(seed)
            sample = x[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))]
            index.cp.seed = seed
            index.train(sample)
            index.nprobe = min(spec.nprobe, nlist)
        index.add(x)
        return cls(index, spec, fingerprint(gallery, spec))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, int(self.index.ntotal))
        scores, idx = self.index.search(_prepare(query, self.spec.metric), k)
        if self.spec.metric == "cosine":
            dist = 1.0 - scores
        else:
            dist = np.sqrt(np.maximum(scores, 0.0))
        return dist.astype(np.float32), idx.astype(np.int64)

    def save(self, path: str | Path) -> None:
        """Write the index and its fingerprint sidecar (``path`` + ``.json``) atomically."""
        faiss = import_faiss()
        atomic_write_bytes(path, faiss.serialize_index(self.index).tobytes())
        info = {
            "fingerprint": self.fingerprint,
            "ntotal": int(self.index.ntotal),
            **asdict(self.spec),
        }
        atomic_write_json(f"{path}.json", info)

    @classmethod
    def load_if_matching(
        cls, path: str | Path, gallery: np.ndarray, spec: IndexSpec
    ) -> GalleryIndex | None:
        """The saved index at ``path`` if its fingerprint matches ``gallery``; else ``None``."""
        path, side = Path(path), Path(f"{path}.json")
        if not (path.is_file() and side.is_file()):
            return None
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        fp = fingerprint(gallery, spec)
        if not isinstance(info, dict) or info.get("fingerprint") != fp:
            return None
        faiss = import_faiss()
        try:
            index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
        except RuntimeError as e:
            raise FaissError(f"{path}: cannot read the saved faiss index ({e}); delete it") from e
        if spec.kind == "ivf":
            index.nprobe = min(spec.nprobe, index.nlist)
        return cls(index, spec, fp)


def default_index_path(gallery_source: str | Path, spec: IndexSpec, folder: str | Path) -> Path:
    """``<folder>/<gallery>.<kind>-<metric>.faiss``: named after the gallery folder or feature
    file, kept in ``folder`` (where the search writes its results; never the image folder)."""
    src = Path(gallery_source)
    stem = src.name[: -len(src.suffix)] if src.suffix == ".npz" else src.name
    return Path(folder) / f"{stem}.{spec.kind}-{spec.metric}.faiss"


def open_index(gallery: np.ndarray, spec: IndexSpec, path: str | Path) -> tuple[GalleryIndex, bool]:
    """Reuse the index saved at ``path`` when it matches, else build and save it.

    Returns ``(index, reused)``.
    """
    found = GalleryIndex.load_if_matching(path, gallery, spec)
    if found is not None:
        return found, True
    built = GalleryIndex.build(gallery, spec)
    built.save(path)
    return built, False
