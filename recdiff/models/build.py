"""Assemble a model from a spec: the `model` registry picks the family, every component comes from its registry."""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn

from recdiff import registry
from recdiff.diffusion.process import GaussianDiffusion
from recdiff.errors import RecdiffError, SpecError
from recdiff.models.base import Recommender
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.models.late_fusion import LateFusionRecommender
from recdiff.models.sasrec import SASRec
from recdiff.nn.backbones import Backbone, TransformerBlock
from recdiff.nn.conditioning import ConditioningBlock, LinearCrossAttention
from recdiff.nn.denoisers import Denoiser
from recdiff.nn.layers import MultiHeadAttention
from recdiff.registry import Registry, register
from recdiff.spec.models import ComponentSpec, ModelSpec, RunSpec

C = TypeVar("C")
"""The kind of component a registry builds."""


def _create(components: Registry[C], slot: ComponentSpec, **context: object) -> C:
    """Build a spec slot's component; a factory's own ValueError or TypeError names the slot to fix."""
    try:
        return components.create(slot.name, **context, **slot.params)
    except RecdiffError:
        raise
    except (ValueError, TypeError) as error:
        raise SpecError(
            f"Could not build {components.kind} component '{slot.name}' with params {slot.params}: {error}. "
            f"Fix model.{components.kind}.params (or the model fields it depends on) in the spec."
        ) from None


def initialise(module: nn.Module, spec: ModelSpec) -> None:
    """Initialise a freshly built model as ``spec.init`` says, then give components their own say.

    `xavier` / `normal`: Xavier-normal (or N(0, init_std)) linear and embedding weights, zero
    biases, zero padding row. `reference`: the original DiffuRec code's, see `reference_init`.
    `embedding_std` overrides the embeddings alone: the scale of the item table decides how
    fast the model learns (N(0, 1), the original code's, is far slower than N(0, 0.02)).
    Conditioning blocks, backbones and denoisers then get their `init_parameters()` call, so a component
    that needs its own initialisation keeps it.
    """
    if spec.init == "reference":
        reference_init(module)
    for sub in module.modules():
        if isinstance(sub, nn.Embedding) and spec.embedding_std is not None:
            nn.init.normal_(sub.weight, std=spec.embedding_std)
        elif spec.init != "reference" and isinstance(sub, (nn.Linear, nn.Embedding)):
            if spec.init == "xavier":
                nn.init.xavier_normal_(sub.weight)
            else:
                nn.init.normal_(sub.weight, std=spec.init_std)
            if isinstance(sub, nn.Linear) and sub.bias is not None:
                nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.Embedding) and sub.padding_idx is not None:
            with torch.no_grad():
                sub.weight[sub.padding_idx].zero_()
    for sub in module.modules():
        if isinstance(sub, (ConditioningBlock, Backbone, Denoiser)):
            sub.init_parameters()


def reference_init(module: nn.Module) -> None:
    """The original DiffuRec code's initialisation: PyTorch's defaults everywhere (embeddings
    N(0, 1), linear weights and biases uniform in +-1/sqrt(fan_in)), except Xavier-normal on
    the attention-output and feed-forward weights, the only layers that code initialises."""
    for sub in module.modules():
        if isinstance(sub, MultiHeadAttention):
            nn.init.xavier_normal_(sub.out.weight)
        elif isinstance(sub, LinearCrossAttention):
            for out in sub.out:
                if isinstance(out, nn.Linear):
                    nn.init.xavier_normal_(out.weight)
        elif isinstance(sub, TransformerBlock):
            for layer in sub.ff:
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_normal_(layer.weight)


