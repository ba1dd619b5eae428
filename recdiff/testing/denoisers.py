"""Contract check of denoiser heads: what the `late_fusion` model relies on when it calls one.

On the head alone (small random rows, dropout off): output shape and dtype, also under bf16
autocast; the same output for the same inputs; each row independent of the others (a row is
a prefix in training and a user at inference, so batching must not matter); and a step given
as one value expanded over the rows (as reverse samplers pass it) equal to the same steps
given row by row. Then in a `late_fusion` model built with it: a finite loss whose gradient
reaches every head parameter, and a user's representation unchanged by the other users of the
batch and by extra left padding, with or without an ensemble.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from recdiff.models.build import build_model
from recdiff.nn.denoisers import Denoiser
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import denoisers
from recdiff.spec.loading import load_spec

ROWS, HIDDEN, STEPS = 5, 16, 8
HISTORY = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9], [0, 7, 8, 2, 1]])
TARGET = torch.tensor([6, 7, 10, 3])


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding of a different but equivalent computation."""
    return torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def _check_head(name: str, head: Denoiser) -> None:
    generator = torch.Generator().manual_seed(0)
    x_t = torch.randn(ROWS, HIDDEN, generator=generator)
    state = torch.randn(ROWS, HIDDEN, generator=generator)
    t = torch.randint(0, STEPS, (ROWS,), generator=generator)
    what = f"denoiser '{name}'"
    out = head(x_t, t, state)
    assert tuple(out.shape) == (ROWS, HIDDEN), f"{what} returned shape {tuple(out.shape)}, expected {(ROWS, HIDDEN)}"
    assert out.dtype == torch.float32, f"{what} returned {out.dtype} for float32 inputs"
    assert torch.isfinite(out).all(), f"{what} returned non-finite values"
    assert torch.equal(out, head(x_t, t, state)), f"{what} is not deterministic: the same inputs gave other outputs"
    rows = torch.tensor([3, 0])
    assert _close(head(x_t[rows], t[rows], state[rows]), out[rows]), (
        f"{what} depends on the other rows of the batch: compute each row from its own x_t, t and state"
    )
    step = torch.full((1,), STEPS - 1, dtype=torch.long).expand(ROWS)
    assert _close(head(x_t, step, state), head(x_t, step.contiguous(), state)), (
        f"{what} gives another x0_hat when the step comes expanded over the rows, as reverse samplers pass it"
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = head(x_t, t, state)
    assert low.shape == out.shape, f"{what} under bf16 autocast returned shape {tuple(low.shape)}"
    assert low.dtype in (torch.bfloat16, torch.float32), f"{what} under bf16 autocast returned {low.dtype}"
    assert torch.isfinite(low.float()).all(), f"{what} under bf16 autocast returned non-finite values"


def _check_in_model(name: str, params: Mapping[str, Any]) -> None:
    spec = load_spec({
        "preset": "late-fusion",
        "data": {"max_len": 10},
        "model": {
            "hidden": HIDDEN, "steps": STEPS, "dropout": 0.0, "emb_dropout": 0.0,
            "backbone": {"name": "transformer", "params": {"blocks": 1, "heads": 2, "causal": True}},
            "denoiser": {"name": name, "params": dict(params)},
        },
    })
    torch.manual_seed(0)
    model = build_model(spec, num_items=12)
    what = f"a late_fusion model with denoiser '{name}'"
    loss = model.loss(HISTORY, TARGET)
    assert loss.shape == () and torch.isfinite(loss), f"{what} gave the training loss {loss}"
    loss.backward()
    head = getattr(model, "denoiser")
    for parameter_name, parameter in head.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), (
            f"{what}: the head's parameter '{parameter_name}' gets no finite gradient from the loss"
        )
    model.eval()
    ids = torch.arange(len(HISTORY)) * 5 + 1
    with torch.no_grad():
        every = model.represent(HISTORY, NoiseStream.keyed(0, ids), ensemble=2)
        assert tuple(every.shape) == (2, len(HISTORY), HIDDEN) and every.dtype == torch.float32, (
            f"{what}: represent returned {tuple(every.shape)} {every.dtype}, expected (2, B, H) float32"
        )
        rows = torch.tensor([2, 1])
        alone = model.represent(HISTORY[rows], NoiseStream.keyed(0, ids[rows]), ensemble=2)
        padded = torch.cat([torch.zeros(len(HISTORY), 3, dtype=torch.long), HISTORY], dim=1)
        wider = model.represent(padded, NoiseStream.keyed(0, ids), ensemble=2)
    assert _close(alone, every[:, rows]), f"{what}: a user's representation depends on the other users of the batch"
    assert _close(wider, every), f"{what}: a user's representation changes with extra left padding"


def check_denoiser(name: str, params: Mapping[str, Any] | None = None) -> None:
    """Check denoiser head `name` (built with `params`) against its contract; AssertionError says what fails."""
    params = dict(params or {})
    head: Denoiser = denoisers.create(name, hidden=HIDDEN, steps=STEPS, dropout=0.0, **params)
    head.eval()
    with torch.no_grad():
        _check_head(name, head)
    _check_in_model(name, params)
