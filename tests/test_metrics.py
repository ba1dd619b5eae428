"""Ranking metrics and the popularity baseline on hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from recdiff.data import SequenceData, Split, leave_one_out
from recdiff.evaluation.evaluate import evaluate_popularity, popularity_scores
from recdiff.evaluation.metrics import RankingMetrics, target_ranks

SCORES = torch.tensor(
    [
        [0.9, 0.9, 0.9, 0.1, 0.5],  # target col 1: tied with cols 0 and 2 at the top -> rank 3
        [0.1, 0.2, 0.3, 0.4, 0.5],  # target col 4: the best -> rank 1
        [0.5, 0.4, 0.3, 0.2, 0.1],  # target col 3: three strictly higher -> rank 4
        [0.3, 0.3, 0.7, 0.1, 0.0],  # target col 0: one higher (0.7), one tie (col 1) -> rank 3
        [0.0, 0.0, 0.0, 0.0, 0.0],  # target col 2: tied with everything -> rank 5 (last)
    ]
)
TARGET = torch.tensor([1, 4, 3, 0, 2])


def test_target_ranks_ties_do_not_help() -> None:
    assert target_ranks(SCORES, TARGET).tolist() == [3, 1, 4, 3, 5]


def test_target_ranks_distinct_scores() -> None:
    scores = torch.tensor([[3.0, -1.0, 2.0, 10.0]])
    # sorted: 10 (col 3), 3 (col 0), 2 (col 2), -1 (col 1)
    assert [target_ranks(scores, torch.tensor([c])).item() for c in range(4)] == [2, 4, 3, 1]


def test_target_ranks_nan_target_ranks_last() -> None:
    scores = torch.tensor([[0.1, float("nan"), 0.3], [float("nan")] * 3])
    assert target_ranks(scores, torch.tensor([1, 0])).tolist() == [3, 3]


def test_ranking_metrics_hand_worked() -> None:
    metrics = RankingMetrics([10, 1, 3])
    metrics.add(torch.tensor([3, 1]))
    metrics.add(torch.tensor([4, 5]))
    assert metrics.count == 4
    result = metrics.compute()
    assert list(result) == ["hr@1", "ndcg@1", "hr@3", "ndcg@3", "hr@10", "ndcg@10", "mrr"]
    # ranks 3, 1, 4, 5
    assert result["hr@1"] == pytest.approx(1 / 4)  # only rank 1
    assert result["ndcg@1"] == pytest.approx(1 / 4)  # 1/log2(2) = 1 for rank 1
    assert result["hr@3"] == pytest.approx(2 / 4)  # ranks 3 and 1
    assert result["ndcg@3"] == pytest.approx((0.5 + 1.0) / 4)  # 1/log2(4) = 0.5, 1/log2(2) = 1 -> 0.375
    assert result["hr@10"] == pytest.approx(1.0)
    # 1/log2(4) + 1 + 1/log2(5) + 1/log2(6) = 0.5 + 1 + 0.430677 + 0.386853 = 2.317530 -> /4
    assert result["ndcg@10"] == pytest.approx(0.579382, abs=1e-6)
    # (1/3 + 1 + 1/4 + 1/5) / 4 = (20 + 60 + 15 + 12) / 60 / 4 = 107/240
    assert result["mrr"] == pytest.approx(107 / 240)


def test_ranking_metrics_from_scores() -> None:
    metrics = RankingMetrics([1, 3])
    metrics.add(target_ranks(SCORES, TARGET))
    result = metrics.compute()
    # ranks 3, 1, 4, 3, 5
    assert result["hr@1"] == pytest.approx(1 / 5)
    assert result["hr@3"] == pytest.approx(3 / 5)
    assert result["ndcg@3"] == pytest.approx((0.5 + 1 + 0.5) / 5)  # 0.4
    assert result["mrr"] == pytest.approx((1 / 3 + 1 + 1 / 4 + 1 / 3 + 1 / 5) / 5)  # 0.423333


def test_ranking_metrics_needs_ranks() -> None:
    with pytest.raises(ValueError):
        RankingMetrics([5]).compute()


def interactions() -> SequenceData:
    # u1: 1 2 3 4    u2: 2 2 3    u3: 4 1 2 3 1   (item tokens 1..4 keep their ids)
    rows = []
    for user, items in (("u1", [1, 2, 3, 4]), ("u2", [2, 2, 3]), ("u3", [4, 1, 2, 3, 1])):
        rows += [(user, str(item), float(time)) for time, item in enumerate(items)]
    return SequenceData.from_frame(pd.DataFrame(rows, columns=["user", "item", "time"]))


def test_popularity_counts_only_interactions_before_each_target() -> None:
    data = interactions()
    assert data.items.tolist() == [1, 2, 3, 4, 2, 2, 3, 4, 1, 2, 3, 1]
    splits = leave_one_out(data, max_len=50)
    # Test targets are the last items (4, 3, 1); before them: u1 1 2 3, u2 2 2, u3 4 1 2 3.
    # item 1: 1 + 0 + 1 = 2; item 2: 1 + 2 + 1 = 4; item 3: 1 + 0 + 1 = 2; item 4: 0 + 0 + 1 = 1.
    assert popularity_scores(data, splits.test).tolist() == [2, 4, 2, 1]
    # Validation targets are the second-last items; before them: u1 1 2, u2 2, u3 4 1 2.
    assert popularity_scores(data, splits.val).tolist() == [2, 3, 0, 1]
    # (Counting every interaction would give [3, 5, 3, 2].)


def test_popularity_ignores_users_without_an_example() -> None:
    data = interactions()
    # One example only: u3's second item (target 1), history [4].
    split = Split(start=np.array([7]), end=np.array([8]))
    assert popularity_scores(data, split).tolist() == [0, 0, 0, 1]


def test_popularity_is_not_cut_by_max_len() -> None:
    data = interactions()
    splits = leave_one_out(data, max_len=1)  # histories are cut, the user's past is not
    assert popularity_scores(data, splits.test).tolist() == [2, 4, 2, 1]


def test_evaluate_popularity_hand_worked() -> None:
    data = interactions()
    splits = leave_one_out(data, max_len=50)
    result = evaluate_popularity(data, splits.test, ks=[1, 3])
    # counts [2, 4, 2, 1]: item 2 first, items 1 and 3 tied, item 4 last.
    # u1 target 4 -> rank 4; u2 target 3 -> tied with item 1 -> rank 3; u3 target 1 -> rank 3.
    assert result["hr@1"] == pytest.approx(0.0)
    assert result["hr@3"] == pytest.approx(2 / 3)
    assert result["ndcg@3"] == pytest.approx((0.5 + 0.5) / 3)
    assert result["mrr"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 3) / 3)  # 11/36


# RQ3 analysis groups

def test_head_items_are_the_most_frequent_fifth() -> None:
    from recdiff.evaluation.analysis import head_items

    counts = np.array([5, 50, 1, 7, 50, 0, 3, 2, 9, 4])
    # ceil(0.2 * 10) = 2 head items: the two with 50 (ids 1 and 4)
    assert np.flatnonzero(head_items(counts)).tolist() == [1, 4]
    # 11 items -> ceil(2.2) = 3; ties broken by the lower id
    assert np.flatnonzero(head_items(np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]))).tolist() == [0, 1, 10]


def test_length_groups_are_quintile_ranges() -> None:
    from recdiff.evaluation.analysis import length_groups

    index, ranges = length_groups(np.arange(1, 11))
    assert index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert ranges == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]
    # many equal lengths merge quantiles: fewer groups, each still a range of lengths
    index, ranges = length_groups(np.array([3, 3, 3, 3, 3, 3, 3, 3, 9, 10]))
    assert index.tolist() == [0] * 8 + [1, 1] and ranges == [(3, 3), (9, 10)]


def test_analysis_metrics_by_hand() -> None:
    from recdiff.evaluation.analysis import analyze_ranks

    counts = np.array([10, 1, 1, 1, 1, 1, 1, 1, 1, 1])  # item 0 is the only head item
    targets = np.array([0, 0, 3, 5, 7])
    ranks = np.array([1, 3, 1, 20, 2])
    lengths = np.array([2, 4, 6, 8, 10])
    groups = analyze_ranks(ranks, targets, lengths, counts, [1, 5])
    head, tail = groups["items"]
    assert head.count == 2 and tail.count == 3
    assert head.metrics["hr@1"] == pytest.approx(0.5)
    assert head.metrics["ndcg@5"] == pytest.approx((1 + 1 / math.log2(4)) / 2)
    assert tail.metrics["hr@5"] == pytest.approx(2 / 3)
    assert tail.metrics["mrr"] == pytest.approx((1 + 1 / 20 + 1 / 2) / 3)
    assert [g.count for g in groups["lengths"]] == [1, 1, 1, 1, 1]
    assert groups["lengths"][3].metrics["hr@5"] == 0.0 and groups["lengths"][4].name == "length 10"
