"""The plugin's own tests: recdiff's contract checks, registration, parameter validation, the gate's maths, training a step."""

from __future__ import annotations

import pytest
import recdiff_gated
import torch

import recdiff
from recdiff.nn.randomness import NoiseStream
from recdiff.testing import check_conditioning, check_params_match_factory


@pytest.mark.parametrize("params", [{}, {"init_bias": 0.5}])
def test_passes_recdiff_conditioning_contract(params: dict[str, float]) -> None:
    """Shapes and dtypes (bf16 too), keyed-noise determinism, padding: what recdiff's own blocks pass."""
    check_conditioning("gated", params)


def test_params_match_the_constructor() -> None:
    check_params_match_factory("conditioning", "gated")


def test_registered_under_its_distribution() -> None:
    assert "gated" in recdiff.available("conditioning")
    entry = recdiff.registry.registry("conditioning").get("gated")
    assert entry.factory is recdiff_gated.GatedConditioning


def test_params_are_validated() -> None:
    with pytest.raises(recdiff.RecdiffError, match="init_bias"):
        recdiff.create("conditioning", "gated", hidden=8, num_blocks=1, dropout=0.0, init_bias="high")


def test_gate_starts_at_sigmoid_of_the_bias() -> None:
    block = recdiff.create("conditioning", "gated", hidden=4, num_blocks=1, dropout=0.0, init_bias=0.0)
    history, target = torch.randn(2, 3, 4), torch.randn(2, 4)
    out = block(history, target, torch.ones(2, 3, dtype=torch.bool), NoiseStream(torch.arange(2)))
    torch.testing.assert_close(out, history + 0.5 * target[:, None, :])


def test_model_with_gated_conditioning_trains() -> None:
    spec = recdiff.load_spec({"model": {"hidden": 16, "conditioning": {"name": "gated"},
                                        "backbone": {"name": "transformer", "params": {"blocks": 1, "heads": 2}}}})
    torch.manual_seed(0)
    model = recdiff.build_model(spec, num_items=20)
    gate = model.conditioning.gate
    assert torch.all(gate.weight == 0) and torch.allclose(gate.bias, torch.full_like(gate.bias, -2.0))
    history, target = torch.randint(1, 21, (8, 5)), torch.randint(1, 21, (8,))
    loss = model.loss(history, target)
    loss.backward()
    assert torch.isfinite(loss) and gate.weight.grad is not None and gate.weight.grad.abs().sum() > 0
