"""The run configuration as dataclasses. Defaults are the CPU-sized synthetic setting; the paper's
setting lives in ``configs/paper/``."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    #: synthetic data only: the generator version data.root must hold (dgreid synth --version;
    #: 3 = dgreid.data.synth.VERSION) and the switched-on shift families of versions 2 and 3
    #: ("all", "none" or names such as [viewpoint, geometry]); another root is an error
    synth_version: int = 3
    synth_shifts: list[str] = field(default_factory=lambda: ["all"])


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
class MethodConfig:
    """Which method and its loss weights."""

    name: str = "episodic"
    label_smooth: float = 0.1
    margin: float = 0.3
    lambda_tri: float = 0.2
    lambda_consis: float = 0.01
    lambda_domain: float = 0.1  # DANN: weight of the domain-adversarial loss
    #: baseline, dualnorm, dann: the id classifier sees a BNNeck copy of the feature (also the
    #: test feature); false = the paper's baseline (classifier on the feature)
    bnneck: bool = False
    #: baseline, dualnorm, dann: weight of a batch-hard triplet loss (margin) on the feature
    feature_tri: float = 0.0
    stage1_epochs: int = 0  # episodic: epochs of each F_i; 0 = same as train.epochs
    #: episodic: epochs of the stage-0 network (F's network trained on the union of the
    #: sources, from ImageNet weights where they exist: F's start and the F_i's; as many
    #: iterations per epoch as an average domain's); 0 = stage1_epochs
    stage0_epochs: int = 0
    #: episodic: L_tri and L_consis on L2-normalised E outputs (scale- and width-free), and
    #: the test feature E(F(x)) L2-normalised too; false = on raw outputs (as before)
    normalize: bool = False
    #: episodic: what F_i hands to E: "raw" (pooled backbone feature) or "neck" (its BNNeck)
    extractor_feature: str = "raw"
    #: episodic: where F starts: "shared" (the stage-0 network, as in the paper every network
    #: shares one start) or "own" (its ImageNet / user weights, or its random initialisation)
    f_start: str = "shared"
    #: episodic_plus: the test feature: "backbone" (F's pooled feature, before any BatchNorm),
    #: "concat" ([F's neck feature, E(F(x))], each L2-normalised) or "encoder" (E(F(x)), the paper)
    test_feature: str = "backbone"
    f_tri: float = 0.0  # episodic_plus: weight of a triplet loss on F's pooled feature
    f_id: float = 0.0  # episodic_plus: weight of an id loss on F's feature through a BNNeck
    mixed_episodes: bool = False  # episodic_plus: PK batches over all sources, j, k per image
    #: episodic methods: iterations at the start of stage 2 in which F receives no gradient
    #: (the new projection, E and C learn on F's stage-0 start first); 0 = none
    head_warmup: int = 0
    #: episodic methods: F's projection to the extractors' width starts as "random" or as the
    #: "identity" (when the widths are equal)
    proj_init: str = "random"
    #: episodic: stage-1 LR milestones (epochs); empty = train.lr_steps
    stage1_lr_steps: list[int] = field(default_factory=list)
    #: episodic: where trained stage-1 extractors are kept and reused ("" = RUN/stage1)
    stage1_dir: str = ""


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
    split_seed: int = 0
    splits_file: str = ""
    batch_size: int = 128
    flip: bool = False
    metric: str = "euclidean"  # euclidean | cosine


@dataclass
class Config:
    """A whole run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output_dir: str = "runs/default"
