"""The Gaussian process, the DDPM sampler, training noise and step samplers, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import recdiff
from recdiff.diffusion.process import GaussianDiffusion
from recdiff.diffusion.samplers import respaced
from recdiff.errors import RecdiffError
from recdiff.nn.randomness import NoiseStream

BETAS = [0.1, 0.3, 0.5]  # a short chain whose fixed_large and fixed_small variances differ a lot



def abar_of(betas: np.ndarray) -> np.ndarray:
    out, prod = [], 1.0
    for beta in betas:
        prod *= 1.0 - beta
        out.append(prod)
    return np.array(out)


def process_of(name: str = "trunc_lin", steps: int = 32) -> tuple[GaussianDiffusion, np.ndarray]:
    betas = recdiff.create("schedule", name, steps=steps)
    return GaussianDiffusion(betas), betas.numpy()


@pytest.mark.parametrize(("name", "steps"), [("trunc_lin", 32), ("cosine", 100), ("sqrt", 16)])
def test_constants_match_cumulative_products(name: str, steps: int) -> None:
    process, betas = process_of(name, steps)
    abar = abar_of(betas)
    np.testing.assert_allclose(process.alphas_cumprod.numpy(), abar, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(process.alphas_cumprod_prev.numpy(), np.concatenate([[1.0], abar[:-1]]), rtol=1e-5)
    assert process.num_steps == steps


@pytest.mark.parametrize("betas", [[0.1, 0.0], [0.5, 1.0], [[0.1, 0.2]], [0.2, -0.1]])
def test_invalid_betas_are_rejected(betas: list) -> None:
    with pytest.raises(ValueError):
        GaussianDiffusion(torch.tensor(betas, dtype=torch.float64))


def test_q_sample_closed_form() -> None:
    process, betas = process_of("trunc_lin", 32)
    abar = abar_of(betas)
    torch.manual_seed(0)
    x0 = torch.randn(6, 5)
    noise = torch.randn(6, 5)
    t = torch.tensor([0, 3, 10, 20, 31, 31])
    expected = (
        np.sqrt(abar[t.numpy()])[:, None] * x0.numpy() + np.sqrt(1 - abar[t.numpy()])[:, None] * noise.numpy()
    )
    np.testing.assert_allclose(process.q_sample(x0, t, noise).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("step", [0, 7, 31])
def test_q_sample_moments(step: int) -> None:
    process, betas = process_of("trunc_lin", 32)
    abar = abar_of(betas)[step]
    n = 200_000
    torch.manual_seed(1)
    x0 = torch.tensor([1.5, -2.0, 0.3, 0.0]).expand(n, 4)
    xt = process.q_sample(x0, torch.full((n,), step), torch.randn(n, 4)).double().numpy()
    mean_sd = math.sqrt((1 - abar) / n)
    np.testing.assert_allclose(xt.mean(0), math.sqrt(abar) * x0[0].numpy(), atol=5 * mean_sd)
    # the sample variance has relative standard deviation sqrt(2/n) ~ 0.3%
    np.testing.assert_allclose(xt.var(0), 1 - abar, rtol=0.02)


def posterior_closed_form(betas: np.ndarray, x0: np.ndarray, xt: np.ndarray, t: int) -> tuple[np.ndarray, float]:
    abar = abar_of(betas)
    prev = 1.0 if t == 0 else abar[t - 1]
    beta, alpha = betas[t], 1 - betas[t]
    mean = math.sqrt(prev) * beta / (1 - abar[t]) * x0 + math.sqrt(alpha) * (1 - prev) / (1 - abar[t]) * xt
    return mean, (1 - prev) / (1 - abar[t]) * beta


@pytest.mark.parametrize("t", [0, 1, 5, 31])
def test_q_posterior_closed_form(t: int) -> None:
    process, betas = process_of("trunc_lin", 32)
    torch.manual_seed(2)
    x0, xt = torch.randn(3, 4), torch.randn(3, 4)
    mean, var = process.q_posterior(x0, xt, torch.full((3,), t))
    expected_mean, expected_var = posterior_closed_form(betas, x0.numpy(), xt.numpy(), t)
    np.testing.assert_allclose(mean.numpy(), expected_mean, rtol=1e-5, atol=1e-6)
    assert var.shape == (3, 1)
    np.testing.assert_allclose(var.numpy(), expected_var, rtol=1e-5, atol=1e-9)
    if t == 0:  # abar_{-1} = 1: the posterior is the point x0
        assert torch.equal(mean, x0)
        assert torch.equal(var, torch.zeros(3, 1))


def test_q_posterior_mixed_steps_in_a_batch() -> None:
    process, betas = process_of("cosine", 10)
    torch.manual_seed(3)
    x0, xt = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.tensor([9, 0, 4, 1])
    mean, var = process.q_posterior(x0, xt, t)
    for row, step in enumerate(t.tolist()):
        m, v = posterior_closed_form(betas, x0[row].numpy(), xt[row].numpy(), step)
        np.testing.assert_allclose(mean[row].numpy(), m, rtol=1e-5, atol=1e-6)
        assert var[row, 0].item() == pytest.approx(v, rel=1e-5, abs=1e-9)


def normal_pdf(x: np.ndarray, mean: float, var: float) -> np.ndarray:
    return np.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)


@pytest.mark.parametrize(("t", "x0", "xt"), [(1, 0.7, -0.4), (2, -1.2, 1.5), (15, 0.3, 2.0)])
def test_q_posterior_is_bayes(t: int, x0: float, xt: float) -> None:
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), normalised on a grid."""
    process, betas = process_of("trunc_lin", 32)
    abar = abar_of(betas)
    grid = np.linspace(-12, 12, 400_001)
    prior = normal_pdf(grid, math.sqrt(abar[t - 1]) * x0, 1 - abar[t - 1])
    likelihood = normal_pdf(xt, math.sqrt(1 - betas[t]) * grid, betas[t])
    weights = prior * likelihood
    weights /= weights.sum()
    bayes_mean = float((weights * grid).sum())
    bayes_var = float((weights * (grid - bayes_mean) ** 2).sum())
    mean, var = process.q_posterior(torch.tensor([[x0]]), torch.tensor([[xt]]), torch.tensor([t]))
    assert mean.item() == pytest.approx(bayes_mean, abs=1e-5)
    assert var.item() == pytest.approx(bayes_var, rel=1e-4)


