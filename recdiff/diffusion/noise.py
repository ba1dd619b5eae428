"""Training-noise samplers. Inference never uses these: it always draws standard normal noise."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from pydantic import Field

from recdiff.registry import Params, register


class NoiseSampler(ABC):
    """Draws the noise that corrupts the target embedding during training."""

    @abstractmethod
    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        """Noise shaped like `x0` [B, H]."""


@register("noise", "gaussian")
class GaussianNoise(NoiseSampler):
    """Standard normal noise, eps ~ N(0, I)."""

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x0)


class OffsetParams(Params):
    strength: float = Field(0.1, description="Scale of the offset.")
    delta_c: float = Field(1.0, description="Offset value delta_c, shared by every dimension.")


@register("noise", "offset")
class OffsetNoise(NoiseSampler):
    """Offset noise of DiffuRecSys, eps ~ N(strength * delta_c, I)."""

    Params = OffsetParams

    def __init__(self, strength: float = 0.1, delta_c: float = 1.0) -> None:
        self.shift = strength * delta_c

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x0) + self.shift
