"""Describe an interaction frame: sizes, sequence lengths, density and how skewed item popularity is.

The numbers describe the frame as given. `recdiff data stats` passes the file as read, before
any preprocessing, so a user can see what a k-core or rating threshold would work on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

PERCENTILES = (25, 50, 75, 90, 99)
"""Sequence-length percentiles reported besides the minimum, maximum and mean."""
TOP_SHARE = 0.2
"""Popularity skew is also given as the share of interactions on this top fraction of items."""


@dataclass(frozen=True)
class InteractionStats:
    """Summary statistics of a ``user, item, time`` frame.

    Attributes:
        users: Distinct users.
        items: Distinct items.
        interactions: Rows.
        lengths: Interactions per user: ``min``, ``p25`` ... ``p99``, ``max`` and ``mean``.
        density: ``interactions / (users * items)``.
        gini: Gini coefficient of the items' interaction counts: 0 when every item is as
            popular as every other, near 1 when a few items take almost all interactions.
        top_share: Share of interactions on the most popular 20% of items (rounded up).
    """

    users: int
    items: int
    interactions: int
    lengths: dict[str, float]
    density: float
    gini: float
    top_share: float

    def to_dict(self) -> dict[str, object]:
        """The statistics as plain JSON-ready values."""
        return asdict(self)


def describe(frame: pd.DataFrame) -> InteractionStats:
    """Statistics of the interactions in ``frame`` (columns ``user`` and ``item``; one row each).

    Raises:
        ValueError: ``frame`` has no rows.
    """
    if frame.empty:
        raise ValueError("cannot describe an empty frame")
    user = pd.factorize(frame["user"])[0]
    item = pd.factorize(frame["item"])[0]
    per_user = np.bincount(user)
    per_item = np.bincount(item)
    lengths = {"min": float(per_user.min())}
    lengths |= {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(per_user, PERCENTILES))}
    lengths |= {"max": float(per_user.max()), "mean": float(per_user.mean())}
    return InteractionStats(
        users=len(per_user),
        items=len(per_item),
        interactions=len(frame),
        lengths=lengths,
        density=len(frame) / (len(per_user) * len(per_item)),
        gini=gini(per_item),
        top_share=top_share(per_item, TOP_SHARE),
    )


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative ``counts``: ``sum_i (2i - n - 1) c_i / (n sum c)``, ``c`` ascending."""
    ordered = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(ordered), ordered.sum()
    if n == 0 or total == 0:
        return 0.0
    rank = np.arange(1, n + 1)
    return float(((2 * rank - n - 1) * ordered).sum() / (n * total))


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of the total held by the largest ``ceil(fraction * n)`` counts."""
    ordered = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    total = ordered.sum()
    if total == 0:
        return 0.0
    return float(ordered[: math.ceil(fraction * len(ordered))].sum() / total)
