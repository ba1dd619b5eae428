"""Screen: an additive margin on the target's cosine in the training softmax (CosFace).

    MARGIN=0.1 python benchmarks/margin_screen.py train SPEC [--set ...] [--out RUN_DIR]

Takes the arguments of `recdiff`, for a recipe whose training scores are cosines over a
temperature (`model.loss_scorer: {name: cosine}`). The target's logit is lowered by
MARGIN / temperature before the cross-entropy, so a reconstruction is trained until its target
beats every other item by MARGIN in cosine, not merely ties it (Wang et al., "CosFace", CVPR
2018). Ranking is unchanged. It is a screen, not a spec option: on Beauty, where the target's
probability stays far below 1, it raised the loss by the margin and left validation where it
was (docs/results.md, "Width, depth and the training objective"), so recdiff does not offer it.
"""

from __future__ import annotations

import os
import sys

import torch

import recdiff.nn.losses as losses_module
from recdiff.nn.layers import cross_entropy as plain_cross_entropy

MARGIN = float(os.environ.get("MARGIN", "0.1"))
TEMPERATURE = float(os.environ.get("MARGIN_TEMPERATURE", "0.1"))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """The plain cross-entropy of logits [P, N] whose label columns are lowered by MARGIN / TEMPERATURE."""
    shift = torch.zeros_like(logits).scatter_(1, labels[:, None], MARGIN / TEMPERATURE)
    return plain_cross_entropy(logits - shift, labels, smoothing)


if __name__ == "__main__":
    losses_module.cross_entropy = cross_entropy  # type: ignore[assignment]
    print(f"margin {MARGIN} at temperature {TEMPERATURE}", file=sys.stderr)
    from recdiff.cli.main import app

    app(sys.argv[1:])
