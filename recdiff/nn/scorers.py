"""Scorers ("rounding"): map the generated x_0 to a score for every item."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from recdiff.registry import Params, register


class Scorer(ABC):
    """Scores items for each generated representation; higher ranks first."""

    @abstractmethod
    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """x0 [B, H], items [N, H] -> scores [B, N]. Columns must not depend on each other, so that
        scoring a slice of the items gives the same columns as scoring all of them."""

    def paired(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Row-wise scores [B] of x0[b] against items[b] (both [B, H]): the diagonal of `self(x0, items)`.

        The default maps `__call__` over rows; override it with the closed form.
        """
        return torch.vmap(lambda x, e: self(x[None], e[None])[0, 0])(x0, items)


@register("scorer", "dot")
class DotScorer(Scorer):
    """Inner product x_0 . e_i, as DiffuRec rounds."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return x0 @ items.T

    def paired(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (x0 * items).sum(-1)


@register("scorer", "neg_l2")
class NegL2Scorer(Scorer):
    """Negative squared Euclidean distance -||x_0 - e_i||^2 (nearest item ranks first)."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return 2 * x0 @ items.T - x0.pow(2).sum(-1, keepdim=True) - items.pow(2).sum(-1)[None, :]

    def paired(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return 2 * (x0 * items).sum(-1) - x0.pow(2).sum(-1) - items.pow(2).sum(-1)


class CosineParams(Params):
    temperature: float = Field(
        1.0,
        gt=0.0,
        description="Scores are cosines divided by this. Ranking ignores it; a training loss over the scores "
        "(`model.loss_scorer`) is sharper the lower it is, since cosines alone span only [-1, 1].",
    )


@register("scorer", "cosine")
class CosineScorer(Scorer):
    """Cosine similarity between x_0 and each item embedding, divided by a temperature."""

    Params = CosineParams

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def divisor(self) -> float | torch.Tensor:
        """What the cosines are divided by: the temperature."""
        return self.temperature

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return F.normalize(x0, dim=-1) @ F.normalize(items, dim=-1).T / self.divisor()

    def paired(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (F.normalize(x0, dim=-1) * F.normalize(items, dim=-1)).sum(-1) / self.divisor()


class LearnedCosineParams(Params):
    temperature: float = Field(0.1, gt=0.0, description="Starting temperature; training then learns it.")


@register("scorer", "learned_cosine")
class LearnedCosineScorer(CosineScorer, nn.Module):
    """Cosine similarity divided by a temperature that training learns (as CLIP learns its logit scale).

    Meant as `model.loss_scorer`: a fixed temperature is one more setting to tune, and both sides
    of the best fixed one learned slower. The model registers it as a submodule, so the optimiser
    updates its log-temperature and checkpoints keep it. Ranking ignores the temperature.
    """

    Params = LearnedCosineParams  # type: ignore[assignment]

    def __init__(self, temperature: float = 0.1) -> None:
        nn.Module.__init__(self)
        # the log keeps the temperature positive and makes its steps relative
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))

    @property
    def temperature(self) -> float:  # type: ignore[override]
        return float(self.log_temperature.detach().exp())

    def divisor(self) -> torch.Tensor:
        return self.log_temperature.exp()
