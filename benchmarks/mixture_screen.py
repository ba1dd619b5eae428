"""Screen: a mixture-of-logits scorer, so one reconstruction can point at several regions of the catalogue.

    MIXTURE_COMPONENTS=4 python benchmarks/mixture_screen.py train SPEC [--set ...] [--out RUN_DIR]

Takes the arguments of `recdiff`. A single x0 scored by cosine ranks items by their angle to one
direction, so a history that could continue in two unrelated directions (a lipstick or a
shampoo) gets a reconstruction between them. Here x0 is mapped to K query directions q_k and K
gate weights pi_k, and item i scores log sum_k pi_k exp(cos(q_k, e_i) / temperature): each
item's score still depends only on that item, so the softmax, the chunked ranking and the
exclusion of seen items work unchanged (the "mixture of logits" of Zhai et al., KDD 2023). The
same scorer, with the temperature of `model.loss_scorer`, trains and ranks. It is a screen,
not a spec option: on Beauty it validated lower after one epoch at 4.6 times the epoch cost
(docs/results.md, "Width, depth and the training objective"), so recdiff does not offer it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import recdiff.evaluation.prepared as prepared_module
from recdiff.models.base import Recommender
from recdiff.models.build import build_model as plain_build_model
from recdiff.nn.scorers import CosineScorer, Scorer

COMPONENTS = int(os.environ.get("MIXTURE_COMPONENTS", "4"))


class MixtureOfLogits(Scorer, nn.Module):
    """log sum_k pi_k(x0) exp(cos(q_k(x0), e_i) / temperature) for every item i."""

    def __init__(self, hidden: int, components: int, temperature: float) -> None:
        nn.Module.__init__(self)
        self.components, self.temperature = components, temperature
        self.queries = nn.Linear(hidden, hidden * components)
        self.gate = nn.Linear(hidden, components)

    def parts(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit query directions [B, K, H] and log gate weights [B, K] of x0 [B, H]."""
        queries = F.normalize(self.queries(x0).unflatten(-1, (self.components, -1)), dim=-1)
        return queries, self.gate(x0).float().log_softmax(-1)

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        queries, log_gate = self.parts(x0)
        cosines = torch.einsum("bkh,nh->bkn", queries, F.normalize(items, dim=-1).to(queries.dtype))
        return (cosines.float() / self.temperature + log_gate[:, :, None]).logsumexp(1)

    def paired(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        queries, log_gate = self.parts(x0)
        cosines = torch.einsum("bkh,bh->bk", queries, F.normalize(items, dim=-1).to(queries.dtype))
        return (cosines.float() / self.temperature + log_gate).logsumexp(1)


def build_model(spec: Any, num_items: int, *args: Any, **kwargs: Any) -> Recommender:
    """The spec's model, its ranking and training scorer replaced by one shared mixture of logits."""
    model = plain_build_model(spec, num_items, *args, **kwargs)
    cosine = model.training_scorer
    temperature = cosine.temperature if isinstance(cosine, CosineScorer) else 1.0
    mixture = MixtureOfLogits(model.item_table.shape[1], COMPONENTS, temperature)
    model.scorer = mixture
    model.loss_scorer = mixture
    return model


if __name__ == "__main__":
    prepared_module.build_model = build_model  # type: ignore[assignment]
    print(f"mixture of {COMPONENTS} logits", file=sys.stderr)
    from recdiff.cli.main import app

    app(sys.argv[1:])