# DDPM sampler


def test_ddpm_returns_a_fixed_prediction_exactly() -> None:
    process, _ = process_of("trunc_lin", 32)
    sampler = recdiff.create("sampler", "ddpm", process=process)
    torch.manual_seed(4)
    x0 = torch.randn(5, 8)
    x_T = torch.randn(5, 8)
    seen: list[int] = []

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.int64 and t.shape == (5,)
        assert (t == t[0]).all()
        if not seen:
            assert x_t is x_T
        seen.append(int(t[0]))
        return x0

    out = sampler(denoise, x_T, NoiseStream(torch.arange(5)))
    assert seen == list(range(31, -1, -1))
    assert torch.equal(out, x0)


@pytest.mark.parametrize("variance", ["fixed_large", "fixed_small"])
def test_ddpm_step_noise_variance(variance: str) -> None:
    """With x_T = 0 and a fixed x0, the states the chain visits have closed-form moments.

    Steps 2, 1, 0 (T = 3). With c1, c2 the posterior mean coefficients and s_t^2 the step
    variance (beta_t for fixed_large, the posterior variance for fixed_small):
        x_2 = 0
        x_1 = c1[2] x0 + s_2 e                 var s_2^2
        x_0' = c1[1] x0 + c2[1] x_1 + s_1 e'   var c2[1]^2 s_2^2 + s_1^2
    """
    betas = np.array(BETAS)
    abar = abar_of(betas)
    prev = np.concatenate([[1.0], abar[:-1]])
    c1 = np.sqrt(prev) * betas / (1 - abar)
    c2 = np.sqrt(1 - betas) * (1 - prev) / (1 - abar)
    s2 = betas if variance == "fixed_large" else (1 - prev) / (1 - abar) * betas
    process = GaussianDiffusion(torch.tensor(BETAS, dtype=torch.float64))
    sampler = recdiff.create("sampler", "ddpm", process=process, variance=variance)

    n, value = 200_000, 0.8
    x0 = torch.full((n, 1), value)
    visited: dict[int, torch.Tensor] = {}

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        visited[int(t[0])] = x_t.clone()
        return x0

    torch.manual_seed(5)
    out = sampler(denoise, torch.zeros(n, 1), NoiseStream(torch.arange(n)))
    assert torch.equal(out, x0)
    x1 = visited[1].double().numpy()
    x0_prime = visited[0].double().numpy()
    var1 = s2[2]
    var0 = c2[1] ** 2 * s2[2] + s2[1]
    assert x1.mean() == pytest.approx(c1[2] * value, abs=5 * math.sqrt(var1 / n))
    assert x1.var() == pytest.approx(var1, rel=0.02)
    assert x0_prime.mean() == pytest.approx((c1[1] + c2[1] * c1[2]) * value, abs=5 * math.sqrt(var0 / n))
    assert x0_prime.var() == pytest.approx(var0, rel=0.02)


