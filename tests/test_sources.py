"""Tests of the data sources: Parquet and raw ratings importers, the dataset registry, DiffuRec pickles."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recdiff
from recdiff.data import read_interactions
from recdiff.data.datasets import (
    RECIPES,
    DatasetRecipe,
    convert_amazon_ratings,
    convert_diffurec_pickle,
    convert_ml_zip,
    get_recipe,
    load_plain_pickle,
)
from recdiff.errors import DataError, RegistryError, SpecError
from recdiff.spec.models import DataSpec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ML_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::007::4::978301968\n"
AMAZON_RATINGS = "A39HTATAQ9V7YF,0205616461,5.0,1369699200\nAKJHHD5VEH7VG,0558925278,3.0,1355443200\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# Raw ratings files


def test_movielens_ratings_dat_is_detected_by_name(tmp_path: Path) -> None:
    frame = read_interactions(DataSpec(path=write(tmp_path / "ratings.dat", ML_RATINGS)))
    assert list(frame.columns) == ["user", "item", "time", "rating"]
    assert frame["user"].tolist() == ["1", "1", "2"]
    assert frame["item"].tolist() == ["1193", "661", "007"]
    assert frame["rating"].tolist() == [5.0, 3.0, 4.0]
    assert frame["time"].dtype == np.float64 and frame["time"].iloc[0] == 978300760.0


def test_amazon_ratings_keep_leading_zeros_and_are_detected_by_name(tmp_path: Path) -> None:
    frame = read_interactions(DataSpec(path=write(tmp_path / "ratings_Beauty.csv", AMAZON_RATINGS)))
    assert frame["item"].tolist() == ["0205616461", "0558925278"]
    assert frame["rating"].tolist() == [5.0, 3.0]
    assert frame["time"].tolist() == [1369699200.0, 1355443200.0]


def test_format_setting_reads_any_file_name(tmp_path: Path) -> None:
    spec = DataSpec(path=write(tmp_path / "movies.txt", ML_RATINGS), format="ml-ratings")
    assert len(read_interactions(spec)) == 3
    spec = DataSpec(path=write(tmp_path / "beauty.txt", AMAZON_RATINGS), format="amazon-ratings")
    assert len(read_interactions(spec)) == 2


@pytest.mark.parametrize(
    "name, text, fmt, expected",
    [
        ("single.dat", "1:1193:5:978300760\n", "ml-ratings", "UserID::MovieID::Rating::Timestamp"),
        ("short.dat", "1::1193::5\n", "ml-ratings", "UserID::MovieID::Rating::Timestamp"),
        ("empty.dat", "", "ml-ratings", "is empty"),
        ("text.dat", "1::1193::five::978300760\n", "ml-ratings", "the rating on line 1 is 'five'"),
        ("header.csv", "user,item,rating,timestamp\nA,1,5,3\n", "amazon-ratings", "set data.format to 'csv'"),
        ("three.csv", "a,b,5\n", "amazon-ratings", "user,item,rating,timestamp"),
        ("gap.csv", "A,1,5,3\nB,,4,2\n", "amazon-ratings", "line 2 has no item id"),
    ],
)
def test_malformed_ratings_files_name_the_problem(tmp_path: Path, name: str, text: str, fmt: str, expected: str) -> None:
    with pytest.raises(DataError) as error:
        read_interactions(DataSpec(path=write(tmp_path / name, text), format=fmt))
    assert expected in str(error.value) and name in str(error.value)


def test_unknown_extension_lists_the_new_formats(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read_interactions(DataSpec(path=write(tmp_path / "log.json", "{}")))
    assert "parquet" in str(error.value) and "ml-ratings" in str(error.value) and "amazon-ratings" in str(error.value)


# Parquet


def test_parquet_reads_named_columns_ids_times_and_ratings(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow not installed (pip install -e '.[parquet]')")
    path = tmp_path / "log.parquet"
    pd.DataFrame(
        {
            "uid": [10, 2, 2],
            "iid": ["007", "b", "c"],
            "when": pd.to_datetime(["1970-01-01 00:00:10", "1970-01-02 00:00:00", "1970-01-03 00:00:00"]),
            "stars": [1.0, 2.0, 4.5],
        }
    ).to_parquet(path)
    frame = read_interactions(
        DataSpec(path=path, user_field="uid", item_field="iid", time_field="when", rating_field="stars")
    )
    assert frame["user"].tolist() == ["10", "2", "2"]
    assert frame["item"].tolist() == ["007", "b", "c"]
    assert frame["time"].tolist() == [10.0, 86400.0, 172800.0]
    assert frame["rating"].tolist() == [1.0, 2.0, 4.5]


def test_parquet_missing_column_and_non_parquet_file(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow not installed (pip install -e '.[parquet]')")
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": [1], "item_id": [2]}).to_parquet(path)
    with pytest.raises(DataError, match="no column 'timestamp'.*data.time_field"):
        read_interactions(DataSpec(path=path))
    with pytest.raises(DataError, match="could not be read as Parquet"):
        read_interactions(DataSpec(path=write(tmp_path / "fake.parquet", "user,item\n")))


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r'`pip install pyarrow` \(in a recdiff source checkout: `pip install -e "\.\[parquet'):
        read_interactions(DataSpec(path=write(tmp_path / "log.parquet", "x")))


# The dataset registry


def test_builtin_recipes_are_registered_with_the_papers_sources() -> None:
    assert {"beauty", "toys", "ml-1m", "ml-1m-raw", "beauty-raw", "toys-raw"} <= set(recdiff.available("dataset"))
    beauty = recdiff.create("dataset", "beauty")
    assert isinstance(beauty, DatasetRecipe) and beauty.preprocessed
    assert beauty.url == "https://raw.githubusercontent.com/WHUIR/DiffuRec/main/datasets/data/amazon_beauty/dataset.pkl"
    assert beauty.size == 1_217_889
    assert beauty.sha256 == "1d5ba224ff02584bcde37d3dd9fd3191d440829e7fcb7fe42dcfd313dd2144cb"
    assert get_recipe("toys").sha256 == "e6e8f7f188326a3370749055e2a736fbd16ac036f42fe051ebd8eb891ff7bd4a"
    assert get_recipe("ml-1m").size == 3_101_987
    assert len({recipe.filename for recipe in RECIPES}) == len(RECIPES), "downloads would overwrite each other"
    for raw in ("ml-1m-raw", "beauty-raw", "toys-raw"):
        recipe = get_recipe(raw)
        assert not recipe.preprocessed and recipe.sha256 is None and recipe.size is None


def test_unknown_dataset_name_lists_names_and_closest_match() -> None:
    with pytest.raises(RegistryError, match="Did you mean 'beauty'.*ml-1m"):
        get_recipe("beuaty")
    with pytest.raises(SpecError, match="data.name.*Did you mean 'toys'"):
        recdiff.load_spec({"data": {"name": "toy"}})


# The restricted unpickler


class _RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned > pwned.txt",))


class Plain:
    """Any class at all, even a harmless one, needs a global to be rebuilt."""


@pytest.mark.parametrize("payload", [_RunsCode(), {"train": {1: [Plain()]}}, {"train": np.int64(3)}])
def test_pickles_needing_globals_are_refused_without_running_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: object
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(DataError, match="not a plain-data pickle.*is not allowed"):
        load_plain_pickle(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_plain_pickles_load_in_every_protocol(tmp_path: Path) -> None:
    value = {"train": {1: [1, 2]}, "val": {1: [3]}, "test": {1: 4}, "umap": {"u": 1}, "smap": {"s": (1, 2.5, None)}}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"plain{protocol}.pkl"
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        assert load_plain_pickle(path) == value


def test_corrupt_pickle_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"train": {1: list(range(100))}})[:50])
    with pytest.raises(DataError, match="not a plain-data pickle"):
        load_plain_pickle(path)


# Conversion


def test_diffurec_pickle_becomes_positions_in_each_sequence(tmp_path: Path) -> None:
    source = tmp_path / "dataset.pkl"
    data = {"train": {2: [5, 6], 1: [7]}, "val": {2: [8], 1: 9}, "test": {2: [5], 1: [3]}, "umap": {}, "smap": {}}
    source.write_bytes(pickle.dumps(data))
    target = tmp_path / "out.inter"
    convert_diffurec_pickle(source, target)
    assert target.read_text() == (
        "user_id:token\titem_id:token\ttimestamp:float\n"
        "1\t7\t0\n1\t9\t1\n1\t3\t2\n"
        "2\t5\t0\n2\t6\t1\n2\t8\t2\n2\t5\t3\n"
    )


@pytest.mark.parametrize(
    "data, expected",
    [
        ([1, 2], "expected a dict with 'train', 'val' and 'test'"),
        ({"train": {}, "val": {}}, "expected a dict with 'train', 'val' and 'test'"),
        ({"train": [1], "val": {}, "test": {}}, "'train' is a list"),
        ({"train": {1: ["a"]}, "val": {}, "test": {}}, "not a list of integer item ids"),
    ],
)
def test_malformed_diffurec_pickles_are_data_errors(tmp_path: Path, data: object, expected: str) -> None:
    source = tmp_path / "dataset.pkl"
    source.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match="not a DiffuRec dataset") as error:
        convert_diffurec_pickle(source, tmp_path / "out.inter")
    assert expected in str(error.value)


def test_raw_movielens_zip_and_amazon_csv_convert_with_ratings(tmp_path: Path) -> None:
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n")
        zipped.writestr("ml-1m/ratings.dat", ML_RATINGS)
    convert_ml_zip(archive, tmp_path / "ml.inter")
    assert (tmp_path / "ml.inter").read_text() == (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t1193\t5.0\t978300760.0\n1\t661\t3.0\t978302109.0\n2\t007\t4.0\t978301968.0\n"
    )
    convert_amazon_ratings(write(tmp_path / "ratings_Beauty.csv", AMAZON_RATINGS), tmp_path / "beauty.inter")
    frame = read_interactions(DataSpec(path=tmp_path / "beauty.inter"))
    assert frame["item"].tolist() == ["0205616461", "0558925278"]


def test_zip_without_ratings_is_a_data_error(tmp_path: Path) -> None:
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n")
    with pytest.raises(DataError, match="holds no ratings.dat"):
        convert_ml_zip(archive, tmp_path / "ml.inter")
    with pytest.raises(DataError, match="is not a zip archive"):
        convert_ml_zip(write(tmp_path / "not.zip", "hello"), tmp_path / "ml.inter")


# The papers' sets, reconstructed from the shared .inter files in the DiffuRec format


def _sequences(path: Path) -> dict[int, list[int]]:
    table = pd.read_csv(path, sep="\t")
    table.columns = ["user", "item", "time"]
    table = table.sort_values(["user", "time"], kind="stable")
    return {int(user): group.tolist() for user, group in table.groupby("user", sort=True)["item"]}


@pytest.mark.parametrize(
    "name, users, items, interactions", [("beauty", 22_363, 12_101, 198_502), ("ml-1m", 6_040, 3_706, 1_000_209)]
)
def test_diffurec_format_round_trip_reproduces_the_published_counts(
    tmp_path: Path, name: str, users: int, items: int, interactions: int
) -> None:
    original = SHARED / name / f"{name}.inter"
    if not original.is_file():
        pytest.skip(f"shared data not present at {original}")
    sequences = _sequences(original)
    released = {
        "train": {user: seq[:-2] for user, seq in sequences.items()},
        "val": {user: [seq[-2]] for user, seq in sequences.items()},
        "test": {user: [seq[-1]] for user, seq in sequences.items()},
        "umap": {user: user for user in sequences},
        "smap": {item: item for seq in sequences.values() for item in seq},
    }
    source = tmp_path / "dataset.pkl"
    source.write_bytes(pickle.dumps(released, protocol=pickle.HIGHEST_PROTOCOL))
    target = tmp_path / f"{name}.inter"
    convert_diffurec_pickle(source, target)
    frame = read_interactions(DataSpec(path=target))
    assert (frame["user"].nunique(), frame["item"].nunique(), len(frame)) == (users, items, interactions)
    assert _sequences(target) == sequences


def test_in_memory_stream_reads_like_a_file() -> None:
    from recdiff.data.importers import read_ml_ratings

    frame = read_ml_ratings(io.BytesIO(ML_RATINGS.encode()), "memory")
    assert len(frame) == 3
