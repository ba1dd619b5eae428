"""Sampled softmax with the log-q correction, for catalogues where even the exact blocked loss is too slow.

Each call draws S items with replacement from a proposal q, shared by every row of the batch.
Keeping a draw's expected count S q_i in the logit (Bengio and Senecal 2008; Yi et al. 2019,
"Sampling-bias-corrected neural modeling") makes the sum over the draws an unbiased estimate
of the softmax's normaliser. With the distinct draws u, each drawn c_u times, and label y:

    Z_hat = exp(s_y) + sum_{u != y} c_u exp(s_u) / (S q_u) = exp(s_y) + sum_{u != y} exp(s_u + log c_u - log(S q_u))
    loss  = log Z_hat - s_y

E[Z_hat] is exactly sum_i exp(s_i): the label enters once, uncorrected, and the draws that hit
it ("accidental hits") are dropped, since they estimate its term a second time. So the loss
tends to the full cross-entropy as S grows; seen items leave a row's estimate the same way.

Draws are a pure function of one key per call taken from the global generator (as
`recdiff.nn.randomness.NoiseStream.fresh` keys training noise), so a seeded run repeats them
on any device.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from recdiff.errors import RunError, SpecError
from recdiff.nn.losses import Loss
from recdiff.nn.randomness import mix32
from recdiff.nn.scorers import Scorer
from recdiff.nn.softmax_chunks import widened
from recdiff.registry import Params, register


def keyed_uniform(key: int, count: int) -> torch.Tensor:
    """`count` uniforms in (0, 1), float64 on the CPU, a pure function of (key, position)."""
    position = torch.arange(count, dtype=torch.int64)
    bits = mix32(mix32(position * 0x9E3779B9 + 0x632BE5AB) ^ key)
    return (bits.double() + 0.5) / 2.0**32


def proposal(kind: str, num_items: int, counts: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """The proposal q [N] (float64, sums to 1): uniform, or (training count + 1) ** alpha.

    The added one gives every item a chance to be drawn, so the estimate stays unbiased for
    items never seen in training.
    """
    if kind == "uniform":
        return torch.full((num_items,), 1.0 / num_items, dtype=torch.float64)
    if counts is None or len(counts) != num_items:
        have = "no item counts" if counts is None else f"item counts for {len(counts)} items"
        raise RunError(
            f"The sampled loss with the popularity proposal needs the training targets' item counts for the "
            f"{num_items} items, but the model was built with {have}. Build it through `recdiff.evaluation."
            f"prepared.prepare` (or pass `item_counts=` to `build_model`), or use `proposal: uniform`."
        )
    weights = (counts.double().cpu() + 1.0) ** alpha
    return weights / weights.sum()


def draw(q: torch.Tensor, samples: int, key: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`samples` draws from q by inversion: the distinct items drawn (sorted) and how often each was drawn."""
    cdf = q.cumsum(0)
    picked = torch.searchsorted(cdf, keyed_uniform(key, samples) * cdf[-1], right=True).clamp_(max=len(q) - 1)
    return torch.unique(picked, sorted=True, return_counts=True)


def _hits(candidates: torch.Tensor, wanted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each of `wanted` [...] sits in sorted `candidates`, and whether it is there at all."""
    where = torch.searchsorted(candidates, wanted).clamp_(max=len(candidates) - 1)
    return where, candidates[where] == wanted


def sampled_cross_entropy(
    x: torch.Tensor,
    items: torch.Tensor,
    labels: torch.Tensor,
    scorer: Scorer,
    candidates: torch.Tensor,
    log_expected: torch.Tensor,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean sampled-softmax loss of x [P, H] against labels [P] (item rows of items [N, H]).

    Args:
        candidates: Distinct drawn item rows [U], sorted.
        log_expected: log(S q_u) - log c_u [U]: what each candidate's logit loses.
        seen: Item rows [P, L] each row has seen (negative = none), left out of its estimate.
    """
    logits = widened(scorer(x, items[candidates]))
    logits = logits - log_expected.to(x.device, logits.dtype)
    rows = torch.arange(len(x), device=x.device)
    where, hit = _hits(candidates, labels)
    drop = torch.zeros_like(logits, dtype=torch.bool)
    drop[rows[hit], where[hit]] = True
    if seen is not None:
        spot, found = _hits(candidates, seen)
        found &= (seen >= 0) & (seen != labels[:, None])
        drop[rows[:, None].expand_as(seen)[found], spot[found]] = True
    positive = widened(scorer.paired(x, items[labels]))
    together = torch.cat([positive[:, None], logits.masked_fill(drop, -math.inf)], dim=1)
    return (together.logsumexp(dim=1) - positive).mean()


class SampledParams(Params):
    samples: int = Field(8192, ge=1, description="Items drawn per batch (with replacement), shared by its rows.")
    proposal: Literal["uniform", "popularity"] = Field(
        "uniform", description="Proposal q: `uniform`, or `popularity`, (training count + 1) ** alpha."
    )
    alpha: float = Field(0.75, ge=0.0, description="Exponent of the popularity proposal.")


@register("loss", "sampled")
class SampledSoftmax(Loss):
    """Sampled softmax with log-q correction: an estimate of the full cross-entropy from `samples` drawn items.

    Cost grows with rows x samples instead of rows x items. Label smoothing needs the mean logit
    over every item, which a sample does not give, so it is refused.
    """

    Params = SampledParams

    def __init__(
        self,
        item_counts: torch.Tensor | None,
        samples: int = 8192,
        proposal: Literal["uniform", "popularity"] = "uniform",
        alpha: float = 0.75,
    ) -> None:
        self.item_counts = item_counts
        self.samples, self.proposal, self.alpha = samples, proposal, alpha
        self._q: torch.Tensor | None = None

    def __call__(
        self,
        x: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        scorer: Scorer,
        seen: torch.Tensor | None = None,
        smoothing: float = 0.0,
    ) -> torch.Tensor:
        if smoothing:
            raise SpecError(
                f"model.label_smoothing is {smoothing}, but the sampled loss cannot spread a label's probability "
                f"over items it did not draw. Set model.label_smoothing to 0, or use the exact `chunked` loss."
            )
        if self._q is None or len(self._q) != len(items):
            self._q = proposal(self.proposal, len(items), self.item_counts, self.alpha)
        key = int(torch.randint(0, 2**32, (1,)).item())
        candidates, counts = draw(self._q, self.samples, key)
        log_expected = (self.samples * self._q[candidates]).log() - counts.double().log()
        device = items.device
        return sampled_cross_entropy(
            x, items, labels, scorer, candidates.to(device), log_expected.to(device), seen
        )
