"""Tests of the split choice (make_splits) and the global temporal split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY, invoke, read_results, set_args

from recdiff.data import SequenceData, leave_one_out, make_splits, temporal
from recdiff.errors import DataError
from recdiff.evaluation.evaluate import popularity_scores
from recdiff.spec.models import DataSpec

#: (user, item, time); items a..j get the dense ids 1..10.
TIMED = [
    ("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 8), ("u1", "e", 9),
    ("u2", "f", 4), ("u2", "g", 5), ("u2", "h", 10),
    ("u3", "i", 6), ("u3", "j", 7),
]


@pytest.fixture
def timed() -> SequenceData:
    rows = [(user, item, float(time)) for user, item, time in TIMED]
    return SequenceData.from_frame(pd.DataFrame(rows, columns=["user", "item", "time"]))


def test_sequences_carry_their_times(timed: SequenceData) -> None:
    assert timed.items.tolist() == list(range(1, 11))
    assert timed.times.tolist() == [1, 2, 3, 8, 9, 4, 5, 10, 6, 7]


def test_each_example_knows_its_user(timed: SequenceData) -> None:
    # flat positions: u1 = 0..4, u2 = 5..7, u3 = 8..9 (too short for leave-one-out); a target's position names its user
    splits = leave_one_out(timed, max_len=10)
    assert splits.test.end.tolist() == [4, 7] and splits.test.users(timed).tolist() == [0, 1]
    assert splits.val.end.tolist() == [3, 6] and splits.val.users(timed).tolist() == [0, 1]
    assert splits.train.end.tolist() == [1, 2] and splits.train.users(timed).tolist() == [0, 0]


def test_temporal_split_by_hand(timed: SequenceData) -> None:
    # Times 1..10, holdout 0.2: test from the 0.8 quantile (8.2), validation from the 0.6 quantile (6.4).
    # Flat positions: u1 a b c d e = 0..4, u2 f g h = 5..7, u3 i j = 8..9. First items (a, f, i) have no history.
    splits = temporal(timed, holdout=0.2, max_len=10)
    assert splits.test.end.tolist() == [4, 7]  # e@9, h@10
    assert splits.test.start.tolist() == [0, 5]
    assert splits.val.end.tolist() == [3, 9]  # d@8, j@7 (i@6 is u3's first item)
    assert splits.val.start.tolist() == [0, 8]
    assert splits.train.end.tolist() == [1, 2, 6]  # b, c, g
    assert splits.train.start.tolist() == [0, 0, 5]

    cut = temporal(timed, holdout=0.2, max_len=2)
    assert cut.test.start.tolist() == [2, 5] and cut.train.start.tolist() == [0, 0, 5]


def test_temporal_split_never_scores_an_example_with_its_future(timed: SequenceData) -> None:
    splits = temporal(timed, holdout=0.2, max_len=10)
    latest_train = max(timed.times[splits.train.end])
    assert latest_train < min(timed.times[splits.val.end]) <= max(timed.times[splits.val.end])
    assert max(timed.times[splits.val.end]) < min(timed.times[splits.test.end])


def test_make_splits_follows_the_spec(timed: SequenceData) -> None:
    loo, expected = make_splits(timed, DataSpec(max_len=3)), leave_one_out(timed, 3)
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(loo, name).end, getattr(expected, name).end)
        assert np.array_equal(getattr(loo, name).start, getattr(expected, name).start)
    by_time = make_splits(timed, DataSpec(split="temporal", temporal_holdout=0.2))
    assert by_time.test.end.tolist() == [4, 7]


def test_temporal_split_errors(timed: SequenceData) -> None:
    untimed = SequenceData(timed.items, timed.offsets, timed.num_items, timed.item_ids, timed.user_ids)
    with pytest.raises(DataError, match="needs interaction times.*leave_one_out"):
        temporal(untimed, 0.1, 10)
    same = SequenceData(timed.items, timed.offsets, timed.num_items, timed.item_ids, timed.user_ids,
                        np.zeros(len(timed.items)))
    with pytest.raises(DataError, match="has no training example.*data.temporal_holdout"):
        temporal(same, 0.1, 10)


def test_popularity_counts_each_users_past_before_their_first_target(timed: SequenceData) -> None:
    splits = temporal(timed, holdout=0.2, max_len=10)
    # Test users u1 (first target e, position 4) and u2 (h, position 7): a b c d + f g; u3 has no test example.
    assert popularity_scores(timed, splits.test).tolist() == [1, 1, 1, 1, 0, 1, 1, 0, 0, 0]
    # Holdout 0.35: test from time 5.85, so u1 has two test targets (d, e): a b c count, never the target d.
    two = temporal(timed, holdout=0.35, max_len=10).test
    assert timed.items[two.end].tolist() == [4, 5, 8, 10]
    assert popularity_scores(timed, two).tolist() == [1, 1, 1, 0, 0, 1, 1, 0, 1, 0]


def test_training_with_the_temporal_split(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    spec = tmp_path / "tiny.yaml"
    spec.write_text("name: tiny\nseed: 7\n")
    result = invoke("train", spec, "--out", run_dir, *set_args(TINY), "--set", "data.split=temporal")
    assert result.exit_code == 0, result.output
    assert "data: 3,573 interactions; 5-core removed nothing → 200 users, 60 items" in result.output
    results = read_results(run_dir)
    assert 0 < results["test"]["hr@10"] <= 1 and 0 <= results["popularity"]["test"]["hr@10"] <= 1


def test_the_reversed_screen_adds_only_backward_training_transitions() -> None:
    """benchmarks/reversed_screen.py: each user's training part read backwards, every prefix an example."""
    spec = importlib.util.spec_from_file_location("reversed_screen", REPO / "benchmarks" / "reversed_screen.py")
    assert spec is not None and spec.loader is not None
    screen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screen)
    data = SequenceData.from_frame(
        pd.DataFrame({"user": [1] * 6 + [2] * 4, "item": [1, 2, 3, 4, 5, 6, 7, 8, 9, 1], "time": range(10)})
    )
    plain = leave_one_out(data, 3)
    splits = screen.with_reversed_training(data, DataSpec(max_len=3))
    examples = {
        (tuple(data.items[s:e]), int(data.items[e])) for s, e in zip(splits.train.start, splits.train.end)
    }
    # user 1 trains on 1 2 3 4 (5, 6 held out), user 2 on 7 8 (9, 1 held out)
    forward = {((1,), 2), ((1, 2), 3), ((1, 2, 3), 4), ((7,), 8)}
    backward = {((4,), 3), ((4, 3), 2), ((4, 3, 2), 1), ((8,), 7)}
    assert examples == forward | backward and len(splits.train) == 8
    assert np.array_equal(splits.val.end, plain.val.end) and np.array_equal(splits.test.end, plain.test.end)
    assert data.offsets[-1] == 10  # the appended parts belong to no user
