"""Recommend from a trained run in the data's own ids, without its training data.

A `Predictor` is built from a run directory: ``spec.yaml`` builds the model, ``vocab.json``
(`recdiff.training.vocab`) maps the data's item tokens to the model's dense ids and back, a
checkpoint gives the weights. Histories come in as lists of the user's item ids; unknown ids
are skipped and counted, never an error.

Noise is keyed by the run's seed and the history itself (`history_keys`), so the same history
always gets the same recommendations, whatever the batch, its order or its neighbours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recdiff.errors import CheckpointError, DataError, RecdiffError
from recdiff.evaluation.ranking import Scored, chunked_top_k, excluded_rows
from recdiff.models.base import Recommender
from recdiff.models.build import build_model
from recdiff.nn.randomness import NoiseStream, mix32
from recdiff.runtime import autocast, resolve_device
from recdiff.spec.loading import load_spec
from recdiff.spec.models import RunSpec
from recdiff.training.checkpoint import check_same_data, load_checkpoint
from recdiff.training.restore import add_vocabulary, check_unedited, inference_overrides, load_weights
from recdiff.training.rundir import RunDir
from recdiff.training.vocab import Vocabulary

ItemId = str | int
"""An item id as the data file wrote it; ints are compared as their decimal text (``7`` is ``"7"``)."""
DEFAULT_BATCH = 256
"""Histories run through the model at once."""


@dataclass(frozen=True)
class Recommendation:
    """One history's recommendations.

    Attributes:
        items: Item ids (the data's tokens, as strings), best first; at most k, fewer when the
            catalogue minus the excluded items is smaller.
        scores: The score of each item, as the model ranks them (for ``eval.ensemble`` > 1 the
            log of the mean probability over the reverse runs); comparable within one run and setting.
        unknown: Ids of the history not in the run's vocabulary, skipped.
    """

    items: list[str]
    scores: list[float]
    unknown: int


def history_keys(history: torch.Tensor) -> torch.Tensor:
    """A 32-bit key [B] per left-padded history [B, L]: a hash of its items in order, padding ignored.

    Keying the noise on the history makes a recommendation a function of the history alone.
    """
    keys = torch.zeros(len(history), dtype=torch.long, device=history.device)
    for column in history.T:
        keys = torch.where(column > 0, mix32(keys * 0x01000193 ^ column), keys)
    return keys


class Predictor:
    """A trained model with its run's vocabulary and inference settings, ready to recommend.

    Make one with `from_run`; keep it for many calls (loading costs far more than a batch).

    Attributes:
        model: The trained model, in eval mode, on ``device``.
        spec: The run's spec with the inference overrides applied.
        vocab: The run's item and user ids.
        device: Where the model runs.
    """

    def __init__(self, model: Recommender, spec: RunSpec, vocab: Vocabulary, device: torch.device) -> None:
        self.model, self.spec, self.vocab, self.device = model.eval(), spec, vocab, device

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        checkpoint: str = "best",
        overrides: Iterable[str] = (),
        device: str | None = None,
    ) -> Predictor:
        """The model of ``run_dir`` with the weights of ``checkpoints/<checkpoint>.pt``, built without its data.

        A run trained before ``vocab.json`` existed has its data read once, checked against the
        checkpoint, and its vocabulary saved beside it, so the next load needs no data.

        Args:
            run_dir: A run directory written by `recdiff train`.
            checkpoint: ``best`` or ``last``.
            overrides: ``field=value`` inference settings (`recdiff.training.restore.INFERENCE_FIELDS`),
                e.g. ``model.sampler.name=ddim`` or ``eval.ensemble=4``.
            device: ``cpu``, ``cuda``, ``cuda:1``...; the run's ``train.device`` when None.

        Raises:
            RunError: ``run_dir`` is not a run directory.
            CheckpointError: The checkpoint is missing or corrupt, does not match spec.yaml or the
                vocabulary, or an old run's data cannot be read.
            SpecError: An override sets something other than an inference setting.
        """
        if checkpoint not in ("best", "last"):
            raise CheckpointError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}.")
        run = RunDir.open(run_dir)
        spec = load_spec(run.spec_path, inference_overrides(overrides))
        if spec.train.threads is not None:
            torch.set_num_threads(spec.train.threads)
        target = resolve_device(device or spec.train.device)
        path = run.path / "checkpoints" / f"{checkpoint}.pt"
        state = load_checkpoint(path, target)
        check_unedited(run_dir, state, spec, path)
        vocab = run.read_vocab() or _vocabulary_from_data(run, spec, state, path)
        if state["num_items"] != vocab.num_items or state.get("data_fingerprint") != vocab.fingerprint:
            raise CheckpointError(
                f"Run '{run_dir}': {run.vocab_path.name} does not belong to '{path}' ({vocab.num_items} items in "
                f"the vocabulary, {state['num_items']} in the checkpoint, or other interactions). Was it copied "
                f"from another run? Delete it, and `recdiff evaluate {run_dir}` writes it again from the training data."
            )
        with torch.random.fork_rng(devices=[]):  # initial weights are replaced: leave the caller's random state alone
            model = build_model(spec, vocab.num_items)
        load_weights(model, state, path)
        return cls(model.to(target), spec, vocab, target)

    def recommend(
        self,
        histories: Sequence[Sequence[ItemId]],
        k: int = 10,
        exclude_seen: bool = True,
        batch_size: int = DEFAULT_BATCH,
    ) -> list[Recommendation]:
        """The top ``k`` items for each history, in the data's ids.

        Args:
            histories: One list of item ids per user, oldest first. Ids not in the run's
                vocabulary are skipped (and counted in `Recommendation.unknown`); of the rest,
                the newest ``data.max_len`` are the model's input. An empty (or all-unknown)
                history gets the model's recommendations for an empty history.
            k: Items per history.
            exclude_seen: Never recommend an item of the history (the whole history, not only its
                newest ``max_len``). A serving default: the papers' evaluation protocol does not
                exclude, and ``model.exclude_history`` is not consulted here.
            batch_size: Histories run through the model at once.

        Raises:
            DataError: ``histories`` is not a list of lists of ids, or ``k`` or ``batch_size`` is below 1.
        """
        _check_histories(histories)
        if k < 1 or batch_size < 1:
            raise DataError(f"k and batch_size must be at least 1 (got k={k}, batch_size={batch_size}).")
        known, unknown = self.encode(histories)
        found: list[Recommendation] = []
        for start in range(0, len(histories), batch_size):
            part = slice(start, start + batch_size)
            found += self._batch(known[part], unknown[part], k, exclude_seen)
        return found

    def encode(self, histories: Sequence[Sequence[ItemId]]) -> tuple[list[np.ndarray], list[int]]:
        """Each history's dense item ids (unknown ids dropped) and its count of unknown ids."""
        lengths = [len(history) for history in histories]
        tokens = [str(item) for history in histories for item in history]
        dense = self.vocab.item_index.get_indexer(pd.Index(tokens, dtype=object)) + 1  # 0: not in the vocabulary
        parts = np.split(dense, np.cumsum(lengths)[:-1])
        return [part[part > 0] for part in parts], [int((part == 0).sum()) for part in parts]

    def _batch(self, known: list[np.ndarray], unknown: list[int], k: int, exclude_seen: bool) -> list[Recommendation]:
        """Recommendations for one batch of histories of dense ids: represented by length group, ranked at once."""
        max_len, e = self.spec.data.max_len, self.spec.eval
        inputs = [ids[-max_len:] for ids in known]
        groups = length_groups([len(ids) for ids in inputs], len(inputs))
        parts = []
        with torch.inference_mode():  # the model stays in eval mode (set once in __init__): toggling it costs ~10%
            for group in groups:
                history = _left_padded([inputs[i] for i in group], 0).to(self.device)
                noise = NoiseStream.keyed(self.spec.seed, history_keys(history))
                with autocast(self.device, self.spec.train.precision):
                    parts.append(self.model.represent(history, noise, e.ensemble).float())
            reps = torch.cat(parts, dim=1)[:, np.argsort(np.concatenate(groups))]  # back in the batch's order
            exclude = excluded_rows(_left_padded(known, 0).to(self.device), exclude_seen)
            scored = [Scored(self.model.scorer, reps, self.model.item_table)]
            scores, rows = chunked_top_k(scored, min(k, self.vocab.num_items), e.item_chunk, exclude)
        return [
            self._result(row, row_scores, missing)
            for row, row_scores, missing in zip(rows.cpu().numpy(), scores.cpu().numpy(), unknown)
        ]

    def _result(self, rows: np.ndarray, scores: np.ndarray, unknown: int) -> Recommendation:
        """Table rows and scores of one history as ids, leaving out excluded items (score -inf)."""
        kept = scores > -np.inf
        return Recommendation([self.vocab.items[row] for row in rows[kept]], scores[kept].tolist(), unknown)


def recommend(
    run: str | Path | Predictor, histories: Sequence[Sequence[ItemId]], k: int = 10, exclude_seen: bool = True
) -> list[Recommendation]:
    """The top ``k`` items for each history of item ids, from a run directory or a `Predictor`.

    A path loads the run's best checkpoint each call; for other settings (a checkpoint, a
    sampler, a device) or repeated calls, make a `Predictor` once and pass it. See
    `Predictor.recommend` for ``histories`` and ``exclude_seen``.
    """
    predictor = run if isinstance(run, Predictor) else Predictor.from_run(run)
    return predictor.recommend(histories, k, exclude_seen)


def length_groups(lengths: Sequence[int], batch_size: int, narrowest: int = 16) -> list[list[int]]:
    """Indices of ``lengths`` in batches of at most ``batch_size`` whose lengths lie within a factor of two.

    A batch is padded to its longest history, and real histories are mostly short (Beauty's
    average 9 items of at most 50), so one batch of mixed lengths computes mostly padding.
    Grouping by powers of two (every length up to ``narrowest`` in one group) keeps padding
    under half of each batch, at the price of at most a few more, smaller passes. Results do
    not change: every model's output is independent of how much padding its input has.
    """
    bucket = [max(length, narrowest, 1).bit_length() if length > narrowest else 0 for length in lengths]
    order = sorted(range(len(lengths)), key=lambda i: (bucket[i], i))
    groups: list[list[int]] = []
    for index in order:
        if not groups or len(groups[-1]) == batch_size or bucket[groups[-1][0]] != bucket[index]:
            groups.append([])
        groups[-1].append(index)
    return groups


def _left_padded(rows: Sequence[np.ndarray], fill: int) -> torch.Tensor:
    """int64 [B, max(1, longest)] with each row at the right end (an empty row is all ``fill``)."""
    width = max([1, *map(len, rows)])
    padded = np.full((len(rows), width), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        if len(row):
            padded[index, width - len(row) :] = row
    return torch.from_numpy(padded)


def _check_histories(histories: object) -> None:
    """Catch the likely mistakes (one flat history, a string) with a message instead of a wrong answer."""
    if isinstance(histories, (str, bytes)) or not isinstance(histories, Sequence):
        raise DataError(
            f"histories must be a list of histories, each a list of item ids (got {type(histories).__name__}); "
            f"for one user pass [[id, id, ...]]."
        )
    for position, history in enumerate(histories):
        if isinstance(history, (str, bytes)) or not isinstance(history, (Sequence, np.ndarray)):
            raise DataError(
                f"histories[{position}] is {history!r}, not a list of item ids. Pass one list per user, e.g. "
                f"[['i1', 'i7'], ['i3']]; for one user pass [[id, id, ...]]."
            )


def _vocabulary_from_data(run: RunDir, spec: RunSpec, state: dict[str, Any], path: Path) -> Vocabulary:
    """The vocabulary of a run trained before vocab.json existed: from its data, checked and saved for next time."""
    from recdiff.data import load_data

    try:
        data = load_data(spec.data, spec.seed).data
    except RecdiffError as error:
        raise CheckpointError(
            f"Run '{run.path}' has no {run.vocab_path.name} (it was trained by an older recdiff), so its item ids "
            f"must be read from its training data, which failed: {error} Restore the data (or point data.path in "
            f"its spec.yaml at the moved file); the first load then saves {run.vocab_path.name} and later ones "
            f"need no data."
        ) from None
    check_same_data(state, data, path, "recommend from")
    add_vocabulary(run, data)
    return Vocabulary.of(data)
