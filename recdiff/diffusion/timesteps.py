"""Training step samplers: which diffusion step each training example is noised to."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from recdiff.registry import register


class TimestepSampler(ABC):
    """Draws one diffusion step per training example."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    @abstractmethod
    def __call__(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """int64 steps in [0, steps) of shape [batch_size]."""


@register("timestep", "uniform")
class UniformTimesteps(TimestepSampler):
    """Every step equally likely, as DiffuRec trains."""

    def __call__(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.steps, (batch_size,), device=device)
