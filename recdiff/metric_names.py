"""Metric names as people type them, read into the names recdiff reports: `hr@K`, `ndcg@K`, `mrr`.

A module of its own, free of torch and of the rest of recdiff, so that the spec's validator
and the command line read a name the same way without importing the evaluation code (which
itself imports the spec). RecBole and many papers write `Hit@10` or `HR@10`; all mean `hr@10`.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"(hr|hit|ndcg)@(\d+)|mrr")
FAMILIES = {"hr": "hr", "hit": "hr", "ndcg": "ndcg"}
"""Each accepted spelling (lower case) and the family it names."""


def canonical_metric(name: str) -> str:
    """The canonical name of a metric a user typed: any case, `hit@K` and `HR@K` for `hr@K`.

    Raises:
        ValueError: The name is none of `hr@K`, `hit@K`, `ndcg@K` or `mrr` (K a positive whole number).
    """
    match = _NAME.fullmatch(name.strip().lower())
    if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise ValueError(
            f"unknown metric {name!r}: use 'hr@K' (also written 'hit@K'), 'ndcg@K' or 'mrr', in any case, "
            f"with K a positive whole number, e.g. 'NDCG@10'"
        )
    if match.group(1) is None:
        return "mrr"
    return f"{FAMILIES[match.group(1)]}@{int(match.group(2))}"


def metric_cutoff(name: str) -> int | None:
    """The K of a canonical `hr@K` or `ndcg@K`; None for `mrr`."""
    return int(name.split("@")[1]) if "@" in name else None
