"""Screen: also train each example's reconstruction towards the item after next, at a weight.

    AHEAD_WEIGHT=0.3 python benchmarks/ahead_screen.py train SPEC [--set ...] [--out RUN_DIR]

Takes the arguments of `recdiff`. Each training example (a prefix and its next item) whose
next-but-one item is also a training target gets a second cross-entropy term, of the same
x0_hat against that item, weighted by AHEAD_WEIGHT: more supervision per example without any
validation or test target (the item after next must itself be a training target, so the
validation item never serves). Evaluation is unchanged. It is a screen, not a spec option: on
Beauty it led early and tied the plain model by the learning-rate cut (docs/results.md, "Width,
depth and the training objective"), so recdiff does not offer it.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

import recdiff.training.trainer as trainer_module
from recdiff.data import SequenceData, Split
from recdiff.data.batching import Batch
from recdiff.data.batching import make_batch as plain_make_batch
from recdiff.models.diffusion import DiffusionRecommender

WEIGHT = float(os.environ.get("AHEAD_WEIGHT", "0.3"))
_after: list[torch.Tensor] = []


def after_next(data: SequenceData, split: Split, end: np.ndarray) -> np.ndarray:
    """The item after each target at ``end`` when that item is a target of ``split`` too, else 0."""
    is_target = np.zeros(len(data.items) + 1, dtype=bool)
    is_target[split.end] = True
    following = end + 1
    return np.where(is_target[following], data.items[np.minimum(following, len(data.items) - 1)], 0)


def make_batch(data: SequenceData, split: Split, index: np.ndarray) -> Batch:
    """The trainer's batch, with the item after next kept aside for the loss."""
    batch = plain_make_batch(data, split, index)
    _after[:] = [torch.from_numpy(after_next(data, split, split.end[index]))]
    return batch


def loss(self: DiffusionRecommender, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`DiffusionRecommender.loss`, plus WEIGHT times the cross-entropy of x0_hat against the item after next."""
    x0_hat = self.reconstruct(history, target)
    main = self.objective(x0_hat, self.item_table, target - 1, self.training_scorer, None, self.label_smoothing)
    after = _after[0].to(target.device) if _after and len(_after[0]) == len(target) else None
    if after is None or not bool((after > 0).any()):
        return main
    rows = after > 0
    ahead = self.objective(x0_hat[rows], self.item_table, after[rows] - 1, self.training_scorer, None, 0.0)
    return main + WEIGHT * ahead * rows.float().mean()


if __name__ == "__main__":
    trainer_module.make_batch = make_batch  # type: ignore[assignment]
    DiffusionRecommender.loss = loss  # type: ignore[method-assign]
    print(f"ahead weight {WEIGHT}", file=sys.stderr)
    from recdiff.cli.main import app

    app(sys.argv[1:])
