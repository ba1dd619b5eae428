"""Rank all items for generated representations, a slice of the item table at a time.

A users x items score matrix grows with the catalogue; these functions never hold more than
``chunk`` columns of it. Representations may come from an ensemble: S independent reverse
runs of one model ([S, B, H]), or several trained models, each with its own scorer and item
table over the same catalogue (:class:`Scored`). The runs are combined by averaging their
softmax distributions over all items, in log space (log of the mean probability), which
needs the normaliser of each run first: one pass for it, one for the ranks.

Scoring runs in fp32 with autocast off, whatever precision produced the representations, so
rankings never depend on bf16 rounding of the scores.

Items to ``exclude`` per row (a model's input history, when it never recommends a seen
item) get score -inf in every slice and in the target's own score, so an excluded target
ranks last.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch

from recdiff.models.base import Recommender
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.scorers import Scorer

DEFAULT_CHUNK = 16384
"""Items scored at once by default: Beauty (12,101 items) in one slice, larger catalogues in several."""


class Scored(NamedTuple):
    """One model's representations [S, B, H] with the scorer and item table [N, H] that score them."""

    scorer: Scorer
    reps: torch.Tensor
    table: torch.Tensor


def _slices(num_items: int, chunk: int) -> Iterator[slice]:
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    for start in range(0, num_items, chunk):
        yield slice(start, min(start + chunk, num_items))


def _no_autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, enabled=False)


class _Combined:
    """Scores of all runs of all models as one [B, n] score per item: the raw score for a single
    run, else log of the mean softmax probability over the runs; -inf for the rows' excluded items."""

    def __init__(self, models: Sequence[Scored], chunk: int, exclude: torch.Tensor | None = None) -> None:
        self.models = [Scored(m.scorer, m.reps.float(), m.table.float()) for m in models]
        if len({len(m.table) for m in self.models}) != 1:
            raise ValueError("every model of an ensemble must score the same catalogue (item tables of one length)")
        self.num_items, self.chunk, self.exclude = len(self.models[0].table), chunk, exclude
        if exclude is not None:
            self.exclude_rows = torch.arange(len(exclude), device=exclude.device)[:, None].expand_as(exclude)
        self.log_norm: torch.Tensor | None = None
        if sum(len(m.reps) for m in self.models) > 1:
            parts = [self._raw(part).logsumexp(-1) for part in _slices(self.num_items, chunk)]
            self.log_norm = torch.stack(parts, -1).logsumexp(-1, keepdim=True)  # [runs, B, 1]

    def _raw(self, part: slice) -> torch.Tensor:
        """[runs, B, n] scores of the items in ``part``, every model's runs in turn."""
        return torch.stack([m.scorer(rep, m.table[part]) for m in self.models for rep in m.reps])

    def _combine(self, raw: torch.Tensor) -> torch.Tensor:
        if self.log_norm is None:
            return raw[0]
        return (raw - self.log_norm).logsumexp(0) - math.log(len(raw))

    def chunks(self) -> Iterator[tuple[slice, torch.Tensor]]:
        for part in _slices(self.num_items, self.chunk):
            scores = self._combine(self._raw(part))
            if self.exclude is not None:
                inside = (self.exclude >= part.start) & (self.exclude < part.stop)
                scores[self.exclude_rows[inside], self.exclude[inside] - part.start] = -math.inf
            yield part, scores

    def of(self, items: torch.Tensor) -> torch.Tensor:
        """[B] combined score of item column ``items[b]`` for row b."""
        raw = torch.stack([m.scorer.paired(rep, m.table[items]) for m in self.models for rep in m.reps])[..., None]
        scores = self._combine(raw)[:, 0]
        if self.exclude is not None:
            scores = scores.masked_fill((self.exclude == items[:, None]).any(dim=1), -math.inf)
        return scores


