"""Training losses (kind `loss`): the softmax cross-entropy over the catalogue, whole, in blocks or sampled.

Both model families reduce training to the same question: representations x [P, H] should
score their label highest among the item table [N, H] under the model's scorer. A loss answers
it; the model decides the rows, labels and which items each row has already seen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from pydantic import Field

from recdiff.nn.layers import cross_entropy, mask_seen
from recdiff.nn.scorers import Scorer
from recdiff.nn.softmax_chunks import chunked_cross_entropy, widened
from recdiff.registry import Params, register


class Loss(ABC):
    """Cross-entropy of each row's label against the catalogue; see `recdiff.registry.losses` for the contract."""

    @abstractmethod
    def __call__(
        self,
        x: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        scorer: Scorer,
        seen: torch.Tensor | None = None,
        smoothing: float = 0.0,
    ) -> torch.Tensor:
        """Mean loss (fp32 scalar) of x [P, H] against labels [P] (item rows of items [N, H]).

        ``seen`` [P, L] holds item rows each row has seen (negative = none); they leave that row's
        softmax, its own label excepted. Logits are ``scorer(x, items)`` computed in fp32.
        ``smoothing`` is the share of each label's probability spread over the row's finite logits.
        """


@register("loss", "full")
class FullSoftmax(Loss):
    """Exact cross-entropy over every item from the whole [P, N] logit matrix, which autograd keeps with its softmax."""

    def __init__(self, item_counts: torch.Tensor | None) -> None:
        pass

    def __call__(
        self,
        x: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        scorer: Scorer,
        seen: torch.Tensor | None = None,
        smoothing: float = 0.0,
    ) -> torch.Tensor:
        logits = widened(scorer(x, items))
        if seen is not None:
            logits = mask_seen(logits, seen, labels)
        return cross_entropy(logits, labels, smoothing)


class ChunkedParams(Params):
    chunk: int = Field(16384, ge=1, description="Items per block: memory grows with rows x chunk, not rows x items.")


@register("loss", "chunked")
class ChunkedSoftmax(Loss):
    """Exact cross-entropy over every item, a block of items at a time, forward and backward.

    The same value and gradients as `full` (up to float rounding), but the [P, N] logits are
    never held: the backward pass recomputes each block's softmax.
    """

    Params = ChunkedParams

    def __init__(self, item_counts: torch.Tensor | None, chunk: int = 16384) -> None:
        self.chunk = chunk

    def __call__(
        self,
        x: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        scorer: Scorer,
        seen: torch.Tensor | None = None,
        smoothing: float = 0.0,
    ) -> torch.Tensor:
        return chunked_cross_entropy(x, items, labels, scorer, seen, smoothing, self.chunk)
