"""Beta schedules, as DiffuRec defines them for T steps.

A registered schedule must never change what it returns: runs and checkpoints depend on it.
A changed schedule gets a new name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from recdiff.errors import RegistryError
from recdiff.registry import register

MAX_BETA = 0.999


def _scale(steps: int) -> float:
    """DiffuRec scales the 1000-step linear endpoints to `steps` steps."""
    return 1000.0 / steps


def _linspace(start: float, end: float, steps: int) -> torch.Tensor:
    return torch.linspace(start, end, steps, dtype=torch.float64)


def _check_linear_end(name: str, steps: int) -> None:
    """The rescaled DDPM end s*0.02 reaches 1 for T <= 20: refuse instead of returning betas >= 1."""
    if _scale(steps) * 0.02 >= 1:
        raise RegistryError(
            f"The '{name}' schedule needs more than 20 diffusion steps (its last beta, 20/T, must stay below 1), "
            f"got model.steps = {steps}. Raise model.steps or pick another schedule (e.g. trunc_lin or cosine)."
        )


def _from_alpha_bar(steps: int, alpha_bar: Callable[[float], float]) -> torch.Tensor:
    """`beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999)` for i = 0..T-1."""
    betas = [min(1.0 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), MAX_BETA) for i in range(steps)]
    return torch.tensor(betas, dtype=torch.float64)


@register("schedule", "linear")
def linear(steps: int) -> torch.Tensor:
    """Linear betas from s*1e-4 to s*0.02 with s = 1000/T (DDPM's schedule rescaled)."""
    _check_linear_end("linear", steps)
    s = _scale(steps)
    return _linspace(s * 1e-4, s * 0.02, steps)


@register("schedule", "trunc_lin")
def trunc_lin(steps: int) -> torch.Tensor:
    """Linear schedule shifted by +0.01 at both ends (DiffuRec's default)."""
    s = _scale(steps)
    end = s * 0.02 + 0.01
    if end > 1:
        end = s * 0.001 + 0.01
    return _linspace(s * 1e-4 + 0.01, end, steps)


def _cosine_alpha_bar(t: float) -> float:
    return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


@register("schedule", "cosine")
def cosine(steps: int) -> torch.Tensor:
    """Improved-DDPM cosine schedule, abar(t) = cos^2((t + 0.008) / 1.008 * pi/2)."""
    return _from_alpha_bar(steps, _cosine_alpha_bar)


@register("schedule", "sqrt")
def sqrt(steps: int) -> torch.Tensor:
    """Diffusion-LM's sqrt schedule, abar(t) = 1 - sqrt(t + 1e-4)."""
    return _from_alpha_bar(steps, lambda t: 1.0 - math.sqrt(t + 1e-4))


@register("schedule", "trunc_cos")
def trunc_cos(steps: int) -> torch.Tensor:
    """Cosine schedule truncated at the start, abar(t) = cos^2((t + 0.1) / 1.1 * pi/2), beta_0 = 1 - abar(0)."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.1) / 1.1 * math.pi / 2) ** 2

    first = torch.tensor([1.0 - alpha_bar(0.0)], dtype=torch.float64)
    return torch.cat([first, _from_alpha_bar(steps, alpha_bar)[:-1]])


@register("schedule", "pw_lin")
def pw_lin(steps: int) -> torch.Tensor:
    """Piecewise linear: 10 steps from s*1e-4 + 0.01 down to s*1e-4, then linear up to s*0.02."""
    if steps <= 10:
        raise RegistryError(
            f"The 'pw_lin' schedule needs more than 10 diffusion steps (its first piece is 10 steps long), "
            f"got model.steps = {steps}. Raise model.steps or pick another schedule."
        )
    _check_linear_end("pw_lin", steps)
    s = _scale(steps)
    mid = s * 1e-4
    first = _linspace(mid + 0.01, mid, 10)
    second = _linspace(mid, s * 0.02, steps - 10)
    return torch.cat([first, second])
