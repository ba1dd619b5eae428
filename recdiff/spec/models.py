"""The spec model tree: one pydantic model per section, unknown keys rejected everywhere.

The docs' spec reference is generated from these models, so every field carries its
description here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recdiff.metric_names import canonical_metric, metric_cutoff

SEED_LIMIT = 2**32
"""Seeds must be below this: NumPy's global seed (`seed_everything`) takes 32 bits."""


class StrictModel(BaseModel):
    """Base of every spec section: unknown keys and non-finite numbers (`.inf`, `.nan`) are errors,
    assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ComponentSpec(StrictModel):
    """A registered component: its name and the parameters its entry declares.

    The parameters are checked against the entry's own pydantic model when the spec is
    resolved (a closed union could not hold plugin components).
    """

    name: str = Field(description="Registered name of the component (see `recdiff plugins KIND`).")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters, validated against the entry's parameter model."
    )


def _slot(default: str, description: str) -> Any:
    """A component field whose default is the registered component `default`."""
    return Field(default_factory=lambda: ComponentSpec(name=default), description=description)


class SyntheticSpec(StrictModel):
    """Built-in synthetic data: users walk item-to-item transitions inside a taste cluster."""

    users: int = Field(2000, ge=10, description="Number of users to generate.")
    items: int = Field(500, ge=10, description="Number of items.")
    clusters: int = Field(10, ge=1, description="Taste clusters; each user mostly stays in one.")
    successors: int = Field(3, ge=1, description="Likely next items of each item.")
    follow: float = Field(0.8, ge=0.0, le=1.0, description="Probability that the next item is a successor of the current one.")
    min_len: int = Field(6, ge=3, description="Shortest sequence length.")
    max_len: int = Field(30, ge=3, description="Longest sequence length.")


class DataSpec(StrictModel):
    """Where interactions come from, how they are cleaned, split and cut into sequences."""

    name: str | None = Field(
        None,
        description="Named dataset of the `dataset` registry (e.g. beauty, toys, ml-1m), fetched into "
        "RECDIFF_HOME on first use. Leave empty to read `path`.",
    )
    path: Path | None = Field(
        None,
        description="Interaction file (RecBole `.inter`, CSV/TSV, Parquet, MovieLens `ratings.dat`, Amazon "
        "ratings CSV). When both `name` and `path` are empty the built-in synthetic data is used.",
    )
    format: Literal["auto", "inter", "csv", "tsv", "parquet", "ml-ratings", "amazon-ratings"] = Field(
        "auto", description="File format; `auto` decides from the file extension."
    )
    user_field: str = Field("user_id", description="Column holding the user id.")
    item_field: str = Field("item_id", description="Column holding the item id.")
    time_field: str = Field("timestamp", description="Column used to order each user's interactions.")
    rating_field: str | None = Field(None, description="Column holding ratings (needed by `min_rating`).")
    item_file: Path | None = Field(
        None,
        description="RecBole `.item` file of item side features, keyed by `item_field`. Empty: the `.item` file "
        "next to a `.inter` `path` (same stem), when there is one. Models do not use it; it is loaded for "
        "plugins and analysis.",
    )
    user_file: Path | None = Field(
        None,
        description="RecBole `.user` file of user side features, keyed by `user_field`. Empty: the `.user` file "
        "next to a `.inter` `path` (same stem), when there is one.",
    )
    side_files: bool = Field(
        True, description="Read side-feature files (`item_file`, `user_file` or the `.inter` file's siblings); false reads none."
    )
    min_rating: float | None = Field(None, description="Keep only interactions rated at least this (implicit feedback).")
    min_user_inter: int | None = Field(
        None,
        ge=0,
        description="Iterative k-core: drop users with fewer interactions, repeating with items until "
        "nothing changes. Empty means 5 (the papers' setting), except for a named dataset released "
        "already filtered (beauty, toys, ml-1m), which is used as released; set a number to filter it anyway.",
    )
    min_item_inter: int | None = Field(
        None,
        ge=0,
        description="Iterative k-core: drop items with fewer interactions. Empty means 5, or as released "
        "for an already filtered named dataset (see `min_user_inter`).",
    )
    duplicates: Literal["keep", "drop_consecutive"] = Field(
        "keep",
        description="Keep repeated items, or drop an item repeated right after itself in a user's "
        "chronological sequence (applied after `min_rating`, before the k-core).",
    )
    split: Literal["leave_one_out", "temporal"] = Field(
        "leave_one_out",
        description="`leave_one_out` (the papers' protocol: last item test, second-to-last validation) or a "
        "global `temporal` split at time quantiles.",
    )
    temporal_holdout: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="Temporal split: share of the latest interactions used for test (and again for validation).",
    )
    cache: bool = Field(
        True, description="Cache the preprocessed sequences in RECDIFF_HOME, keyed by the file's checksum and these settings."
    )
    max_len: int = Field(100, ge=1, description="Longest history fed to the model; older items are dropped.")
    synthetic: SyntheticSpec = Field(default_factory=SyntheticSpec, description="Settings of the synthetic data.")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.name is not None and self.path is not None:
            raise ValueError("give either `name` (a named dataset) or `path` (a file), not both")
        if self.min_rating is not None and self.rating_field is None:
            raise ValueError("`min_rating` needs `rating_field`, the column holding ratings")
        if not self.side_files and (self.item_file is not None or self.user_file is not None):
            raise ValueError("`item_file` or `user_file` is set while `side_files` is false; remove one of them")
        return self


class ModelSpec(StrictModel):
    """The diffusion recommender and its components."""

    hidden: int = Field(128, ge=1, description="Width of item embeddings and of the approximator.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout inside the approximator.")
    emb_dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout on history item embeddings.")
    item_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="In training, each history item but the newest becomes padding with this chance, so whole items "
        "leave the history (0 in both papers); `diffusion` architecture only.",
    )
    positional: bool = Field(False, description="Add learned positional embeddings to the history (off in DiffuRec).")
    init: Literal["xavier", "normal", "reference"] = Field(
        "xavier",
        description="Initialisation: `xavier` (Xavier-normal linear and embedding weights, zero biases, zero padding "
        "row), `normal` (N(0, init_std) instead of Xavier), or `reference`, the original DiffuRec code's: PyTorch's "
        "defaults (embeddings N(0, 1) with the padding row, linear layers uniform) except Xavier-normal "
        "attention-output and feed-forward weights.",
    )
    init_std: float = Field(0.02, gt=0.0, description="Standard deviation used when `init` is `normal`.")
    embedding_std: float | None = Field(
        None,
        gt=0.0,
        description="When set, item (and positional) embeddings are drawn from N(0, embedding_std) whatever "
        "`init` says; 1.0 is the original DiffuRec code's (PyTorch's default) embedding initialisation.",
    )
    exclude_history: bool = Field(
        False,
        description="Never recommend an item of the input history: it gets the lowest score, so it ranks after "
        "every other item. Suits data where users do not repeat items (the Beauty and ML-1M releases have no "
        "repeats); off in both papers. An inference setting: a trained run can be evaluated with it.",
    )
    mask_history_in_loss: bool = Field(
        False,
        description="Also leave the history's items out of the training softmax (each position's seen items for "
        "`sasrec`). On Beauty it made validation worse than training plainly and excluding at inference only.",
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="Label smoothing of the training cross-entropy over all items (0 in both papers)."
    )
    target_signal: Literal["noised", "step", "none"] = Field(
        "noised",
        description="What the conditioning receives as the target: `noised` (x_t + d, both papers), `step` (the "
        "step embedding d alone: the approximator never sees x_t) or `none` (zeros: it sees neither). The last two "
        "are ablations that measure what the noised target contributes (docs/results.md, \"Does the noised "
        "target matter?\"); `diffusion` architecture only.",
    )
    architecture: ComponentSpec = _slot(
        "diffusion",
        "Model family (kind `model`): `diffusion` (DiffuRec / DiffuRecSys, built from the slots below), "
        "`late_fusion` (a causal backbone reads each history once and the `denoiser` head runs the diffusion for "
        "every prefix; it uses every slot but `conditioning`) or `sasrec` (the backbone as a next-item classifier; "
        "it uses only hidden, dropouts, positional, init, label_smoothing, the history settings, backbone, scorer "
        "and loss). A family ignores the slots it does not use.",
    )
    steps: int = Field(32, ge=1, le=10000, description="Number of diffusion steps T.")
    schedule: ComponentSpec = _slot("trunc_lin", "Beta schedule (kind `schedule`).")
    noise: ComponentSpec = _slot("gaussian", "Training noise (kind `noise`).")
    timestep: ComponentSpec = _slot("uniform", "Training step sampler (kind `timestep`).")
    conditioning: ComponentSpec = _slot("additive", "How the noised target meets the history (kind `conditioning`).")
    backbone: ComponentSpec = _slot("transformer", "Approximator network (kind `backbone`).")
    denoiser: ComponentSpec = _slot(
        "mlp",
        "Head of the `late_fusion` architecture (kind `denoiser`): x0_hat from the noised target, its step and one "
        "prefix's backbone state; the reverse sampler runs it alone. Other architectures ignore it.",
    )
    sampler: ComponentSpec = _slot("ddpm", "Reverse process used at inference (kind `sampler`).")
    scorer: ComponentSpec = _slot("dot", "Rounding: final `x_0` to item scores (kind `scorer`).")
    loss_scorer: ComponentSpec | None = Field(
        None,
        description="Scorer of the training loss (kind `scorer`), e.g. `cosine` with a `temperature`. Empty: the "
        "family's own, the inner product for the diffusion families (as both papers train) and `scorer` for sasrec.",
    )
    loss: ComponentSpec = _slot(
        "full",
        "Training loss over the catalogue (kind `loss`): `full` (the whole [rows, items] logit matrix), `chunked` "
        "(the same exact loss a block of items at a time, for catalogues whose logits do not fit in memory) or "
        "`sampled` (sampled softmax with log-q correction, an estimate, for catalogues where exact is too slow).",
    )
    guidance: ComponentSpec = _slot(
        "none",
        "Guidance (kind `guidance`): `none` (both papers) or `cfg`, classifier-free guidance (train with a share "
        "`drop` of histories replaced by a learned null item, sample with weight `weight`, which an evaluation may "
        "change); `diffusion` architecture only.",
    )


class TrainSpec(StrictModel):
    """Optimisation and run control."""

    epochs: int = Field(41, ge=1, description="Number of training epochs.")
    batch_size: int = Field(1024, ge=1, description="Training examples per batch.")
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, description="Adam weight decay.")
    lr_step: int = Field(30, ge=1, description="StepLR: epochs between learning-rate decays.")
    lr_gamma: float = Field(0.1, gt=0.0, le=1.0, description="StepLR: factor applied at each decay.")
    lr_schedule: Literal["step", "cosine"] = Field(
        "step",
        description="`step`: the rate is multiplied by `lr_gamma` every `lr_step` epochs (StepLR, the papers'). "
        "`cosine`: it falls once an epoch along a half cosine from `lr` towards 0 at `epochs` "
        "(`lr_step` and `lr_gamma` are then unused).",
    )
    grad_clip: float | None = Field(None, gt=0.0, description="Clip the gradient norm to this value (off when empty).")
    ema: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Keep an exponential moving average of the weights with this decay per optimiser step "
        "(e.g. 0.999); validation, checkpoints and the test use the averaged weights. Off when empty.",
    )
    ema_warmup: bool = Field(
        False,
        description="Average with the decay min(ema, (1 + n) / (10 + n)) at the n-th update, so the average "
        "forgets the initial weights within the first hundreds of steps instead of trailing them for "
        "thousands (a 0.999 average keeps 8% of the initialisation after 2,500 steps).",
    )
    max_batches: int | None = Field(
        None, ge=1, description="Stop each epoch after this many batches (a budget for smoke tests)."
    )
    bucket: bool = Field(True, description="Group examples of similar length into batches, so less padding is computed.")
    device: str = Field("auto", description="`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`.")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="`bf16` runs training and evaluation under bfloat16 autocast (on CUDA and on CPUs with "
        "AMX or AVX-512 BF16); losses and scores stay in fp32.",
    )
    compile: bool = Field(False, description="`torch.compile` the approximator (slow first batches, faster after).")
    threads: int | None = Field(None, ge=1, description="CPU threads for PyTorch (default: PyTorch's choice).")
    log_every: int = Field(
        100,
        ge=1,
        description="Where output is not a terminal (CI logs, `nohup`, a file), print a progress line every this "
        "many batches of training or evaluation (and at least every 30 seconds): epoch, batch of total, running "
        "loss, examples per second and time left. A terminal shows live bars instead.",
    )
    loggers: list[str] = Field(
        default_factory=lambda: ["jsonl"],
        description="Metric logs of the run, all fed the same records: `jsonl` (metrics.jsonl, always written, listed "
        "or not), `csv` (metrics.csv, one row per record under a fixed header) and `tensorboard` (event files in "
        "`tensorboard/`; needs `pip install \"recdiff[tensorboard]\"`), or a plugin's (kind `logger`).",
    )
    eval_every: int = Field(1, ge=1, description="Validate every this many epochs.")
    eval_first: int | None = Field(
        None,
        ge=1,
        description="First epoch validated, then every `eval_every` epochs after it (the last epoch is always "
        "validated). Empty means `eval_every`. The original DiffuRec code validates after epochs "
        "`eval_every + 1`, `2 * eval_every + 1`, ... (its loop skips its epoch 0), so its presets set this.",
    )
    patience: int | None = Field(
        10,
        ge=1,
        description="Stop after this many validations in a row that do not improve (by `eval.select`; never when empty).",
    )
    min_epochs: int = Field(
        0,
        ge=0,
        description="Early stopping never ends the run before this epoch. A step schedule's first learning rate can "
        "plateau for more validations than `patience` just before its cut, and the gain after the cut is then never "
        "seen: set it to `lr_step + patience` to judge the run only once the cut has had its chance.",
    )
    fit_on: Literal["train", "train+val"] = Field(
        "train",
        description="`train+val` also trains on the validation targets: the final refit once `epochs` has been "
        "chosen on validation (the best epoch of a run with `train`). Nothing is validated, since the "
        "validation targets are seen, so `patience` must be empty; the last epoch is the model tested. The "
        "papers train on `train` only.",
    )

    recent: int = Field(
        0,
        ge=0,
        description="Each user's `recent` latest training examples are seen `recent_weight` times an epoch instead of "
        "once (recency sampling, Petrov & Macdonald, RecSys 2022): interaction data drift in time, and the newest "
        "transitions say most about the next one. Only for models trained on every prefix (the diffusion family); "
        "0 samples every example equally, as the papers train.",
    )
    recent_weight: int = Field(2, ge=2, description="How many times an epoch each of the `recent` latest examples is seen.")

    @model_validator(mode="after")
    def _refit_has_no_validation(self) -> TrainSpec:
        if self.fit_on == "train+val" and self.patience is not None:
            raise ValueError(
                "fit_on is 'train+val', so nothing is validated and early stopping has nothing to count: set "
                "`patience: null` and `epochs` to the best epoch of a run trained with `fit_on: train`"
            )
        return self

    @field_validator("loggers")
    @classmethod
    def _each_logger_once(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"names {', '.join(repeated)} more than once; list each logger once")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda") or value.startswith("cuda:"):
            return value
        raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")


class EvalSpec(StrictModel):
    """Full-ranking evaluation."""

    ks: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=1, description="Cut-offs K of HR@K and NDCG@K.")
    metric: str = Field(
        "ndcg@10",
        description="Validation metric for early stopping and the best checkpoint: `hr@K`, `ndcg@K` or `mrr`, in any "
        "case (`hit@K` and `HR@K` are read as `hr@K`).",
    )
    select: Literal["metric", "any"] = Field(
        "metric",
        description="What counts as an improving validation, for the best checkpoint and for patience: `metric` "
        "(a better `metric`) or `any` (any HR@K or NDCG@K better than its own best so far, the original "
        "DiffuRec and DiffuRecSys code's rule).",
    )
    test_checkpoint: Literal["best", "last"] = Field(
        "best",
        description="Which weights the run tests: `best` (the last improving validation's) or `last` (the last "
        "epoch trained, as the public DiffuRecSys code does).",
    )
    batch_size: int = Field(1024, ge=1, description="Users scored at once (bounds the users x items score matrix).")
    max_users: int | None = Field(
        None,
        ge=1,
        description="Evaluate only the first N examples, one per user with leave-one-out (a budget for smoke tests).",
    )
    ensemble: int = Field(
        1, ge=1, description="Independent reverse runs per user, their softmax score distributions averaged (one batched pass)."
    )
    item_chunk: int = Field(16384, ge=1, description="Items scored at once, bounding the users x items score matrix.")

    @field_validator("ks")
    @classmethod
    def _positive_sorted(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("every K must be at least 1")
        return sorted(set(value))

    @field_validator("metric")
    @classmethod
    def _canonical_metric(cls, value: str) -> str:
        return canonical_metric(value)

    @model_validator(mode="after")
    def _metric_is_computed(self) -> EvalSpec:
        k = metric_cutoff(self.metric)
        if k is not None and k not in self.ks:
            raise ValueError(f"metric '{self.metric}' uses a K that is not in ks {self.ks}")
        return self


class RunSpec(StrictModel):
    """A whole run: data, model, training and evaluation."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="Run name, used in the run directory's name.")
    preset: str | None = Field(None, description="Preset whose values fill every field the spec leaves out.")
    seed: int = Field(42, ge=0, lt=SEED_LIMIT, description="Seed of data order, noise and initialisation.")
    data: DataSpec = Field(default_factory=DataSpec, description="Data source and sequence cutting.")
    model: ModelSpec = Field(default_factory=ModelSpec, description="The diffusion recommender.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Training.")
    eval: EvalSpec = Field(default_factory=EvalSpec, description="Evaluation.")
