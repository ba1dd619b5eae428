"""Screen: train on every prefix of each user's training part read backwards, beside the usual ones.

    python benchmarks/reversed_screen.py train SPEC [--set ...] [--out RUN_DIR]

Takes the arguments of `recdiff`. Beauty's purchases co-occur in either order, and half its
users have only one to three training examples, so the reversed parts (predict an earlier
item from the later ones) double the transitions the model sees without touching the
validation or test targets. They are appended to the data as extra sequences that only the
training split points into; the validation and test examples, and the popularity baseline,
are the real users' alone, so evaluation is unchanged. It is a screen, not a spec option: on
Beauty it learned slower per training example than the forward examples alone
(docs/results.md, "More levers on the cosine recipe"), so recdiff does not offer it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import recdiff.evaluation.evaluate as evaluate_module
import recdiff.evaluation.prepared as prepared_module
from recdiff.data import SequenceData, Split
from recdiff.data.splits import Splits, make_splits
from recdiff.spec.models import DataSpec


def with_reversed_training(data: SequenceData, spec: DataSpec) -> Splits:
    """The spec's splits, the training split joined by every prefix of each reversed training part.

    The reversed parts are appended to ``data.items`` (past ``data.offsets[-1]``, so no user owns them).
    """
    splits = make_splits(data, spec)
    lengths, first = data.lengths(), data.offsets[:-1]
    # leave-one-out holds out each user's last two items; parts of 2+ items give an example
    parts = [data.items[f : f + n - 2][::-1] for f, n in zip(first, lengths) if n - 2 >= 2]
    sizes = np.array([len(p) for p in parts])
    starts = len(data.items) + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    reversed_items = np.concatenate(parts)
    object.__setattr__(data, "items", np.concatenate([data.items, reversed_items]))
    if data.times is not None:
        object.__setattr__(data, "times", np.concatenate([data.times, np.zeros(len(reversed_items))]))
    per_part = sizes - 1
    owner = np.repeat(np.arange(len(parts)), per_part)
    step = np.arange(per_part.sum()) - np.repeat(np.cumsum(per_part) - per_part, per_part)
    end = starts[owner] + 1 + step
    start = np.maximum(starts[owner], end - spec.max_len)
    train = Split(np.concatenate([splits.train.start, start]), np.concatenate([splits.train.end, end]))
    print(f"reversed examples: {len(end):,} beside {len(splits.train):,}", file=sys.stderr)
    return Splits(train=train, val=splits.val, test=splits.test)


def real_users_only(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(data, ...)`` over the real users' interactions only (the appended parts cut off)."""

    def wrapped(data: SequenceData, *args: Any, **kwargs: Any) -> Any:
        end = int(data.offsets[-1])
        times = None if data.times is None else data.times[:end]
        return function(dataclasses.replace(data, items=data.items[:end], times=times), *args, **kwargs)

    return wrapped


if __name__ == "__main__":
    prepared_module.make_splits = with_reversed_training  # type: ignore[assignment]
    evaluate_module.popularity_scores = real_users_only(evaluate_module.popularity_scores)
    from recdiff.cli.main import app

    app(sys.argv[1:])
