"""Reverse-process samplers: from x_T ~ N(0, I) to x_0, calling the approximator at each step.

Samplers draw their noise from the batch's :class:`~recdiff.nn.randomness.NoiseStream`, so a
user's result does not depend on the batch, and pass each step to the approximator as one
value expanded over the batch (the step embedding is then computed once per step).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from recdiff.diffusion.process import GaussianDiffusion
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import Params, register

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ReverseSampler(ABC):
    """Runs the reverse chain. `denoise(x_t [B, H], t [B]) -> x0_hat [B, H]` is the approximator."""

    def __init__(self, process: GaussianDiffusion) -> None:
        self.process = process

    @abstractmethod
    def __call__(self, denoise: Denoise, x_T: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        """Return x_0 [B, H] from x_T [B, H], drawing any step noise from `noise`."""

    @property
    def evaluations(self) -> int:
        """Approximator calls per sample (the cost of the sampler)."""
        return self.process.num_steps


def step_tensor(step: int, like: torch.Tensor) -> torch.Tensor:
    """Step `step` for every row of `like`, as an expanded int64 tensor [B] (stride 0)."""
    return torch.full((1,), step, dtype=torch.long, device=like.device).expand(like.shape[0])


class DDPMParams(Params):
    variance: Literal["fixed_large", "fixed_small"] = Field(
        "fixed_large",
        description="sigma_t^2 = beta_t (`fixed_large`, DiffuRec) or the posterior variance (`fixed_small`).",
    )


@register("sampler", "ddpm")
class DDPMSampler(ReverseSampler):
    """Ancestral sampling over every step: x_{t-1} = mu~_t(x_t, x0_hat) + sigma_t eps, no noise at the last step."""

    Params = DDPMParams

    def __init__(self, process: GaussianDiffusion, variance: str = "fixed_large") -> None:
        super().__init__(process)
        self.variance = variance

    def __call__(self, denoise: Denoise, x_T: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        process = self.process
        sigma2 = process.betas if self.variance == "fixed_large" else process.posterior_variance
        sigmas = sigma2.sqrt().tolist()
        x = x_T
        for step in reversed(range(process.num_steps)):
            t = step_tensor(step, x)
            mean, _ = process.q_posterior(denoise(x, t), x, t)
            x = mean + sigmas[step] * noise.normal(x.shape[1], x.dtype) if step > 0 else mean
        return x


class DDIMParams(Params):
    steps: int = Field(
        4, ge=1, description="Approximator calls k: the chain visits k of the T steps, evenly spaced from T-1 to 0."
    )
    eta: float = Field(
        0.0, ge=0.0, le=1.0, description="Noise scale: 0 is deterministic DDIM, 1 with all T steps is DDPM with `fixed_small`."
    )


@register("sampler", "ddim")
class DDIMSampler(ReverseSampler):
    """DDIM (Song et al., 2021) on a respaced subset of k steps.

    From step t to the previous visited step s (abar_s = 1 after the last), with eps_hat the
    noise implied by x0_hat:
        sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)
        x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z.
    """

    Params = DDIMParams

    def __init__(self, process: GaussianDiffusion, steps: int = 4, eta: float = 0.0) -> None:
        super().__init__(process)
        self.eta = eta
        self.schedule = respaced(process.num_steps, steps)

    @property
    def evaluations(self) -> int:
        return len(self.schedule)

    def __call__(self, denoise: Denoise, x_T: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        abar = self.process.alphas_cumprod.tolist()
        x = x_T
        for index, step in enumerate(self.schedule):
            t = step_tensor(step, x)
            x0_hat = denoise(x, t)
            if index == len(self.schedule) - 1:
                return x0_hat
            a_t, a_s = abar[step], abar[self.schedule[index + 1]]
            sigma = self.eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
            eps_hat = self.process.predict_noise(x0_hat, x, t)
            x = math.sqrt(a_s) * x0_hat + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps_hat
            if sigma > 0:
                x = x + sigma * noise.normal(x.shape[1], x.dtype)
        return x


def respaced(num_steps: int, k: int) -> list[int]:
    """k distinct steps from T-1 down to 0, evenly spaced (all T when k >= T)."""
    return sorted({int(s) for s in np.linspace(num_steps - 1, 0, min(k, num_steps)).round()}, reverse=True)


@register("sampler", "x0")
class X0Sampler(ReverseSampler):
    """One approximator call: x0_hat from pure noise at the last step (DiffuRecSys's efficient inference)."""

    @property
    def evaluations(self) -> int:
        return 1

    def __call__(self, denoise: Denoise, x_T: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        return denoise(x_T, step_tensor(self.process.num_steps - 1, x_T))