def test_ddpm_variances_differ() -> None:
    """The variance test can tell the modes apart: abar = 0.9, 0.63, 0.315, so at the last step
    fixed_large gives 0.5 and fixed_small 0.5 * 0.37 / 0.685 ~ 0.270 (and 0.3 vs 0.081 at step 1),
    far beyond the 2% tolerance."""
    betas = np.array(BETAS)
    abar = abar_of(betas)
    assert (1 - abar[1]) / (1 - abar[2]) * betas[2] == pytest.approx(0.2701, abs=1e-4)
    assert (1 - abar[0]) / (1 - abar[1]) * betas[1] == pytest.approx(0.0811, abs=1e-4)


def test_ddpm_params_validated() -> None:
    process = GaussianDiffusion(torch.tensor(BETAS, dtype=torch.float64))
    with pytest.raises(RecdiffError, match="variance"):
        recdiff.create("sampler", "ddpm", process=process, variance="learned")
    with pytest.raises(RecdiffError, match="eta"):
        recdiff.create("sampler", "ddpm", process=process, eta=0.0)


# DDIM and x0 samplers


def one_step_moments(sampler_name: str, params: dict, t: int, x0: float, xt: float, n: int = 200_000):
    """Mean and variance of the state after one reverse step from x_t at step t, with a fixed x0_hat."""
    process = GaussianDiffusion(torch.tensor(BETAS, dtype=torch.float64))
    sampler = recdiff.create("sampler", sampler_name, process=process, **params)
    visited: list[torch.Tensor] = []

    def denoise(x_t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        visited.append(x_t.clone())
        return torch.full_like(x_t, x0)

    x_T = torch.full((n, 1), xt)
    # Start the chain at step t by running it over a process cut to t + 1 steps.
    sampler.process = GaussianDiffusion(torch.tensor(BETAS[: t + 1], dtype=torch.float64))
    if hasattr(sampler, "schedule"):
        sampler.schedule = respaced(t + 1, t + 1)
    sampler(denoise, x_T, NoiseStream(torch.arange(n)))
    after = visited[1].double()
    return after.mean().item(), after.var().item()


@pytest.mark.parametrize("t", [1, 2])
def test_ddim_with_all_steps_and_eta_1_is_ddpm_fixed_small(t: int) -> None:
    """One step of DDIM (eta = 1, all T steps) has DDPM's posterior mean and fixed_small variance."""
    betas = np.array(BETAS)
    abar = abar_of(betas)
    prev = np.concatenate([[1.0], abar[:-1]])
    x0, xt = 0.7, -0.4
    mean = np.sqrt(prev[t]) * betas[t] / (1 - abar[t]) * x0 + np.sqrt(1 - betas[t]) * (1 - prev[t]) / (1 - abar[t]) * xt
    var = (1 - prev[t]) / (1 - abar[t]) * betas[t]
    for name, params in (("ddim", {"steps": t + 1, "eta": 1.0}), ("ddpm", {"variance": "fixed_small"})):
        got_mean, got_var = one_step_moments(name, params, t, x0, xt)
        assert got_mean == pytest.approx(mean, abs=5 * math.sqrt(var / 200_000)), name
        assert got_var == pytest.approx(var, rel=0.02), name


def test_ddim_eta_0_is_deterministic_and_follows_the_closed_form() -> None:
    """eta = 0: x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s) eps_hat, eps_hat = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)."""
    betas = np.array(BETAS)
    abar = abar_of(betas)
    x0, xt, t = 0.7, -0.4, 2
    eps = (xt - np.sqrt(abar[t]) * x0) / np.sqrt(1 - abar[t])
    expected = np.sqrt(abar[t - 1]) * x0 + np.sqrt(1 - abar[t - 1]) * eps
    mean, var = one_step_moments("ddim", {"steps": t + 1, "eta": 0.0}, t, x0, xt, n=10)
    assert mean == pytest.approx(expected, abs=1e-6)
    assert var == pytest.approx(0.0, abs=1e-12)


def test_ddim_visits_a_respaced_subset_and_returns_the_last_prediction() -> None:
    process, _ = process_of("trunc_lin", 32)
    assert respaced(32, 4) == [31, 21, 10, 0]
    assert respaced(32, 1) == [31]
    assert respaced(4, 10) == [3, 2, 1, 0]
    sampler = recdiff.create("sampler", "ddim", process=process, steps=4)
    assert sampler.evaluations == 4
    seen: list[int] = []
    final = torch.randn(3, 8)

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(int(t[0]))
        return final if int(t[0]) == 0 else torch.zeros_like(x_t)

    out = sampler(denoise, torch.randn(3, 8), NoiseStream(torch.arange(3)))
    assert seen == [31, 21, 10, 0]
    assert torch.equal(out, final)


def test_x0_sampler_makes_one_call_at_the_last_step() -> None:
    process, _ = process_of("trunc_lin", 32)
    sampler = recdiff.create("sampler", "x0", process=process)
    x_T = torch.randn(3, 8)
    calls: list[tuple[torch.Tensor, int]] = []

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append((x_t, int(t[0])))
        return 2 * x_t

    out = sampler(denoise, x_T, NoiseStream(torch.arange(3)))
    assert len(calls) == 1 and calls[0][0] is x_T and calls[0][1] == 31
    assert torch.equal(out, 2 * x_T)
    assert sampler.evaluations == 1


def test_ddim_params_validated() -> None:
    process, _ = process_of("trunc_lin", 32)
    with pytest.raises(RecdiffError, match="eta"):
        recdiff.create("sampler", "ddim", process=process, eta=1.5)
    with pytest.raises(RecdiffError, match="steps"):
        recdiff.create("sampler", "ddim", process=process, steps=0)


# Training noise


def moments(noise: torch.Tensor) -> tuple[float, float]:
    x = noise.double()
    return x.mean().item(), x.var().item()


def test_gaussian_noise_is_standard_normal() -> None:
    torch.manual_seed(6)
    x0 = torch.full((50_000, 4), 3.0)
    noise = recdiff.create("noise", "gaussian")(x0)
    assert noise.shape == x0.shape and noise.dtype == x0.dtype
    mean, var = moments(noise)
    assert abs(mean) < 5 / math.sqrt(200_000)
    assert var == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize(("params", "shift"), [({}, 0.1), ({"strength": 0.5, "delta_c": 2.0}, 1.0), ({"delta_c": -3.0}, -0.3)])
def test_offset_noise_moments(params: dict, shift: float) -> None:
    torch.manual_seed(7)
    x0 = torch.zeros(50_000, 4)
    noise = recdiff.create("noise", "offset", **params)(x0)
    assert noise.shape == x0.shape
    mean, var = moments(noise)
    assert mean == pytest.approx(shift, abs=5 / math.sqrt(200_000))
    assert var == pytest.approx(1.0, rel=0.02)
    # the offset is shared by every dimension
    per_dim = noise.double().mean(0)
    np.testing.assert_allclose(per_dim.numpy(), shift, atol=5 / math.sqrt(50_000))


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("offset", {"scale": 0.1}, "scale"),
        ("offset", {"strength": "big"}, "strength"),
        ("gaussian", {"strength": 0.1}, "strength"),
    ],
)
def test_noise_params_validated(name: str, params: dict, field: str) -> None:
    with pytest.raises(RecdiffError, match=field):
        recdiff.create("noise", name, **params)


