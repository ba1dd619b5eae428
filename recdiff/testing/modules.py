"""Contract checks of conditioning blocks and backbones, the two kinds that read the history.

What the model relies on, checked on the component alone (small random inputs, dropout off):
output shapes and dtypes, also under bf16 autocast on CPU; the same output for the same
keyed noise, whatever the other rows of the batch; `backbone.last` equal to the full pass's
newest position; and padding. A component whose `sees_padding` is False must leave real
positions unchanged by extra left padding and by what the padding holds; one that declares
True gets every history at the model's fixed width, so the model built with it must give the
same scores whatever the batch's padding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from recdiff.models.build import build_model
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.nn.backbones import Backbone
from recdiff.nn.conditioning import ConditioningBlock
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import backbones, conditionings
from recdiff.spec.loading import load_spec

LENGTHS = (6, 3, 1, 4)
"""Real items of each row of the test batch: a full row, padded rows, a single item."""
EXTRA = 3
"""Positions of extra left padding in the padding checks."""

Run = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, NoiseStream], torch.Tensor]
"""A component call on (rows [B] of the test batch, h [B, L, H], mask [B, L], noise) -> [B, L, H] or [B, H]."""


def _batch(hidden: int, extra: int = 0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded inputs [B, L, H] and their mask [B, L]; padding holds noise that depends on `seed`."""
    width = max(LENGTHS)
    real = torch.randn(len(LENGTHS), width, hidden, generator=torch.Generator().manual_seed(0))
    positions = torch.arange(width + extra)
    mask = positions[None, :] >= (width + extra - torch.tensor(LENGTHS))[:, None]
    filler = torch.randn(len(LENGTHS), width + extra, hidden, generator=torch.Generator().manual_seed(1000 + seed))
    h = filler.clone()
    h[:, extra:] = torch.where(mask[:, extra:, None], real, filler[:, extra:])
    return h, mask


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding of a different but equivalent computation."""
    return torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def _keys() -> torch.Tensor:
    return torch.arange(len(LENGTHS)) * 7 + 3


def _check_call(what: str, run: Run, hidden: int, sees_padding: bool, may_append: bool = False) -> None:
    """Shapes, dtypes, determinism, row independence and (unless `sees_padding`) left-padding invariance.

    With ``may_append`` the call may return positions after the newest (a conditioning block's
    `forward`); they count as real positions.
    """
    h, mask = _batch(hidden)
    every = torch.arange(len(LENGTHS))
    out = run(every, h, mask, NoiseStream(_keys()))
    appended = out.shape[1] - h.shape[1] if out.dim() == 3 and may_append and out.shape[1] > h.shape[1] else 0
    expected = (h.shape[0], h.shape[1] + appended, hidden) if out.dim() == 3 else (h.shape[0], hidden)
    assert tuple(out.shape) == tuple(expected), f"{what} returned shape {tuple(out.shape)}, expected {tuple(expected)}"
    assert out.dtype == torch.float32, f"{what} returned {out.dtype} for float32 inputs"
    assert torch.isfinite(out).all(), f"{what} returned non-finite values"
    again = run(every, h, mask, NoiseStream(_keys()))
    assert torch.equal(out, again), f"{what} is not deterministic: the same inputs and noise keys gave other outputs"
    rows = torch.tensor([2, 0])
    alone = run(rows, h[rows], mask[rows], NoiseStream(_keys()[rows]))
    assert _close(alone, out[rows]), (
        f"{what} depends on the other rows of the batch: draw randomness from the NoiseStream, keyed per row"
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = run(every, h, mask, NoiseStream(_keys()))
    assert low.shape == out.shape, f"{what} under bf16 autocast returned shape {tuple(low.shape)}"
    assert low.dtype in (torch.bfloat16, torch.float32), f"{what} under bf16 autocast returned {low.dtype}"
    assert torch.isfinite(low.float()).all(), f"{what} under bf16 autocast returned non-finite values"
    if sees_padding:
        return
    padded_h, padded_mask = _batch(hidden, EXTRA, seed=1)
    padded = run(every, padded_h, padded_mask, NoiseStream(_keys()))
    if out.dim() == 2:
        same = _close(padded, out)
    else:
        real = torch.cat([mask, torch.ones(len(mask), appended, dtype=torch.bool)], dim=1)
        same = _close(padded[:, EXTRA:][real], out[real])
    assert same, (
        f"{what} changes real positions when the left padding grows or holds other values; mask the padding, "
        f"or declare `sees_padding = True` so the model feeds every history at its fixed width"
    )


def _check_fixed_width(slot: str, name: str, params: Mapping[str, Any]) -> None:
    """A model built with a component that sees padding scores a history the same whatever its padding."""
    model_spec = {
        "hidden": 16, "steps": 4, "dropout": 0.0, "emb_dropout": 0.0,
        "conditioning": {"name": "additive"},
        "backbone": {"name": "transformer", "params": {"blocks": 2, "heads": 2}},
        slot: {"name": name, "params": dict(params)},
    }
    spec = load_spec({"data": {"max_len": 10}, "model": model_spec})
    torch.manual_seed(0)
    model = build_model(spec, num_items=20).eval()
    assert isinstance(model, DiffusionRecommender) and model.fixed_width, (
        f"a model with {slot} '{name}' (sees_padding True) must feed every history at its fixed width"
    )
    history = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7], [0, 9, 8, 7, 6]])
    longer = torch.cat([torch.zeros(4, EXTRA, dtype=torch.long), history], dim=1)
    with torch.no_grad():
        scores = model(history, NoiseStream.keyed(0, torch.arange(4)))
        padded = model(longer, NoiseStream.keyed(0, torch.arange(4)))
    assert _close(scores, padded), (
        f"a model with {slot} '{name}' scores a history differently when the batch is padded wider"
    )


def check_conditioning(name: str, params: Mapping[str, Any] | None = None, *, hidden: int = 16, num_blocks: int = 2) -> None:
    """Check conditioning block `name` (built with `params`) against its contract; AssertionError says what fails."""
    params = dict(params or {})
    block: ConditioningBlock = conditionings.create(name, hidden=hidden, num_blocks=num_blocks, dropout=0.0, **params)
    block.eval()
    assert isinstance(block.sees_padding, bool), f"conditioning '{name}': sees_padding must be a bool"
    target = torch.randn(len(LENGTHS), hidden, generator=torch.Generator().manual_seed(2))

    def once(rows: torch.Tensor, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        conditioned: torch.Tensor = block(h, target[rows], mask, noise)
        return conditioned

    with torch.no_grad():
        _check_call(f"conditioning '{name}' forward", once, hidden, block.sees_padding, may_append=True)
        for index in range(num_blocks):

            def before(
                rows: torch.Tensor, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream, index: int = index
            ) -> torch.Tensor:
                return block.before_block(index, h, target[rows], mask, noise)

            _check_call(f"conditioning '{name}' before_block({index})", before, hidden, block.sees_padding)
    if block.sees_padding:
        _check_fixed_width("conditioning", name, params)


def check_backbone(name: str, params: Mapping[str, Any] | None = None, *, hidden: int = 16) -> None:
    """Check backbone `name` (built with `params`) against its contract; AssertionError says what fails."""
    params = dict(params or {})
    backbone: Backbone = backbones.create(name, hidden=hidden, dropout=0.0, **params)
    backbone.eval()
    assert isinstance(backbone.num_blocks, int) and backbone.num_blocks >= 1, f"backbone '{name}': num_blocks must be >= 1"
    assert isinstance(backbone.sees_padding, bool), f"backbone '{name}': sees_padding must be a bool"
    shifts = torch.randn(backbone.num_blocks, hidden, generator=torch.Generator().manual_seed(3))
    calls: list[int] = []

    def condition(index: int, h: torch.Tensor) -> torch.Tensor:
        calls.append(index)
        return h + shifts[index]

    with torch.no_grad():
        full_pass: Run = lambda rows, h, mask, noise: backbone(h, mask, condition)  # noqa: E731
        newest: Run = lambda rows, h, mask, noise: backbone.last(h, mask, condition)  # noqa: E731
        _check_call(f"backbone '{name}'", full_pass, hidden, backbone.sees_padding)
        _check_call(f"backbone '{name}' last", newest, hidden, backbone.sees_padding)
        h, mask = _batch(hidden)
        calls.clear()
        full = backbone(h, mask, condition)
        assert calls and calls == sorted(set(calls)) and set(calls) <= set(range(backbone.num_blocks)), (
            f"backbone '{name}' called condition with blocks {calls}: each block index in 0..{backbone.num_blocks - 1} "
            f"at most once, in order"
        )
        last = backbone.last(h, mask, condition)
    assert _close(last, full[:, -1]), f"backbone '{name}': last(...) differs from forward(...)[:, -1]"
    if backbone.sees_padding:
        _check_fixed_width("backbone", name, params)