def chunked_target_ranks(
    models: Sequence[Scored],
    target: torch.Tensor,
    chunk: int = DEFAULT_CHUNK,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rank [B] of each target among all items: 1 + the other items scored at least as high (ties never help).

    Args:
        models: Each model's [S, B, H] representations (S = 1 without ensembling), its scorer
            (representations [B, H] and items [n, H] to scores [B, n]) and its [N, H] item
            table; column i of the scores is row i. One model unless ensembling trained models.
        target: [B] row of each target in the tables.
        chunk: Items scored at once.
        exclude: [B, L] rows of ``table`` each row never recommends (negative entries are ignored).

    A NaN target score ranks last (N), as :func:`recdiff.evaluation.metrics.target_ranks` does,
    and so does an excluded target.
    """
    with _no_autocast(target.device):
        combined = _Combined(models, chunk, exclude)
        target_score = combined.of(target)[:, None]
        ranks = torch.ones_like(target)
        for part, scores in combined.chunks():
            columns = torch.arange(part.start, part.stop, device=scores.device)
            higher = (scores >= target_score) & (columns[None, :] != target[:, None])
            ranks += higher.sum(dim=1)
    return torch.where(target_score[:, 0].isnan(), combined.num_items, ranks)


def chunked_top_k(
    models: Sequence[Scored],
    k: int,
    chunk: int = DEFAULT_CHUNK,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best items per row: scores [B, k] and table rows [B, k], best first, keeping only k per slice.

    ``models`` as in :func:`chunked_target_ranks`. Rows of ``exclude`` [B, L] score -inf, so
    they come only after every other item.
    """
    reps = models[0].reps
    with _no_autocast(reps.device):
        combined = _Combined(models, chunk, exclude)
        best_scores = torch.empty(reps.shape[1], 0, device=reps.device)
        best_rows = torch.empty(reps.shape[1], 0, dtype=torch.long, device=reps.device)
        for part, scores in combined.chunks():
            values, rows = scores.topk(min(k, scores.shape[1]), dim=1)
            merged = torch.cat([best_scores, values], dim=1)
            merged_rows = torch.cat([best_rows, rows + part.start], dim=1)
            best_scores, order = merged.topk(min(k, merged.shape[1]), dim=1)
            best_rows = merged_rows.gather(1, order)
    return best_scores, best_rows


def as_models(model: Recommender | Sequence[Recommender]) -> list[Recommender]:
    """One model, or the models of an ensemble, as a list."""
    return [model] if isinstance(model, Recommender) else list(model)


def represent_all(
    models: Sequence[Recommender], history: torch.Tensor, noise: NoiseStream | None, ensemble: int
) -> list[Scored]:
    """Every model's representations of ``history`` with its scorer and table; each model gets the
    same noise it would get alone, so an ensemble's members are the runs evaluated on their own."""
    return [
        Scored(m.scorer, m.represent(history, None if noise is None else noise.copy(), ensemble), m.item_table)
        for m in models
    ]


@contextmanager
def evaluating(models: Sequence[Recommender]) -> Iterator[None]:
    """Put the models in eval mode for the block, then give each back its previous mode."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(models, modes):
            m.train(was_training)


@torch.inference_mode()
def top_k_items(
    model: Recommender | Sequence[Recommender],
    history: torch.Tensor,
    k: int = 10,
    noise: NoiseStream | None = None,
    ensemble: int = 1,
    chunk: int = DEFAULT_CHUNK,
    exclude_history: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's top-k dense item ids [B, k] (1..N, best first) and their scores for left-padded histories [B, L].

    The tensor-level ranking under `recdiff.recommend`, which takes and returns the data's own
    ids (`recdiff.serving.predictor.Predictor`).

    Given several models trained on one catalogue, the ensemble's mean softmax distribution
    ranks the items. Items are scored a slice at a time (see `chunked_top_k`); the models are
    put in eval mode and restored afterwards. With ``exclude_history`` (a run's
    `model.exclude_history`; off by default, as in the papers) items already in a history are
    never recommended.
    """
    models = as_models(model)
    with evaluating(models):
        scored = represent_all(models, history, noise, ensemble)
    scores, rows = chunked_top_k(scored, k, chunk, excluded_rows(history, exclude_history))
    return rows + 1, scores


def excluded_rows(history: torch.Tensor, exclude_history: bool) -> torch.Tensor | None:
    """Item-table rows [B, L] never to recommend for these histories (padding gives -1), or None.

    With ``exclude_history`` the items of the input history rank last: for data where users
    never repeat an item, a seen item cannot be the next one.
    """
    return history - 1 if exclude_history else None
