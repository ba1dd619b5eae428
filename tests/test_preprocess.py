"""Tests of recdiff.data.preprocess: rating threshold, consecutive repeats, iterative k-core, short users."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BEAUTY

from recdiff.data import load_data, read_interactions
from recdiff.data.preprocess import PreprocessReport, k_core, kcore_thresholds, preprocess
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec

ML_1M = BEAUTY.parents[1] / "ml-1m" / "ml-1m.inter"
NO_CORE = {"min_user_inter": 0, "min_item_inter": 0}


def frame(rows: list[tuple], columns: tuple[str, ...] = ("user", "item", "time")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def pairs(result: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(result["user"], result["item"]))


def real(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real data not present at {path}")
    return path


# k-core


#: Hand-made interactions for a (users >= 3, items >= 3) core.
#:   A: x y z w    B: x y z    C: x y v    D: v w    E: x y z u
HAND = {"A": "xyzw", "B": "xyz", "C": "xyv", "D": "vw", "E": "xyzu"}


def hand_frame() -> pd.DataFrame:
    return frame([(user, item, float(t)) for user, items in HAND.items() for t, item in enumerate(items)])


def test_k_core_removes_what_the_hand_calculation_says() -> None:
    # Round 1. Users: A 4, B 3, C 3, D 2, E 4. Items: x 4, y 4, z 3, w 2 (A D), v 2 (C D), u 1 (E).
    #   Weak: user D; items w, v, u. Removed: D-v, D-w, A-w, C-v, E-u (5 interactions).
    #   Left: A x y z, B x y z, C x y, E x y z.
    # Round 2. Users: A 3, B 3, C 2, E 3. Items: x 4, y 4, z 3.
    #   Weak: user C. Removed: C-x, C-y (2 interactions). Left: A, B, E with x y z each.
    # Round 3. Users 3 each, items 3 each: nothing is weak, so the core is stable.
    result, report = preprocess(hand_frame(), DataSpec(min_user_inter=3, min_item_inter=3))
    assert pairs(result) == {(user, item) for user in "ABE" for item in "xyz"}
    assert report.kcore_rounds == 2
    assert report.kcore_removed == 7
    assert (report.kcore_users_removed, report.kcore_items_removed) == (2, 3)
    assert (report.users, report.items, report.interactions) == (3, 3, 9)
    assert report.short_users_removed == 0


def test_k_core_on_its_own_result_changes_nothing() -> None:
    spec = DataSpec(min_user_inter=3, min_item_inter=3)
    once, _ = preprocess(hand_frame(), spec)
    twice, report = preprocess(once, spec)
    pd.testing.assert_frame_equal(once, twice)
    assert (report.kcore_rounds, report.kcore_removed) == (0, 0)


def test_k_core_function_matches_a_slow_reference() -> None:
    rng = np.random.default_rng(0)
    user, item = rng.integers(0, 80, 1500), rng.zipf(1.6, 1500) % 120
    kept, _ = k_core(user, item, 6, 4)
    # Reference: remove one weak user or item at a time until none is left.
    alive = np.ones(len(user), dtype=bool)
    while True:
        users, items = np.bincount(user[alive], minlength=80), np.bincount(item[alive], minlength=120)
        weak = alive & ((users[user] < 6) | (items[item] < 4))
        if not weak.any():
            break
        alive[np.flatnonzero(weak)[0]] = False
    assert np.array_equal(kept, alive)
    assert 0 < kept.sum() < len(user)


def test_beauty_is_already_a_5_core() -> None:
    spec = DataSpec(path=real(BEAUTY))
    raw = read_interactions(spec)
    result, report = preprocess(raw, spec)
    assert (report.kcore_rounds, report.kcore_removed, report.short_users_removed) == (0, 0, 0)
    assert (report.users, report.items, report.interactions) == (22_363, 12_101, 198_502)
    again, second = preprocess(result, spec)
    pd.testing.assert_frame_equal(result, again)
    assert second == report


def test_ml_1m_is_kept_as_released_when_named_preprocessed() -> None:
    spec = DataSpec(path=real(ML_1M))
    raw = read_interactions(spec)
    _, as_released = preprocess(raw, spec, preprocessed=True)
    assert (as_released.min_user_inter, as_released.min_item_inter) == (0, 0)
    assert (as_released.users, as_released.items, as_released.interactions) == (6_040, 3_706, 1_000_209)
    _, cored = preprocess(raw, spec)  # a plain file gets the default 5-core: 290 items have < 5 ratings
    assert (cored.kcore_items_removed, cored.items, cored.kcore_rounds) == (290, 3_416, 1)


def test_k_core_thresholds_for_raw_and_released_sources() -> None:
    assert kcore_thresholds(DataSpec(), preprocessed=False) == (5, 5)
    assert kcore_thresholds(DataSpec(), preprocessed=True) == (0, 0)
    assert kcore_thresholds(DataSpec(min_user_inter=10), preprocessed=True) == (10, 0)
    assert kcore_thresholds(DataSpec(min_item_inter=2), preprocessed=False) == (5, 2)


# Ratings, repeats, short users


def test_rating_threshold_runs_before_the_k_core() -> None:
    rows = [("u", "a", 0.0, 5.0), ("u", "b", 1.0, 2.0), ("u", "c", 2.0, 4.0), ("u", "d", 3.0, 4.5)]
    spec = DataSpec(rating_field="rating", min_rating=4.0, **NO_CORE)
    result, report = preprocess(frame(rows, ("user", "item", "time", "rating")), spec)
    assert result["item"].tolist() == ["a", "c", "d"]
    assert report.rating_removed == 1 and report.interactions == 3


def test_rating_threshold_needs_ratings_and_must_leave_something() -> None:
    with pytest.raises(DataError, match="no ratings.*data.rating_field"):
        preprocess(hand_frame(), DataSpec(rating_field="stars", min_rating=3))
    rated = frame([("u", "a", 0.0, 1.0)], ("user", "item", "time", "rating"))
    with pytest.raises(DataError, match=r"No interaction is rated 4.0 or more.*1.0 to 1.0"):
        preprocess(rated, DataSpec(rating_field="rating", min_rating=4))


def test_consecutive_repeats_are_dropped_in_time_order() -> None:
    # u's file order is scrambled; in time order it is a a b a b b c, so the 2nd a and 2nd b repeat.
    rows = [("u", "b", 3.0), ("u", "a", 0.0), ("u", "a", 1.0), ("v", "a", 0.0), ("u", "b", 4.0),
            ("u", "b", 2.0), ("u", "c", 5.0), ("u", "a", 2.5), ("v", "a", 1.0), ("v", "a", 2.0)]
    kept, report = preprocess(frame(rows), DataSpec(duplicates="drop_consecutive", **NO_CORE))
    assert kept[kept["user"] == "u"]["item"].tolist() == ["a", "b", "a", "b", "c"]
    assert kept["time"].tolist()[:5] == [0.0, 2.0, 2.5, 3.0, 5.0]
    assert report.duplicates_removed == 4  # u: a@1, b@4; v: a@1, a@2
    assert report.short_users_removed == 1  # v is left with one interaction
    assert "4 consecutive repeats dropped" in report.summary()

    kept_all, report = preprocess(frame(rows), DataSpec(**NO_CORE))
    assert len(kept_all) == 10 and report.duplicates_removed == 0


def test_users_with_fewer_than_three_interactions_are_dropped_with_a_count() -> None:
    rows = [("solo", "a", 0.0), ("pair", "a", 0.0), ("pair", "b", 1.0)]
    rows += [("long", item, float(t)) for t, item in enumerate("abcd")]
    result, report = preprocess(frame(rows), DataSpec(**NO_CORE))
    assert set(result["user"]) == {"long"}
    assert (report.short_users_removed, report.short_removed) == (2, 3)
    assert "2 users with fewer than 3 interactions dropped (3 interactions)" in report.summary()


def test_nothing_left_is_a_data_error_that_names_the_settings() -> None:
    with pytest.raises(DataError, match="removed all 16 interactions.*at least 5.*data.min_user_inter"):
        preprocess(hand_frame(), DataSpec())


def test_result_is_grouped_by_user_and_ordered_by_time_with_ties_in_input_order() -> None:
    rows = [("b", "x", 1.0), ("a", "y", 2.0), ("a", "z", 1.0), ("a", "w", 1.0), ("b", "v", 0.0), ("b", "u", 0.0)]
    result, _ = preprocess(frame(rows), DataSpec(**NO_CORE))
    assert list(zip(result["user"], result["item"])) == [
        ("b", "v"), ("b", "u"), ("b", "x"), ("a", "z"), ("a", "w"), ("a", "y")
    ]
    assert result.index.tolist() == list(range(6))


def test_report_summary_names_unequal_thresholds() -> None:
    _, report = preprocess(hand_frame(), DataSpec(min_user_inter=2, min_item_inter=3))
    assert "; k-core (users >= 2, items >= 3) removed " in report.summary()


def test_report_summary_and_dict() -> None:
    _, report = preprocess(hand_frame(), DataSpec(min_user_inter=3, min_item_inter=3))
    line = report.summary()
    assert "\n" not in line
    assert line.startswith("16 interactions; 3-core removed 7 (2 users, 3 items) →")
    assert line.endswith("→ 3 users, 3 items, 9 interactions")
    assert PreprocessReport(**report.to_dict()) == report


def test_load_data_reports_the_short_user_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\n1,a,0\n1,b,1\n1,c,2\n2,a,0\n")
    loaded = load_data(DataSpec(path=path, cache=False, **NO_CORE), seed=0)
    assert loaded.data.num_users == 1 and loaded.report.short_users_removed == 1
