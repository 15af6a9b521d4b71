"""The run configuration as dataclasses. Defaults are the CPU-sized synthetic setting; the paper's
setting lives in ``configs/paper/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class DataConfig:
    """Where the data is and how it is batched."""

    root: str = "data"
    sources: list[str] = field(
        default_factory=lambda: ["synth-market", "synth-duke", "synth-cuhk02", "synth-cuhk03"]
    )
    targets: list[str] = field(
        default_factory=lambda: ["synth-grid", "synth-ilids", "synth-prid", "synth-viper"]
    )
    height: int = 64
    width: int = 32
    num_instances: int = 4  # K of a PK batch
    batch_size: int = 32  # P * K
    workers: int = 0
    #: decoded-image cache: "auto" = decode every training image once and keep it resized as
    #: uint8 in memory when that fits data.cache_budget_mb (else decode on the fly, logged once);
    #: "memory" = always cache (an error when over the budget); "none" = decode on the fly.
    #: The batches are bit-identical either way; the cache only makes them faster.
    cache: str = "auto"
    #: memory the cache may take, in MB (2**20 bytes; height x width x 3 bytes per image)
    cache_budget_mb: int = 2048
    #: fraction of each source's identities held out for a source-domain test (0 = use all).
    source_holdout: float = 0.0
    #: which images of each source train: "all" (train + query + gallery, the classic DG
    #: protocol) or "train" (its published training split alone)
    source_images: str = "all"
    #: synthetic data only: the generator version data.root must hold (dgreid synth --version;
    #: 3 = dgreid.data.synth.VERSION) and the switched-on shift families of versions 2 and 3
    #: ("all", "none" or names such as [viewpoint, geometry]); another root is an error
    synth_version: int = 3
    synth_shifts: list[str] = field(default_factory=lambda: ["all"])
    #: training augmentation (every method; dgreid.data.transforms.Augmentation). Each image is
    #: flipped at random, zero-padded by data.pad pixels a side and cropped back at random;
    #: the rest is off at 0 / false. color_jitter: strength s, brightness, contrast and
    #: saturation scaled by factors in [max(0, 1 - s), 1 + s]; grayscale: probability of gray;
    #: augmix: AugMix (torchvision's defaults); erasing: probability of random erasing.
    pad: int = 10
    color_jitter: float = 0.0
    grayscale: float = 0.0
    erasing: float = 0.0
    augmix: bool = False


@dataclass
class ModelConfig:
    """Networks. ``backbone`` is F (or the single network of a baseline); ``extractor`` the
    per-domain F_i of the episodic method."""

    backbone: str = "mobilenetv2_dualnorm"
    extractor: str = "resnet18"
    pretrained: str = "auto"  # PATH | auto | none
    #: width of E's hidden layer and output (the re-ID feature). The width of F_i's features
    #: (E's input) is the extractors' own output width, not a key.
    embed_dim: int = 256
    width_mult: float = 1.0
    channels_last: bool = False
    sync_bn: bool = False


@dataclass
class MethodSettings:
    """A method's own config keys, ``method.<field>``: a subclass declared beside the method,
    with typed and defaulted fields and a rule for each (``rules``: field -> a
    :class:`~dgreid.config.checks.Rule`), registered with the method
    (:func:`dgreid.methods.registry.register_method`). This base has none."""

    rules: ClassVar[dict[str, Any]] = {}


def _default_own() -> MethodSettings:
    from dgreid.methods.registry import settings_type

    return settings_type(MethodConfig.name)()


@dataclass
class MethodConfig:
    """Which method: the keys every method reads, and the chosen method's own (``own``; in a
    file or an override they sit beside the common ones, ``method.lambda_tri``)."""

    name: str = "episodic"
    label_smooth: float = 0.1
    margin: float = 0.3  # of the batch-hard triplet losses
    own: MethodSettings = field(default_factory=_default_own)

    @classmethod
    def of(cls, name: str, **own: Any) -> MethodConfig:
        """Method ``name`` with its settings type's defaults but for ``own``; the common keys
        at their defaults (assigning ``name`` alone would keep another method's settings)."""
        from dgreid.methods.registry import settings_type

        return cls(name=name, own=settings_type(name)(**own))


@dataclass
class TrainConfig:
    """Optimisation and loop."""

    epochs: int = 10
    iters_per_epoch: int = 0  # 0 = number of source images / batch size
    lr: float = 0.01
    #: sgd (with momentum) | adam (momentum unused; weight_decay as L2 in the gradient)
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_steps: list[int] = field(default_factory=lambda: [7])
    gamma: float = 0.1
    warmup_iters: int = 0  # linear warm-up of the learning rate over the first iterations
    #: the pretrained backbone's learning rate relative to the new heads' (fine-tuning: < 1)
    backbone_lr_mult: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "none"  # none | bf16 | fp16
    #: torch CPU threads; 0 = automatic (cores / local processes, one left for data workers,
    #: or OMP_NUM_THREADS when set), > 0 = exactly that many
    threads: int = 0
    log_every: int = 10
    eval_every: int = 0  # epochs; 0 = only at the end
    max_iters: int = 0  # stop after this many iterations in all (0 = no limit; smoke tests)
    #: also write every logged scalar as TensorBoard events under RUN/tensorboard/ (needs the
    #: tensorboard package: pip install 'dgreid[tensorboard]')
    tensorboard: bool = False


@dataclass
class EvalConfig:
    """The DG protocol on the targets."""

    num_splits: int = 10
    #: test identities per split (0 = the protocol's number; smaller for tiny targets)
    num_test_ids: int = 0
    #: a target without a protocol or query/gallery of its own (e.g. custom:NAME with only
    #: training images): test ids per split (0 = half of those seen by both camera groups),
    #: one random probe-camera and one random gallery-camera image each (camids, 0-based)
    test_ids: int = 0
    probe_cams: list[int] = field(default_factory=lambda: [0])
    gallery_cams: list[int] = field(default_factory=lambda: [1])
    #: every target is evaluated once on its own query/gallery (Market-1501, DukeMTMC-reID,
    #: MSMT17, CUHK03 with its 767/700 split file); a target without them is an error, never
    #: split at random (the leave-one-out protocols of configs/protocols/)
    own_query_gallery: bool = False
    split_seed: int = 0
    splits_file: str = ""
    batch_size: int = 128
    flip: bool = False
    metric: str = "euclidean"  # euclidean | cosine
    #: k-reciprocal re-ranking of each split's distances (Zhong et al. 2017); off by default. It
    #: helps where the gallery holds several images per identity, not on a single-shot gallery
    rerank: bool = False
    rerank_k1: int = 20  # k-reciprocal neighbours (the published 20, 6, 0.3)
    rerank_k2: int = 6  # neighbours averaged in the local query expansion (1 = none)
    rerank_lambda: float = 0.3  # weight of the original distance against the Jaccard distance


@dataclass
class Config:
    """A whole run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output_dir: str = "runs/default"
