"""The Gaussian diffusion process: schedule constants, forward noising and the posterior.

Every formula of the process is written here once; samplers and the model only call it.
Steps are indexed t = 0..T-1, with abar_{-1} = 1.
"""

from __future__ import annotations

import torch
from torch import nn


def _gather(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """values[t] shaped [B, 1] so it broadcasts over the hidden dimension."""
    return values.gather(0, t).unsqueeze(-1)


class GaussianDiffusion(nn.Module):
    """Schedule constants as device buffers (moved with the model, gathered without NumPy).

    Args:
        betas: float64 tensor [T] with values in (0, 1).
    """

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor

    def __init__(self, betas: torch.Tensor) -> None:
        super().__init__()
        betas = betas.to(torch.float64)
        if betas.ndim != 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must be a 1-D tensor with every value in (0, 1)")
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        constants = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "posterior_variance": posterior_variance,
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * alphas.sqrt() / (1.0 - alphas_cumprod),
        }
        for name, value in constants.items():
            self.register_buffer(name, value.float(), persistent=False)
        self.num_steps = int(betas.numel())

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) with the given noise.

        Args:
            x0: [B, H] clean target embeddings.
            t: [B] int64 steps.
            noise: [B, H] noise (standard normal at inference; any sampler's in training).
        """
        return _gather(self.sqrt_alphas_cumprod, t) * x0 + _gather(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def q_posterior(
        self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean [B, H] and variance [B, 1] of q(x_{t-1} | x_t, x_0)."""
        mean = _gather(self.posterior_mean_coef1, t) * x0 + _gather(self.posterior_mean_coef2, t) * xt
        return mean, _gather(self.posterior_variance, t)

    def predict_noise(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise that takes x_0 to x_t: (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t), the inverse of `q_sample`."""
        return (xt - _gather(self.sqrt_alphas_cumprod, t) * x0) / _gather(self.sqrt_one_minus_alphas_cumprod, t)

    def extra_repr(self) -> str:
        return f"steps={self.num_steps}"
