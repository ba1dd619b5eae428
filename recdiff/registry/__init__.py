"""Every component kind's registry, in one place, with its contract and base class.

Built-in components register themselves in their own modules, which import this one;
`recdiff.builtins` imports those modules once, the first time any registry is looked up, so
this module imports none of them (no import cycle, and `import recdiff.registry` stays cheap),
and plugins load after every built-in is registered.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from recdiff.errors import RegistryError
from recdiff.registry.core import Entry, NoParams, Params, Registry, format_validation_error

if TYPE_CHECKING:
    import torch

    from recdiff.data.datasets import DatasetRecipe
    from recdiff.diffusion.noise import NoiseSampler
    from recdiff.diffusion.samplers import ReverseSampler
    from recdiff.diffusion.timesteps import TimestepSampler
    from recdiff.models.base import Recommender
    from recdiff.nn.backbones import Backbone
    from recdiff.nn.conditioning import ConditioningBlock
    from recdiff.nn.denoisers import Denoiser
    from recdiff.nn.guidance import Guidance
    from recdiff.nn.losses import Loss
    from recdiff.nn.scorers import Scorer
    from recdiff.training.loggers import MetricLogger

_loaded = False


def _load_components() -> None:
    """Import the built-in components, then the plugins (once), before the first look-up of any registry.

    `_loaded` is set first so that a look-up made while loading does not load again; a built-in
    that fails to import clears it, so the next look-up tries again rather than working on
    half-filled registries.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        importlib.import_module("recdiff.builtins")
    except BaseException:
        _loaded = False
        raise
    from recdiff.registry import plugins

    if not plugins.autoload_disabled():
        plugins.load_plugins()


def _registry(kind: str, base: str, contract: str, context: tuple[str, ...] = ()) -> Registry[Any]:
    """A registry whose base class is imported on first use: its module registers components itself."""
    return Registry(kind, contract, context, loader=_load_components, base=base)


models: Registry[Recommender] = _registry(
    "model",
    "recdiff.models.base:Recommender",
    "`factory(spec: ModelSpec, num_items: int, max_len: int, item_counts: Tensor | None, **params) -> Recommender` "
    "(an nn.Module; `item_counts` [N] counts the training targets, for the `loss` slot) with `loss(history [B, L], "
    "target [B]) -> scalar`, `represent(history [B, L], noise, ensemble) -> [S, B, H]` (fp32), `scorer` and "
    "`item_table` [N, H]: evaluation ranks every item by `scorer(represent(...), item_table)`. A model whose "
    "`supervises_every_position` is true is trained on each user's longest training sequence instead of every prefix.",
    ("spec", "num_items", "max_len", "item_counts"),
)
schedules: Registry[torch.Tensor] = _registry(
    "schedule",
    "torch:Tensor",
    "`factory(steps: int) -> torch.Tensor`: the betas of `steps` diffusion steps, float64 of shape "
    "[steps], each in (0, 1).",
    ("steps",),
)
noises: Registry[NoiseSampler] = _registry(
    "noise",
    "recdiff.diffusion.noise:NoiseSampler",
    "`factory(**params) -> NoiseSampler`; `noise(x0)` returns training noise shaped like `x0` [B, H]. "
    "Used in training only: inference always draws standard normal noise.",
)
timesteps: Registry[TimestepSampler] = _registry(
    "timestep",
    "recdiff.diffusion.timesteps:TimestepSampler",
    "`factory(steps: int, **params) -> TimestepSampler`; `sampler(batch_size, device)` returns int64 steps "
    "in [0, steps) of shape [B].",
    ("steps",),
)
conditionings: Registry[ConditioningBlock] = _registry(
    "conditioning",
    "recdiff.nn.conditioning:ConditioningBlock",
    "`factory(hidden: int, num_blocks: int, dropout: float, **params) -> ConditioningBlock` (an nn.Module); "
    "`block(history [B, L, H], target [B, H], mask [B, L], noise) -> [B, L + k, H]` once before the backbone (k >= 0 "
    "positions appended after the newest count as real, and the output is read at the last) and "
    "`block.before_block(i, hidden [B, L + k, H], target [B, H], mask [B, L + k], noise) -> [B, L + k, H]` before block i. "
    "`target` is the noised target plus its step embedding, `x + d`; `noise` is the batch's NoiseStream, the "
    "only source of randomness a block may use.",
    ("hidden", "num_blocks", "dropout"),
)
backbones: Registry[Backbone] = _registry(
    "backbone",
    "recdiff.nn.backbones:Backbone",
    "`factory(hidden: int, dropout: float, **params) -> Backbone` (an nn.Module with attribute "
    "`num_blocks`); `backbone(h [B, L, H], mask [B, L] bool, condition) -> [B, L, H]` on left-padded "
    "input, calling `h = condition(i, h)` before block i; padding must not change real positions.",
    ("hidden", "dropout"),
)
denoisers: Registry[Denoiser] = _registry(
    "denoiser",
    "recdiff.nn.denoisers:Denoiser",
    "`factory(hidden: int, steps: int, dropout: float, **params) -> Denoiser` (an nn.Module); "
    "`head(x_t [R, H], t [R] int64, state [R, H]) -> x0_hat [R, H]`, each row on its own (a row is one prefix in "
    "training, one user at inference; a reverse sampler passes t as one step expanded over the rows). The "
    "`late_fusion` model's head: `state` is a causal backbone's output at the prefix's newest position, and the "
    "reverse sampler calls the head alone, once per step.",
    ("hidden", "steps", "dropout"),
)
samplers: Registry[ReverseSampler] = _registry(
    "sampler",
    "recdiff.diffusion.samplers:ReverseSampler",
    "`factory(process: GaussianDiffusion, **params) -> ReverseSampler`; "
    "`sampler(denoise, x_T [B, H], noise) -> x_0 [B, H]` where `denoise(x_t [B, H], t [B]) -> x0_hat [B, H]` "
    "and step noise is drawn from the NoiseStream `noise`; `sampler.evaluations` is its number of denoise calls.",
    ("process",),
)
scorers: Registry[Scorer] = _registry(
    "scorer",
    "recdiff.nn.scorers:Scorer",
    "`factory(**params) -> Scorer`; `scorer(x0 [B, H], items [N, H]) -> scores [B, N]` (higher ranks first), "
    "each column independent of the others (items are scored a slice at a time); `scorer.paired(x0, items [B, H]) "
    "-> [B]` scores row b against item b.",
)
losses: Registry[Loss] = _registry(
    "loss",
    "recdiff.nn.losses:Loss",
    "`factory(item_counts: Tensor | None, **params) -> Loss`; `loss(x [P, H], items [N, H], labels [P], scorer, "
    "seen [P, L] | None, smoothing: float) -> fp32 scalar`: the mean cross-entropy of each row's label (an item row) "
    "among the items as `scorer` scores them, in fp32 under autocast, each row's `seen` items (negative = none) "
    "other than its label left out, with label smoothing `smoothing` over the row's remaining items (or a clear "
    "error if the loss cannot). `item_counts` [N] counts the training targets (None when the model is built "
    "without data); a loss that draws at random takes its key from the global generator.",
    ("item_counts",),
)
guidances: Registry[Guidance] = _registry(
    "guidance",
    "recdiff.nn.guidance:Guidance",
    "`factory(hidden: int, **params) -> Guidance` (an nn.Module); in training `guidance.forget(h [B, L, H], mask "
    "[B, L], noise) -> (h, mask)` may replace rows' encoded histories (e.g. by a \"no history\" condition), and at "
    "inference `guidance.denoiser(approximate, h, mask, noise)` returns the `denoise(x_t [B, H], t [B]) -> x0_hat "
    "[B, H]` the reverse sampler calls, where `approximate(h, mask, x_t, t, noise)` is the model's approximator. "
    "Randomness comes from the NoiseStream `noise` only.",
    ("hidden",),
)

