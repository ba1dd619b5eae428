"""A spec made ready to run: its data, splits and seeded model on its device, and their evaluation.

Training, re-evaluating a saved run, repeating seeds and the benchmarks all start here. It lives
in `recdiff.evaluation`, which `recdiff.training` builds on, so neither package imports the other
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from recdiff.data import PreprocessReport, SequenceData, Split, Splits, load_data, make_splits
from recdiff.errors import RunError
from recdiff.evaluation.evaluate import evaluate_model
from recdiff.models.base import Recommender
from recdiff.models.build import build_model
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.progress import Reporter
from recdiff.runtime import resolve_device, seed_everything
from recdiff.spec.models import RunSpec


@dataclass
class Prepared:
    """Data, splits and model of a spec, ready to train or evaluate."""

    spec: RunSpec
    data: SequenceData
    splits: Splits
    model: Recommender
    device: torch.device
    report: PreprocessReport | None = None


def prepare(spec: RunSpec) -> Prepared:
    """Load the data and build the model of `spec` (seeded), on the spec's device."""
    if spec.train.threads is not None:
        torch.set_num_threads(spec.train.threads)
    device = resolve_device(spec.train.device)
    seed_everything(spec.seed)
    loaded = load_data(spec.data, spec.seed)
    data = loaded.data
    splits = make_splits(data, spec.data)
    if len(splits.train) == 0 or len(splits.val) == 0:
        raise RunError(
            "The data gives no training or validation examples: leave-one-out needs users with at least "
            "4 interactions. Check data.path and the user/item/time fields."
        )
    model = build_model(spec, data.num_items, item_counts=target_counts(data, splits.train)).to(device)
    if spec.train.compile:
        compile_model(model)
    return Prepared(spec, data, splits, model, device, loaded.report)


def target_counts(data: SequenceData, split: Split) -> torch.Tensor:
    """How often each item [N] is a target of ``split``: a popularity proposal's counts, seen only in training."""
    counts = np.bincount(data.items[split.end], minlength=data.num_items + 1)[1:]
    return torch.from_numpy(counts)


def evaluate_prepared(
    prepared: Prepared, split: str, models: Sequence[Recommender] = (), progress: Reporter | None = None
) -> dict[str, float]:
    """Evaluate the prepared model on ``split`` (`val` or `test`) with its spec's evaluation settings
    and seed; given ``models`` (other weights of it, such as the EMA average, or an ensemble of
    models trained on the same data), those instead. ``progress`` shows its batches as a task named ``split``."""
    p, e = prepared, prepared.spec.eval
    return evaluate_model(
        list(models) or p.model, p.data, getattr(p.splits, split), e.ks, batch_size=e.batch_size, device=p.device,
        seed=p.spec.seed, max_users=e.max_users, precision=p.spec.train.precision, ensemble=e.ensemble,
        chunk=e.item_chunk, exclude_history=p.spec.model.exclude_history, progress=progress, description=split,
    )


COMPILED_ATTRIBUTES = ("approximate", "_compiled_call_impl")
"""Instance attributes `compile_model` sets; they are bound to that instance, so copies must drop them."""


def compile_model(model: Recommender) -> None:
    """`torch.compile` the approximator (run once per training step and T times per sample) or, for
    other model families, the whole forward pass.

    The compiled function replaces the bound method on this instance only, so parameter names
    and checkpoints are those of the plain model. Shapes vary with every batch (length
    bucketing), hence ``dynamic=True`` rather than one graph per length.
    """
    if isinstance(model, DiffusionRecommender):
        model.approximate = torch.compile(model.approximate, dynamic=True)  # type: ignore[method-assign]
    else:
        model.compile(dynamic=True)
