"""Contract checks of the kinds that turn an approximator into scores: reverse samplers and scorers.

Evaluation ranks a user's items by `scorer(sampler(denoise, x_T, noise), items)` and relies
on a user's result being the same in any batch, on items being scored a slice at a time,
and on `sampler.evaluations` being the sampler's true cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from recdiff.diffusion.process import GaussianDiffusion
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import samplers, schedules, scorers

ROWS, HIDDEN, ITEMS = 5, 8, 11


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def check_sampler(name: str, params: Mapping[str, Any] | None = None, *, steps: int = 8) -> None:
    """Check reverse sampler `name` (built with `params`) against its contract; AssertionError says what fails."""
    process = GaussianDiffusion(schedules.create("trunc_lin", steps=steps))
    sampler = samplers.create(name, process=process, **dict(params or {}))
    keys = torch.arange(ROWS) * 5 + 1
    x_T = torch.randn(ROWS, HIDDEN, generator=torch.Generator().manual_seed(0))
    seen: list[torch.Tensor] = []

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(t)
        return 0.5 * x_t + 0.01 * t[:, None].float()

    x0 = sampler(denoise, x_T, NoiseStream(keys))
    assert x0.shape == x_T.shape and x0.dtype == x_T.dtype, (
        f"sampler '{name}' returned {tuple(x0.shape)} {x0.dtype} for x_T {tuple(x_T.shape)} {x_T.dtype}"
    )
    assert torch.isfinite(x0).all(), f"sampler '{name}' returned non-finite values"
    assert len(seen) == sampler.evaluations, (
        f"sampler '{name}' called denoise {len(seen)} times but its `evaluations` says {sampler.evaluations}"
    )
    for t in seen:
        assert t.shape == (ROWS,) and t.dtype == torch.int64, f"sampler '{name}' passed steps {tuple(t.shape)} {t.dtype}"
        assert bool(((t >= 0) & (t < steps)).all()), f"sampler '{name}' passed a step outside 0..{steps - 1}"
    again = sampler(denoise, x_T, NoiseStream(keys))
    assert torch.equal(x0, again), f"sampler '{name}' is not deterministic: the same x_T and noise keys gave other x_0"
    rows = torch.tensor([3, 1])
    alone = sampler(denoise, x_T[rows], NoiseStream(keys[rows]))
    assert _close(alone, x0[rows]), (
        f"sampler '{name}' depends on the other rows of the batch: draw step noise from the NoiseStream"
    )


def check_scorer(name: str, params: Mapping[str, Any] | None = None) -> None:
    """Check scorer `name` (built with `params`) against its contract; AssertionError says what fails."""
    scorer = scorers.create(name, **dict(params or {}))
    generator = torch.Generator().manual_seed(0)
    x0, items = torch.randn(ROWS, HIDDEN, generator=generator), torch.randn(ITEMS, HIDDEN, generator=generator)
    scores = scorer(x0, items)
    assert scores.shape == (ROWS, ITEMS) and scores.dtype == torch.float32, (
        f"scorer '{name}' returned {tuple(scores.shape)} {scores.dtype}, expected ({ROWS}, {ITEMS}) float32"
    )
    assert torch.isfinite(scores).all(), f"scorer '{name}' returned non-finite scores"
    assert _close(scorer(x0, items[3:7]), scores[:, 3:7]), (
        f"scorer '{name}' scores an item differently when given a slice of the items: columns must be independent"
    )
    assert _close(scorer(x0[[4, 0]], items), scores[[4, 0]]), f"scorer '{name}' scores a row differently in another batch"
    pairs = items[:ROWS]
    paired = scorer.paired(x0, pairs)
    assert paired.shape == (ROWS,), f"scorer '{name}'.paired returned shape {tuple(paired.shape)}, expected ({ROWS},)"
    assert _close(paired, scorer(x0, pairs).diagonal()), f"scorer '{name}'.paired differs from the diagonal of its scores"
