"""Reverse-process samplers: from x_T ~ N(0, I) to x_0, calling the approximator at each step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field

from recdiff.diffusion.process import GaussianDiffusion
from recdiff.registry import Params, register

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ReverseSampler(ABC):
    """Runs the reverse chain. `denoise(x_t [B, H], t [B]) -> x0_hat [B, H]` is the approximator."""

    def __init__(self, process: GaussianDiffusion) -> None:
        self.process = process

    @abstractmethod
    def __call__(self, denoise: Denoise, x_T: torch.Tensor) -> torch.Tensor:
        """Return x_0 [B, H] from x_T [B, H]."""


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

    def __call__(self, denoise: Denoise, x_T: torch.Tensor) -> torch.Tensor:
        process = self.process
        sigma2 = process.betas if self.variance == "fixed_large" else process.posterior_variance
        sigmas = sigma2.sqrt().tolist()
        x = x_T
        for step in reversed(range(process.num_steps)):
            t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
            mean, _ = process.q_posterior(denoise(x, t), x, t)
            x = mean + sigmas[step] * torch.randn_like(x) if step > 0 else mean
        return x
