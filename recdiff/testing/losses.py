"""Contract check of training losses: what both model families rely on when they call one.

On small random rows, items and labels (with and without seen items, under the dot and cosine
scorers): an fp32 scalar that is finite, gradients for the rows and the item table that are
finite and not all zero, the same value for the same global seed, and an fp32 result under
bf16 autocast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from recdiff.nn.losses import Loss
from recdiff.nn.scorers import CosineScorer, DotScorer
from recdiff.registry import losses

ROWS, HIDDEN, ITEMS = 6, 8, 13


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, HIDDEN, generator=generator)
    items = torch.randn(ITEMS, HIDDEN, generator=generator)
    labels = torch.randint(0, ITEMS, (ROWS,), generator=generator)
    seen = torch.randint(-3, ITEMS, (ROWS, 4), generator=generator)
    return x, items, labels, seen


def _seeded(loss: Loss, *args: Any) -> torch.Tensor:
    torch.manual_seed(7)
    value: torch.Tensor = loss(*args)
    return value


def check_loss(name: str, params: Mapping[str, Any] | None = None) -> None:
    """Check loss `name` (built with `params` and training counts) against its contract; AssertionError says what fails."""
    counts = torch.arange(ITEMS) % 4
    loss: Loss = losses.create(name, item_counts=counts, **dict(params or {}))
    x, items, labels, seen = _inputs()
    for scorer in (DotScorer(), CosineScorer()):
        for rows_seen in (None, seen):
            x_in, items_in = x.clone().requires_grad_(), items.clone().requires_grad_()
            value = _seeded(loss, x_in, items_in, labels, scorer, rows_seen)
            what = f"loss '{name}' ({type(scorer).__name__}, {'with' if rows_seen is not None else 'no'} seen items)"
            assert value.shape == () and value.dtype == torch.float32, f"{what} returned {tuple(value.shape)} {value.dtype}"
            assert torch.isfinite(value), f"{what} is not finite: {value.item()}"
            grad_x, grad_items = torch.autograd.grad(value, (x_in, items_in))
            assert torch.isfinite(grad_x).all() and torch.isfinite(grad_items).all(), f"{what} has non-finite gradients"
            assert grad_x.abs().sum() > 0 and grad_items.abs().sum() > 0, f"{what} gives no gradient to the rows or items"
            again = _seeded(loss, x, items, labels, scorer, rows_seen)
            assert torch.equal(value.detach(), again), (
                f"{what} is not deterministic under a fixed seed: draw randomness from the global generator"
            )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = _seeded(loss, x, items, labels, DotScorer(), seen)
    assert low.dtype == torch.float32 and torch.isfinite(low), f"loss '{name}' under bf16 autocast returned {low.dtype} {low}"