datasets: Registry[DatasetRecipe] = _registry(
    "dataset",
    "recdiff.data.datasets:DatasetRecipe",
    "`factory() -> DatasetRecipe` (recdiff.data.datasets): a named dataset's download address, expected "
    "size and sha256, and `convert(download, inter)` writing a RecBole `.inter` file; a spec uses it as "
    "`data: {name: NAME}` and `recdiff data fetch NAME` downloads it.",
)

loggers: Registry[MetricLogger] = _registry(
    "logger",
    "recdiff.training.loggers:MetricLogger",
    "`factory(spec: RunSpec, **params) -> MetricLogger`, touching no file (a missing dependency fails here, "
    "before the run starts); then `logger.open(run_dir, history)` once, `history` being the records already in "
    "metrics.jsonl (a resumed run's), `logger.log(record)` for each record metrics.jsonl gets, and "
    "`logger.close()` when the run ends. A spec names loggers in `train.loggers`.",
    ("spec",),
)

REGISTRIES: dict[str, Registry[Any]] = {
    r.kind: r
    for r in (
        models, schedules, noises, timesteps, conditionings, backbones, denoisers, samplers, scorers, losses, guidances,
        datasets, loggers,
    )
}


def registry(kind: str) -> Registry[Any]:
    """The registry of `kind`, or an error listing the kinds."""
    try:
        return REGISTRIES[kind]
    except KeyError:
        raise RegistryError(
            f"Unknown component kind '{kind}'. Kinds: {', '.join(sorted(REGISTRIES))}."
        ) from None


def register(
    kind: str, name: str, *, params: type[BaseModel] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a component factory of `kind` under `name`.

    The parameter model is `params`, else the factory's `Params` attribute, else none.
    """
    return registry(kind).register(name, params=params)


def create(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Build component `name` of `kind`; context keywords pass through, the rest are validated params."""
    return registry(kind).create(name, **kwargs)


def available(kind: str) -> list[str]:
    """Sorted names registered for `kind`."""
    return registry(kind).names()


__all__ = [
    "REGISTRIES",
    "Entry",
    "NoParams",
    "Params",
    "Registry",
    "available",
    "create",
    "format_validation_error",
    "register",
    "registry",
]
