"""Beta schedules against their formulas, written out independently here with numpy/math."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import recdiff
from recdiff.errors import RecdiffError

STEPS = [16, 32, 100, 1000]
LINEAR_STEPS = [21, 32, 100, 1000]  # the rescaled linear end 20/T must stay below 1


def schedule(name: str, steps: int) -> np.ndarray:
    betas = recdiff.create("schedule", name, steps=steps)
    assert isinstance(betas, torch.Tensor)
    return betas.numpy()


def from_alpha_bar(steps: int, abar) -> np.ndarray:
    return np.array([min(1 - abar((i + 1) / steps) / abar(i / steps), 0.999) for i in range(steps)])


@pytest.mark.parametrize("steps", LINEAR_STEPS)
def test_linear(steps: int) -> None:
    s = 1000 / steps
    expected = np.linspace(s * 1e-4, s * 0.02, steps)
    np.testing.assert_allclose(schedule("linear", steps), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("steps", [50, 100, 1000])
def test_trunc_lin(steps: int) -> None:
    s = 1000 / steps
    assert s * 0.02 + 0.01 <= 1  # the end is not clipped for these T
    expected = np.linspace(s * 1e-4 + 0.01, s * 0.02 + 0.01, steps)
    np.testing.assert_allclose(schedule("trunc_lin", steps), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("steps", [10, 16, 20, 32])
def test_trunc_lin_end_clipped_for_few_steps(steps: int) -> None:
    # T=10: s=100, s*0.02+0.01 = 2.01 > 1, so the end becomes s*0.001+0.01 = 0.11.
    # T=16: s=62.5, 1.26 > 1, end 0.0725. T=20: s=50, 1.01 > 1, end 0.06.
    # T=32: s=31.25, 0.635 <= 1, but 0.635 > 0.04125 = s*0.001+0.01 shows the branch matters.
    s = 1000 / steps
    clipped = s * 0.02 + 0.01 > 1
    end = s * 0.001 + 0.01 if clipped else s * 0.02 + 0.01
    expected = np.linspace(s * 1e-4 + 0.01, end, steps)
    betas = schedule("trunc_lin", steps)
    np.testing.assert_allclose(betas, expected, rtol=1e-12, atol=1e-15)
    assert betas[-1] == pytest.approx({10: 0.11, 16: 0.0725, 20: 0.06, 32: 0.635}[steps])


@pytest.mark.parametrize("steps", STEPS)
def test_cosine(steps: int) -> None:
    expected = from_alpha_bar(steps, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)
    betas = schedule("cosine", steps)
    np.testing.assert_allclose(betas, expected, rtol=1e-12, atol=1e-15)
    assert betas[-1] == pytest.approx(0.999)  # abar(1) = 0: the last beta is clipped


@pytest.mark.parametrize("steps", STEPS)
def test_sqrt(steps: int) -> None:
    expected = from_alpha_bar(steps, lambda t: 1 - math.sqrt(t + 1e-4))
    np.testing.assert_allclose(schedule("sqrt", steps), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("steps", STEPS)
def test_trunc_cos(steps: int) -> None:
    def abar(t: float) -> float:
        return math.cos((t + 0.1) / 1.1 * math.pi / 2) ** 2

    expected = np.empty(steps)
    expected[0] = 1 - abar(0)
    for i in range(steps - 1):
        expected[i + 1] = min(1 - abar((i + 1) / steps) / abar(i / steps), 0.999)
    betas = schedule("trunc_cos", steps)
    np.testing.assert_allclose(betas, expected, rtol=1e-12, atol=1e-15)
    assert betas[0] == pytest.approx(math.sin(0.1 / 1.1 * math.pi / 2) ** 2)


@pytest.mark.parametrize("steps", LINEAR_STEPS)
def test_pw_lin(steps: int) -> None:
    s = 1000 / steps
    expected = np.concatenate(
        [np.linspace(s * 1e-4 + 0.01, s * 1e-4, 10), np.linspace(s * 1e-4, s * 0.02, steps - 10)]
    )
    betas = schedule("pw_lin", steps)
    np.testing.assert_allclose(betas, expected, rtol=1e-12, atol=1e-15)
    assert betas[0] > betas[9]  # the first piece decreases


@pytest.mark.parametrize("steps", [1, 5, 10])
def test_pw_lin_needs_more_than_ten_steps(steps: int) -> None:
    with pytest.raises(RecdiffError, match="more than 10"):
        recdiff.create("schedule", "pw_lin", steps=steps)


@pytest.mark.parametrize("name", ["linear", "pw_lin"])
@pytest.mark.parametrize("steps", [11, 16, 20])
def test_linear_end_at_or_above_one_is_an_error(name: str, steps: int) -> None:
    # s*0.02 = 20/T >= 1 for T <= 20: the formula would give betas >= 1, which no process accepts.
    with pytest.raises(RecdiffError, match="more than 20") as info:
        recdiff.create("schedule", name, steps=steps)
    assert "model.steps" in str(info.value)


def test_short_linear_schedule_fails_clearly_when_building_a_model() -> None:
    spec = recdiff.load_spec({"model": {"steps": 16, "hidden": 8, "schedule": {"name": "linear"}}})
    with pytest.raises(RecdiffError, match="linear"):
        recdiff.build_model(spec, 5, max_len=4)


def test_schedules_differ() -> None:
    """The closed forms above would pass vacuously if every name returned the same array."""
    arrays = {name: schedule(name, 32) for name in recdiff.available("schedule")}
    names = sorted(arrays)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.allclose(arrays[a], arrays[b]), (a, b)


@pytest.mark.parametrize("name", recdiff.available("schedule"))
@pytest.mark.parametrize("steps", [21, 32, 100, 1000])
def test_schedule_contract(name: str, steps: int) -> None:
    betas = recdiff.create("schedule", name, steps=steps)
    assert isinstance(betas, torch.Tensor)
    assert betas.dtype == torch.float64
    assert betas.shape == (steps,)
    assert bool(((betas > 0) & (betas < 1)).all()), betas


@pytest.mark.parametrize("name", recdiff.available("schedule"))
@pytest.mark.parametrize("steps", [1, 2, 10, 16, 20])
def test_schedule_contract_for_few_steps(name: str, steps: int) -> None:
    """Few steps: a schedule either honours the contract or says clearly that it cannot."""
    try:
        betas = recdiff.create("schedule", name, steps=steps)
    except RecdiffError as error:
        assert "model.steps" in str(error)
        assert name in {"linear", "pw_lin"}
        return
    assert betas.dtype == torch.float64
    assert betas.shape == (steps,)
    assert bool(((betas > 0) & (betas < 1)).all()), betas