def build_model(
    spec: RunSpec | ModelSpec, num_items: int, max_len: int | None = None, item_counts: torch.Tensor | None = None
) -> Recommender:
    """Build (and initialise, from the current torch seed) the model a spec describes.

    Args:
        spec: A whole run spec, or only its model section (then `max_len` is required).
        num_items: Number of real items (ids 1..num_items).
        max_len: Longest history; taken from `spec.data.max_len` when a run spec is given.
        item_counts: How often each item [N] is a training target, for a loss that samples by
            popularity; a model built only to score needs none.
    """
    if isinstance(spec, RunSpec):
        max_len = spec.data.max_len if max_len is None else max_len
        spec = spec.model
    if max_len is None:
        raise SpecError("build_model needs max_len when given only a model spec; pass max_len=...")
    model = _create(
        registry.models, spec.architecture, spec=spec, num_items=num_items, max_len=max_len, item_counts=item_counts
    )
    initialise(model, spec)
    return model


def _shared(spec: ModelSpec, item_counts: torch.Tensor | None) -> dict[str, Any]:
    """What every model family takes from the spec alike: the scorer, dropouts, positions, the loss and its settings."""
    return {
        "scorer": _create(registry.scorers, spec.scorer),
        "dropout": spec.dropout,
        "emb_dropout": spec.emb_dropout,
        "positional": spec.positional,
        "label_smoothing": spec.label_smoothing,
        "mask_history_in_loss": spec.mask_history_in_loss,
        "objective": _create(registry.losses, spec.loss, item_counts=item_counts),
        "loss_scorer": None if spec.loss_scorer is None else _create(registry.scorers, spec.loss_scorer),
    }


def _diffusion_parts(spec: ModelSpec) -> dict[str, Any]:
    """The diffusion constants, training noise, training steps and reverse sampler both diffusion families build."""
    process = GaussianDiffusion(_create(registry.schedules, spec.schedule, steps=spec.steps))
    return {
        "process": process,
        "noise": _create(registry.noises, spec.noise),
        "timesteps": _create(registry.timesteps, spec.timestep, steps=spec.steps),
        "sampler": _create(registry.samplers, spec.sampler, process=process),
    }


@register("model", "diffusion")
def build_diffusion(
    spec: ModelSpec, num_items: int, max_len: int, item_counts: torch.Tensor | None = None
) -> DiffusionRecommender:
    """DiffuRec / DiffuRecSys: a DiffusionRecommender assembled from the spec's component slots."""
    m = spec
    backbone = _create(registry.backbones, m.backbone, hidden=m.hidden, dropout=m.dropout)
    conditioning = _create(
        registry.conditionings, m.conditioning, hidden=m.hidden, num_blocks=backbone.num_blocks, dropout=m.dropout
    )
    return DiffusionRecommender(
        num_items=num_items,
        hidden=m.hidden,
        max_len=max_len,
        backbone=backbone,
        conditioning=conditioning,
        **_diffusion_parts(m),
        **_shared(m, item_counts),
        target_signal=m.target_signal,
        item_dropout=m.item_dropout,
        guidance=_create(registry.guidances, m.guidance, hidden=m.hidden),
    )


@register("model", "sasrec")
def build_sasrec(spec: ModelSpec, num_items: int, max_len: int, item_counts: torch.Tensor | None = None) -> SASRec:
    """SASRec: the spec's backbone trained as a next-item classifier (make it causal, as the `sasrec` preset does)."""
    return SASRec(
        num_items=num_items,
        hidden=spec.hidden,
        max_len=max_len,
        backbone=_create(registry.backbones, spec.backbone, hidden=spec.hidden, dropout=spec.dropout),
        **_shared(spec, item_counts),
    )


@register("model", "late_fusion")
def build_late_fusion(
    spec: ModelSpec, num_items: int, max_len: int, item_counts: torch.Tensor | None = None
) -> LateFusionRecommender:
    """Late fusion: a causal backbone encodes each history once, the `denoiser` head diffuses every prefix's next item."""
    m = spec
    return LateFusionRecommender(
        num_items=num_items,
        hidden=m.hidden,
        max_len=max_len,
        backbone=_create(registry.backbones, m.backbone, hidden=m.hidden, dropout=m.dropout),
        denoiser=_create(registry.denoisers, m.denoiser, hidden=m.hidden, steps=m.steps, dropout=m.dropout),
        **_diffusion_parts(m),
        **_shared(m, item_counts),
    )