# Offset noise is used in training only


class Recording:
    """Wraps a component and records every call."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls: list[tuple] = []
        self.outputs: list[torch.Tensor] = []

    def __call__(self, *args):  # type: ignore[no-untyped-def]
        self.calls.append(args)
        out = self.inner(*args)
        self.outputs.append(out)
        return out


def offset_model() -> recdiff.DiffusionRecommender:
    spec = recdiff.load_spec(
        {
            "data": {"max_len": 4},
            "model": {
                "hidden": 16,
                "steps": 4,
                "noise": {"name": "offset", "params": {"strength": 0.5, "delta_c": 1.0}},
                "backbone": {"name": "transformer", "params": {"blocks": 1, "heads": 2}},
                "conditioning": {"name": "cross_attention", "params": {"heads": 2}},
            },
        }
    )
    torch.manual_seed(8)
    return recdiff.build_model(spec, num_items=20)


def test_offset_noise_only_in_training() -> None:
    model = offset_model()
    noise = Recording(model.noise)
    model.noise = noise
    sampler = Recording(model.sampler)
    model.sampler = sampler

    torch.manual_seed(9)
    history = torch.randint(1, 21, (3000, 3))
    target = torch.randint(1, 21, (3000,))
    model.train()
    loss = model.loss(history, target)
    assert torch.isfinite(loss)
    assert len(noise.calls) == 1 and len(sampler.calls) == 0
    assert noise.outputs[0].shape == (3000, 16)
    assert noise.outputs[0].double().mean().item() == pytest.approx(0.5, abs=0.01)  # it is the offset noise

    model.eval()
    with torch.no_grad():
        scores = model(history)
    assert scores.shape == (3000, 20)
    assert len(noise.calls) == 1  # inference never calls the training noise
    assert len(sampler.calls) == 1
    x_T = sampler.calls[0][1]
    assert x_T.shape == (3000, 16)
    mean, var = moments(x_T)
    assert abs(mean) < 0.01  # standard normal: 5 sd of the mean of 48k draws is ~0.023, offset would be 0.5
    assert var == pytest.approx(1.0, rel=0.03)
    # every dimension of x_T is centred, not only their average
    assert x_T.double().mean(0).abs().max().item() < 5 / math.sqrt(3000)


# Timestep sampler


def test_uniform_timesteps_cover_all_steps_uniformly() -> None:
    steps, n = 10, 100_000
    sampler = recdiff.create("timestep", "uniform", steps=steps)
    torch.manual_seed(10)
    t = sampler(n, torch.device("cpu"))
    assert t.dtype == torch.int64 and t.shape == (n,)
    assert t.min().item() == 0 and t.max().item() == steps - 1
    counts = np.bincount(t.numpy(), minlength=steps)
    assert len(counts) == steps  # nothing at or above `steps`
    expected = n / steps
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40  # 9 degrees of freedom: P(chi2 > 40) ~ 7e-6


def test_uniform_timesteps_single_step() -> None:
    sampler = recdiff.create("timestep", "uniform", steps=1)
    assert torch.equal(sampler(7, torch.device("cpu")), torch.zeros(7, dtype=torch.int64))
