"""Tests of recdiff.data: reading, synthetic data, sequences, leave-one-out and batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recdiff.data import (
    Batch,
    SequenceData,
    Split,
    batch_indices,
    generate_synthetic,
    leave_one_out,
    load_data,
    make_batch,
    read_interactions,
)
from recdiff.data.synthetic import _clusters, _popular
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec, SyntheticSpec

BEAUTY = Path(__file__).parents[2] / "shared/data/beauty/beauty.inter"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "time"])


def sequences_of(data: SequenceData) -> list[list[int]]:
    return [data.items[a:b].tolist() for a, b in zip(data.offsets[:-1], data.offsets[1:])]


# Reading


def test_reads_inter_with_typed_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "toy.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "007\tNA\t5\t10.5\n"
        "2\t3\t4\t2\n",
    )
    result = read_interactions(DataSpec(path=path))
    assert list(result.columns) == ["user", "item", "time"]
    assert result["user"].tolist() == ["007", "2"]
    assert result["item"].tolist() == ["NA", "3"]
    assert result["time"].dtype == np.float64
    assert result["time"].tolist() == [10.5, 2.0]


def test_reads_csv_and_tsv_with_custom_column_names(tmp_path: Path) -> None:
    csv = write(tmp_path, "log.csv", "ts,extra,uid,iid\n3,x,u1,i9\n1,y,u2,i8\n")
    spec = DataSpec(path=csv, user_field="uid", item_field="iid", time_field="ts")
    result = read_interactions(spec)
    assert result.to_dict("list") == {"user": ["u1", "u2"], "item": ["i9", "i8"], "time": [3.0, 1.0]}

    tab = write(tmp_path, "log.tab", "uid\tiid\tts\nu1\ti1\t7\n")
    assert read_interactions(spec.model_copy(update={"path": tab}))["time"].tolist() == [7.0]


def test_format_setting_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "log.txt", "user_id\titem_id\ttimestamp\n1\t2\t3\n")
    assert read_interactions(DataSpec(path=path, format="tsv"))["item"].tolist() == ["2"]


def test_date_times_become_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user_id,item_id,timestamp\n1,1,1970-01-01 00:01:00\n1,2,1970-01-02\n")
    assert read_interactions(DataSpec(path=path))["time"].tolist() == [60.0, 86400.0]


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as error:
        read_interactions(DataSpec(path=tmp_path / "nope.inter"))
    assert "nope.inter" in str(error.value) and "Set data.path" in str(error.value)


def test_missing_column_names_it_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.inter", "uid:token\titem_id:token\ttimestamp:float\n1\t1\t0\n")
    with pytest.raises(DataError) as error:
        read_interactions(DataSpec(path=path))
    message = str(error.value)
    assert "no column 'user_id'" in message
    assert "uid:token, item_id:token, timestamp:float" in message
    assert "data.user_field" in message


def test_missing_time_column_points_at_time_field(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.csv", "user_id,item_id\n1,1\n")
    with pytest.raises(DataError, match="no column 'timestamp'.*data.time_field"):
        read_interactions(DataSpec(path=path))


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        read_interactions(DataSpec(path=write(tmp_path, "empty.inter", "")))
    header = write(tmp_path, "header.inter", "user_id:token\titem_id:token\ttimestamp:float\n")
    with pytest.raises(DataError, match="no interactions"):
        read_interactions(DataSpec(path=header))


def test_unknown_extension_names_the_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "log.json", "{}")
    with pytest.raises(DataError) as error:
        read_interactions(DataSpec(path=path))
    message = str(error.value)
    assert "'.json'" in message and ".inter" in message and ".csv" in message and "data.format" in message


def test_unparsable_time_names_the_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user_id,item_id,timestamp\n1,1,3\n1,2,soon\n")
    with pytest.raises(DataError, match=r"'timestamp' cannot be read as times \(line 3 holds 'soon'\)"):
        read_interactions(DataSpec(path=path))


def test_missing_id_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user_id,item_id,timestamp\n1,1,3\n1,,4\n")
    with pytest.raises(DataError, match="'item_id' is empty on 1 line.*line 3"):
        read_interactions(DataSpec(path=path))


def test_unparsable_files_are_data_errors(tmp_path: Path) -> None:
    quote = write(tmp_path, "quote.csv", 'user_id,item_id,timestamp\n1,1,3\n"1,2,4\n')
    with pytest.raises(DataError, match="could not be parsed.*EOF inside string"):
        read_interactions(DataSpec(path=quote))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"user_id,item_id,timestamp\n1,\xff\xfe,3\n")
    with pytest.raises(DataError, match="could not be parsed.*UTF-8"):
        read_interactions(DataSpec(path=binary))


def test_reads_ratings_when_rating_field_is_set(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t4.5\t0\n")
    assert "rating" not in read_interactions(DataSpec(path=path)).columns
    assert read_interactions(DataSpec(path=path, rating_field="rating"))["rating"].tolist() == [4.5]
    bad = write(tmp_path, "bad.csv", "user_id,item_id,stars,timestamp\n1,2,5,0\n1,3,great,1\n")
    with pytest.raises(DataError, match=r"bad.csv': column 'stars' holds ratings, but line 3 holds 'great'"):
        read_interactions(DataSpec(path=bad, rating_field="stars"))
    with pytest.raises(DataError, match="no column 'stars'.*data.rating_field"):
        read_interactions(DataSpec(path=path, rating_field="stars"))


def test_unknown_recbole_type_names_the_column_and_the_known_types(tmp_path: Path) -> None:
    path = write(tmp_path, "toy.inter", "user_id:token\titem_id:tokn\ttimestamp:float\n1\t2\t0\n")
    with pytest.raises(DataError) as error:
        read_interactions(DataSpec(path=path))
    message = str(error.value)
    assert "toy.inter', line 1, column 2: header field 'item_id:tokn' has the type 'tokn'" in message
    assert "token, token_seq, float, float_seq" in message


# Sequences


def test_each_user_is_ordered_by_time_and_ties_keep_file_order() -> None:
    data = SequenceData.from_frame(
        frame([("2", "4", 5.0), ("1", "1", 0.0), ("2", "2", 1.0), ("2", "3", 1.0), ("2", "1", 3.0)])
    )
    assert sequences_of(data) == [[1], [2, 3, 1, 4]]
    assert data.user_ids.tolist() == ["1", "2"]
    assert data.lengths().tolist() == [1, 4]

    times = np.random.default_rng(0).integers(0, 3, size=200).astype(float)
    rows = [("1", str(item), time) for item, time in enumerate(times, start=1)]
    tied = SequenceData.from_frame(frame(rows))
    assert tied.items.tolist() == (np.argsort(times, kind="stable") + 1).tolist()


def test_users_sort_numerically_when_ids_are_integers() -> None:
    data = SequenceData.from_frame(frame([("10", "1", 0.0), ("9", "2", 0.0), ("100", "3", 0.0)]))
    assert data.user_ids.tolist() == ["9", "10", "100"]
    assert sequences_of(data) == [[2], [1], [3]]


def test_already_dense_item_ids_are_kept() -> None:
    items = ["3", "1", "10", "2", "5", "4", "6", "7", "8", "9"]
    data = SequenceData.from_frame(frame([("1", item, float(t)) for t, item in enumerate(items)]))
    assert data.items.tolist() == [int(item) for item in items]
    assert data.num_items == 10
    assert data.items.dtype == np.int64 and data.offsets.dtype == np.int64


def test_string_item_ids_get_dense_ids_in_sorted_order() -> None:
    rows = [("a", "pear", 0.0), ("a", "apple", 1.0), ("b", "fig", 0.0), ("b", "pear", 1.0)]
    data = SequenceData.from_frame(frame(rows))
    assert data.item_ids.tolist() == ["apple", "fig", "pear"]
    assert sequences_of(data) == [[3, 1], [2, 3]]
    assert data.items.min() == 1


def test_fingerprint_is_stable_and_tracks_the_data() -> None:
    rows = [("1", "1", 0.0), ("1", "2", 1.0), ("2", "2", 0.0)]
    first = SequenceData.from_frame(frame(rows)).fingerprint()
    assert first == SequenceData.from_frame(frame(rows)).fingerprint()
    assert first != SequenceData.from_frame(frame(rows[:2])).fingerprint()


def test_empty_frame_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no interactions"):
        SequenceData.from_frame(frame([]))


# Leave-one-out


@pytest.fixture
def toy() -> SequenceData:
    """Users of length 6 (items 1..6), 3 (items 7..9) and 2 (items 10..11)."""
    rows = [("1", str(i), float(i)) for i in range(1, 7)]
    rows += [("2", str(i), float(i)) for i in range(7, 10)]
    rows += [("3", str(i), float(i)) for i in range(10, 12)]
    return SequenceData.from_frame(frame(rows))


def test_leave_one_out_on_a_hand_written_example(toy: SequenceData) -> None:
    splits = leave_one_out(toy, max_len=10)
    assert splits.train.end.tolist() == [1, 2, 3]
    assert splits.train.start.tolist() == [0, 0, 0]
    assert toy.items[splits.train.end].tolist() == [2, 3, 4]
    assert splits.val.end.tolist() == [4, 7] and splits.val.start.tolist() == [0, 6]
    assert splits.test.end.tolist() == [5, 8] and splits.test.start.tolist() == [0, 6]
    assert toy.items[splits.test.end].tolist() == [6, 9]
    assert len(splits.train) == 3 and len(splits.val) == 2 and len(splits.test) == 2


def test_leave_one_out_truncates_histories(toy: SequenceData) -> None:
    splits = leave_one_out(toy, max_len=2)
    assert splits.train.start.tolist() == [0, 0, 1]
    assert splits.val.start.tolist() == [2, 6]
    assert splits.test.start.tolist() == [3, 6]
    for split in (splits.train, splits.val, splits.test):
        assert (split.history_lengths() >= 1).all() and (split.history_lengths() <= 2).all()


def test_too_short_sequences_are_a_data_error() -> None:
    data = SequenceData.from_frame(frame([("1", "1", 0.0), ("1", "2", 1.0), ("2", "1", 0.0)]))
    with pytest.raises(DataError, match="No user has 3 or more interactions"):
        leave_one_out(data, max_len=5)


# Batching


def test_make_batch_left_pads_to_the_longest_history_in_the_batch(toy: SequenceData) -> None:
    splits = leave_one_out(toy, max_len=10)
    batch = make_batch(toy, splits.train, np.array([0, 2]))
    assert batch.history.tolist() == [[0, 0, 1], [1, 2, 3]]
    assert batch.target.tolist() == [2, 4]
    assert batch.history.dtype == torch.int64 and batch.target.dtype == torch.int64

    test = make_batch(toy, splits.test, np.array([1]))
    assert test.history.tolist() == [[7, 8]]
    assert len(test) == 1
    moved = test.to("cpu")
    assert isinstance(moved, Batch) and torch.equal(moved.history, test.history)


def synthetic_split() -> Split:
    spec = SyntheticSpec(users=600, items=200, min_len=3, max_len=60)
    return leave_one_out(SequenceData.from_frame(generate_synthetic(spec, seed=0)), max_len=50).train


@pytest.mark.parametrize("shuffle,bucket", [(False, False), (True, False), (True, True)])
def test_batch_indices_cover_every_example_once(shuffle: bool, bucket: bool) -> None:
    split = synthetic_split()
    batches = batch_indices(split, 64, shuffle=shuffle, bucket=bucket, generator=np.random.default_rng(3))
    joined = np.concatenate(batches)
    assert np.array_equal(np.sort(joined), np.arange(len(split)))
    assert all(1 <= len(batch) <= 64 for batch in batches)
    assert sum(len(batch) < 64 for batch in batches) <= 1
    assert np.array_equal(joined, np.arange(len(split))) == (not shuffle)


def test_batch_indices_are_reproducible_from_the_generator() -> None:
    split = synthetic_split()

    def order(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.concatenate(batch_indices(split, 64, shuffle=True, bucket=True, generator=rng))

    assert np.array_equal(order(7), order(7))
    assert not np.array_equal(order(7), order(8))


def test_bucketing_reduces_padding() -> None:
    split = synthetic_split()
    lengths = split.history_lengths()

    def padded_cells(bucket: bool) -> int:
        rng = np.random.default_rng(0)
        batches = batch_indices(split, 32, shuffle=True, bucket=bucket, generator=rng)
        return sum(len(batch) * int(lengths[batch].max()) - int(lengths[batch].sum()) for batch in batches)

    assert padded_cells(bucket=True) < 0.2 * padded_cells(bucket=False)


# Synthetic data and loading


def test_synthetic_data_is_reproducible_and_in_range() -> None:
    spec = SyntheticSpec(users=50, items=40, clusters=4, min_len=5, max_len=9)
    first = generate_synthetic(spec, seed=1)
    pd.testing.assert_frame_equal(first, generate_synthetic(spec, seed=1))
    assert not first.equals(generate_synthetic(spec, seed=2))
    assert list(first.columns) == ["user", "item", "time"]
    lengths = first.groupby("user").size()
    assert len(lengths) == 50 and lengths.between(5, 9).all()
    assert first["item"].astype(int).between(1, 40).all()


def test_synthetic_popular_draws_are_the_cdf_rank_of_each_users_cluster() -> None:
    # the binary search per cluster gives what comparing each draw with its cluster's whole cdf gives
    spec = SyntheticSpec(items=37, clusters=5)
    members, sizes, cdf = _clusters(spec, np.random.default_rng(0))
    cluster = np.random.default_rng(1).integers(0, spec.clusters, size=500)
    drawn = _popular(np.random.default_rng(2), cluster, members, sizes, cdf)
    draw = np.random.default_rng(2).random(500)
    rank = np.minimum((draw[:, None] >= cdf[cluster]).sum(axis=1), sizes[cluster] - 1)
    assert np.array_equal(drawn, members[cluster, rank]) and (drawn >= 0).all()


def test_synthetic_data_rewards_a_sequential_model() -> None:
    data = SequenceData.from_frame(generate_synthetic(SyntheticSpec(), seed=0))
    splits = leave_one_out(data, max_len=50)
    previous, target = data.items[splits.train.end - 1], data.items[splits.train.end]
    transitions = np.zeros((data.num_items + 1, data.num_items + 1))
    np.add.at(transitions, (previous, target), 1.0)
    popularity = np.bincount(target, minlength=data.num_items + 1)

    test_target = data.items[splits.test.end]
    top_popular = np.argsort(-popularity)[:10]
    top_next = np.argsort(-transitions[data.items[splits.test.end - 1]], axis=1)[:, :10]
    hit_popular = np.isin(test_target, top_popular).mean()
    hit_next = (top_next == test_target[:, None]).any(axis=1).mean()
    assert hit_next > 0.6 and hit_next > 5 * hit_popular


def test_synthetic_settings_that_cannot_work_are_data_errors() -> None:
    with pytest.raises(DataError, match="data.synthetic.clusters"):
        generate_synthetic(SyntheticSpec(items=10, clusters=11), seed=0)
    with pytest.raises(DataError, match="data.synthetic.min_len"):
        generate_synthetic(SyntheticSpec(min_len=9, max_len=5), seed=0)


def test_load_data_uses_the_file_or_synthetic_data(tmp_path: Path) -> None:
    rows = "1\t5\t1\n1\t6\t0\n1\t5\t2\n"
    path = write(tmp_path, "toy.inter", "user_id:token\titem_id:token\ttimestamp:float\n" + rows)
    no_core = DataSpec(path=path, min_user_inter=0, min_item_inter=0)
    assert load_data(no_core, seed=0).data.items.tolist() == [2, 1, 1]
    spec = DataSpec(synthetic=SyntheticSpec(users=20), min_user_inter=0, min_item_inter=0)
    synthetic = load_data(spec, seed=0).data
    assert synthetic.num_users == 20
    assert synthetic.fingerprint() == load_data(spec, seed=0).data.fingerprint()
    assert synthetic.fingerprint() != load_data(spec, seed=1).data.fingerprint()


# Real data


def test_beauty_matches_the_published_counts() -> None:
    if not BEAUTY.is_file():
        pytest.skip(f"{BEAUTY} is not present")
    data = load_data(DataSpec(path=BEAUTY), seed=0).data
    assert (data.num_users, data.num_items, len(data.items)) == (22_363, 12_101, 198_502)
    assert np.array_equal(data.item_ids.astype(np.int64), np.arange(1, 12_102))
    splits = leave_one_out(data, max_len=50)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (131_413, 22_363, 22_363)
    assert (splits.train.end > splits.train.start).all()
    assert (splits.test.end - splits.test.start).max() == 50
