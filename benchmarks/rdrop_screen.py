"""Screen: R-Drop, two dropout views of each training example held to the same item distribution.

    RDROP_ALPHA=1.0 python benchmarks/rdrop_screen.py train SPEC [--set ...] [--out RUN_DIR]

Takes the arguments of `recdiff`. Each example goes through the approximator twice in one
batch, with the same diffusion step and noise but independent dropout masks; the loss is the
mean of the two cross-entropies plus RDROP_ALPHA times the symmetric KL divergence between the
two softmax distributions over all items (Liang et al., "R-Drop", NeurIPS 2021). It costs
twice the compute per example. Evaluation is unchanged. It is a screen, not a spec option: on
Beauty it followed the plain model's curve at 2.7 times its epoch cost (docs/results.md, "Width,
depth and the training objective"), so recdiff does not offer it.
"""

from __future__ import annotations

import os
import sys

import torch
from torch.nn import functional as F

from recdiff.models.diffusion import DiffusionRecommender
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.softmax_chunks import widened

ALPHA = float(os.environ.get("RDROP_ALPHA", "1.0"))


def symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Mean over rows of (KL(p || q) + KL(q || p)) / 2 for log-probabilities [P, N]."""
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1).mean()


def loss(self: DiffusionRecommender, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of two dropout views of each example, plus ALPHA times their symmetric KL."""
    x0 = self.item_embedding(target)
    t = self.timesteps(x0.shape[0], x0.device)
    x_t = self.process.q_sample(x0, t, self.noise(x0))
    noise = NoiseStream.fresh(len(target), history.device)
    h, mask = self.encode_history(history.repeat(2, 1))
    twice = noise.tile(2)  # the same conditioning noise in both views: only dropout differs
    h, mask = self.guidance.forget(h, mask, twice)
    x0_hat = self.approximate(h, mask, x_t.repeat(2, 1), t.repeat(2), twice)
    log_p = F.log_softmax(widened(self.training_scorer(x0_hat, self.item_table)), dim=-1)
    ce = F.nll_loss(log_p, (target - 1).repeat(2))
    first, second = log_p.chunk(2)
    return ce + ALPHA * symmetric_kl(first, second)


if __name__ == "__main__":
    DiffusionRecommender.loss = loss  # type: ignore[method-assign]
    print(f"R-Drop alpha {ALPHA}", file=sys.stderr)
    from recdiff.cli.main import app

    app(sys.argv[1:])
