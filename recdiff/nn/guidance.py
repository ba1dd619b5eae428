"""Guidance (kind `guidance`): how the history steers the reverse process, classifier-free guidance included.

Classifier-free guidance (Ho & Salimans, 2022) trains one approximator both with and without
its condition, by replacing the history of a share of the training rows with a "no history"
condition, and at inference extrapolates from the unconditional reconstruction towards the
conditional one: ``x0 = x0(cond) + w * (x0(cond) - x0(uncond))``.

"No history" is a learned null item alone at the newest position, not an all-padding row: a row
without any real position has nothing for a GRU to pack, nothing for masked attention to read
(softmax over no keys) and nothing for the conditioning to add to, so every backbone and
conditioning block would need a special case; one real position with its own embedding works
with all of them, and the model learns what an empty history should predict.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import Field
from torch import nn

from recdiff.nn.randomness import NoiseStream
from recdiff.registry import NoParams, Params, register

Approximate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, NoiseStream], torch.Tensor]
"""``approximate(h [B, L, H], mask [B, L], x_t [B, H], t [B], noise) -> x0_hat [B, H]``: the model's approximator."""
Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``denoise(x_t [B, H], t [B]) -> x0_hat [B, H]``: what a reverse sampler calls."""


class Guidance(nn.Module):
    """Base class, and the `none` behaviour: train on every history as it is, denoise conditionally.

    A subclass changes what training sees (`forget`) and what the reverse sampler calls
    (`denoiser`); any randomness comes from the batch's NoiseStream, so a seed fixes training
    and a user's scores do not depend on their batch.
    """

    def forget(self, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: encoded histories h [B, L, H] and mask [B, L], some rows replaced by "no history"; here none."""
        return h, mask

    def denoiser(self, approximate: Approximate, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> Denoise:
        """Inference: the x0 reconstruction the reverse sampler calls for histories h [B, L, H] and mask [B, L]."""
        return lambda x_t, t: approximate(h, mask, x_t, t, noise)


@register("guidance", "none")
class NoGuidance(Guidance):
    """No guidance: every training row keeps its history, and the sampler calls the conditional model (both papers)."""

    Params = NoParams

    def __init__(self, hidden: int) -> None:
        super().__init__()


class ClassifierFreeParams(Params):
    drop: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Share of training rows whose history is replaced by the learned \"no history\" condition.",
    )
    weight: float = Field(
        1.0,
        description="Guidance weight w at inference: x0 = x0(cond) + w (x0(cond) - x0(uncond)); 0 is the "
        "conditional model (one approximator call a step), any other value costs two (one batched call). An "
        "inference setting: `recdiff evaluate RUN --set model.guidance.params.weight=2` changes it.",
    )


@register("guidance", "cfg")
class ClassifierFree(Guidance):
    """Classifier-free guidance: train with `drop` of the histories replaced by a learned null item, sample with weight w."""

    Params = ClassifierFreeParams

    def __init__(self, hidden: int, drop: float = 0.1, weight: float = 1.0) -> None:
        super().__init__()
        self.drop = drop
        self.weight = weight
        self.null = nn.Embedding(1, hidden)
        """The "no history" item, initialised like the item table (it is an embedding)."""

    def empty(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The "no history" condition shaped like h [B, L, H]: zeros, the null item at the newest position, and its mask."""
        null = self.null.weight[0].to(h.dtype)
        newest = torch.zeros(h.shape[1], dtype=torch.bool, device=h.device)
        newest[-1] = True
        empty = torch.where(newest[None, :, None], null, torch.zeros_like(h))
        return empty, newest.expand(h.shape[0], -1)

    def forget(self, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace each row's history with probability `drop`, decided by the row's key (one uniform draw)."""
        dropped = noise.uniform() < self.drop
        empty, empty_mask = self.empty(h)
        return torch.where(dropped[:, None, None], empty, h), torch.where(dropped[:, None], empty_mask, mask)

    def denoiser(self, approximate: Approximate, h: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> Denoise:
        """The guided reconstruction; conditional and unconditional rows go through the approximator as one batch.

        Both halves draw the same noise per user (the stream tiled over the two halves), and the
        stream then skips what they drew, so the sampler's next draws are those of an unguided run.
        """
        if self.weight == 0.0:
            return super().denoiser(approximate, h, mask, noise)
        empty, empty_mask = self.empty(h)
        both, both_mask = torch.cat([h, empty]), torch.cat([mask, empty_mask])

        def guided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            pair = noise.tile(2)
            cond, uncond = approximate(both, both_mask, x_t.repeat(2, 1), t.repeat(2), pair).chunk(2)
            noise.catch_up(pair)
            return cond + self.weight * (cond - uncond)

        return guided
