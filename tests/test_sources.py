"""Tests of the data sources: Parquet and raw ratings importers, the dataset registry, DiffuRec pickles."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recdiff.data import read_interactions
from recdiff.errors import DataError
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
    pytest.importorskip("pyarrow", reason="pyarrow not installed (pip install 'recdiff[parquet]')")
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
    pytest.importorskip("pyarrow", reason="pyarrow not installed (pip install 'recdiff[parquet]')")
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
    with pytest.raises(DataError, match=r'pip install "recdiff\[parquet\]"'):
        read_interactions(DataSpec(path=write(tmp_path / "log.parquet", "x")))


def test_in_memory_stream_reads_like_a_file() -> None:
    from recdiff.data.importers import read_ml_ratings

    frame = read_ml_ratings(io.BytesIO(ML_RATINGS.encode()), "memory")
    assert len(frame) == 3
