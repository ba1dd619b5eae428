"""RecBole `.item` / `.user` side-feature files: typed parsing, alignment, discovery, errors, CLI output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, assert_clean_failure, flat, invoke, set_args, write_spec

from recdiff import load_spec
from recdiff.data import load_data
from recdiff.data.features import read_side_features, side_file
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec

ITEMS = ("10", "20", "40", "50", "60", "70")
"""Every user's items; item 30 (one interaction) and user u9 (two) fall to the 5-core."""


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("RECDIFF_HOME", str(folder))
    return folder


@pytest.fixture
def inter(tmp_path: Path) -> Path:
    """`shop.inter`: users u1..u8 with the six ITEMS each, plus what the 5-core removes."""
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"u{u}\t{item}\t{n}" for u in range(1, 9) for n, item in enumerate(ITEMS)]
    rows += ["u1\t30\t99", "u9\t10\t1", "u9\t20\t2"]
    return write(tmp_path / "shop.inter", rows)


@pytest.fixture
def item_file(inter: Path) -> Path:
    """`shop.item`: items 10, 40 and 30 (removed by the k-core), not 20, 50, 60 or 70."""
    return write(inter.with_suffix(".item"), [
        "item_id:token\ttitle:token\tprice:float\tcategories:token_seq",
        "40\tLamp\t19.5\thome light",
        "10\tMug\t4\tkitchen",
        "30\tGone\t1\tx",
    ])


@pytest.fixture
def user_file(inter: Path) -> Path:
    return write(inter.with_suffix(".user"), ["user_id:token\tage:float", "u2\t41", "u9\t30"])


def load(inter: Path, **settings: object) -> object:
    return load_data(DataSpec(path=inter, **settings), seed=0)


def read_items(path: Path, ids: tuple[str, ...] = ("1", "2", "3")):  # type: ignore[no-untyped-def]
    return read_side_features(path, "item", "item_id", np.array(ids, dtype=object))


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as caught:
        read_items(path, **kwargs)  # type: ignore[arg-type]
    return flat(str(caught.value))


# typed parsing


def test_each_recbole_type_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", [
        "item_id:token\ttitle:token\tprice:float\ttags:token_seq\temb:float_seq\tnote",
        "1\t007\t2.5\ta b  c\t0.5 -1 2e3\tfree text",
        "2\t\t\t\t\t",
    ])
    features = read_items(path)
    frame = features.frame
    assert features.types == {"title": "token", "price": "float", "tags": "token_seq", "emb": "float_seq",
                              "note": "token"}
    assert list(frame.columns) == ["title", "price", "tags", "emb", "note"]  # the id column is the index
    assert frame.loc[1, "title"] == "007"  # tokens stay text: no lost leading zeros
    assert frame["price"].dtype == np.float64 and frame.loc[1, "price"] == 2.5
    assert frame.loc[1, "tags"] == ("a", "b", "c")
    assert frame.loc[1, "emb"] == (0.5, -1.0, 2000.0)
    assert frame.loc[1, "note"] == "free text"
    # Empty cells: missing token and float, empty sequences.
    assert frame.loc[2, "title"] is None and math.isnan(frame.loc[2, "price"])
    assert frame.loc[2, "tags"] == () and frame.loc[2, "emb"] == ()
    # An id the file does not describe: missing everywhere.
    assert frame.loc[3, "title"] is None and math.isnan(frame.loc[3, "price"]) and frame.loc[3, "tags"] is None


def test_nan_is_a_number_in_float_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", ["item_id:token\tprice:float", "1\tNaN", "2\t3"])
    assert read_items(path).frame["price"].isna().tolist() == [True, False, True]


# alignment


def test_items_align_to_dense_ids_after_the_kcore(inter: Path, item_file: Path) -> None:
    loaded = load(inter)
    data, items = loaded.data, loaded.item_features
    assert list(data.item_ids) == list(ITEMS)  # item 30 is gone, so 40 is dense id 3
    assert items is not None and items.path == item_file and items.kind == "item"
    assert list(items.frame.index) == list(range(1, data.num_items + 1))
    titles = {data.item_ids[i - 1]: items.frame.loc[i, "title"] for i in items.frame.index}
    assert titles == {"10": "Mug", "20": None, "40": "Lamp", "50": None, "60": None, "70": None}
    assert items.frame.loc[3, "categories"] == ("home", "light")
    assert math.isnan(items.frame.loc[2, "price"])
    assert (items.rows, items.matched, items.unknown) == (3, 2, 1)  # 30 is not in the data
    assert items.coverage == pytest.approx(2 / 6)


def test_users_align_to_user_indices(inter: Path, user_file: Path) -> None:
    loaded = load(inter)
    users = loaded.user_features
    assert users is not None and users.path == user_file
    assert list(users.frame.index) == list(range(loaded.data.num_users))
    ages = dict(zip(loaded.data.user_ids, users.frame["age"]))
    assert ages["u2"] == 41 and math.isnan(ages["u1"])
    assert (users.matched, users.unknown) == (1, 1)  # u9 fell to the 5-core


def test_side_features_change_neither_sequences_nor_cache_key(
    home: Path, inter: Path, item_file: Path, user_file: Path
) -> None:
    with_sides = load(inter)
    without = load(inter, side_files=False)
    assert with_sides.item_features is not None and without.item_features is None
    assert without.user_features is None
    assert with_sides.cache_file == without.cache_file and without.from_cache
    assert with_sides.data.fingerprint() == without.data.fingerprint()


def test_a_cache_hit_still_reads_the_side_files(home: Path, inter: Path, item_file: Path) -> None:
    first, second = load(inter), load(inter)
    assert not first.from_cache and second.from_cache
    assert second.item_features is not None
    pd.testing.assert_frame_equal(second.item_features.frame, first.item_features.frame)
    item_file.write_text("item_id:token\ttitle:token\n70\tKettle\n", encoding="utf-8")
    third = load(inter)  # read on every load: an edited side file is seen despite the cache
    assert third.from_cache and third.item_features.frame.loc[6, "title"] == "Kettle"


# discovery and explicit paths


def test_siblings_are_found_only_when_present(inter: Path, item_file: Path) -> None:
    loaded = load(inter)
    assert loaded.item_features is not None
    assert loaded.user_features is None  # no shop.user: simply absent, no error


def test_side_files_false_reads_none(inter: Path, item_file: Path, user_file: Path) -> None:
    spec = DataSpec(path=inter, side_files=False)
    assert side_file(spec, "item") is None and side_file(spec, "user") is None


def test_no_discovery_for_other_formats_or_named_datasets(tmp_path: Path, inter: Path, item_file: Path) -> None:
    csv = tmp_path / "shop.csv"
    csv.write_text("user_id,item_id,timestamp\n", encoding="utf-8")
    assert side_file(DataSpec(path=csv), "item") is None  # shop.item exists, but shop.csv is no .inter
    assert side_file(DataSpec(name="beauty"), "item") is None
    explicit = DataSpec(name="beauty", item_file=item_file)
    assert side_file(explicit, "item") == item_file


def test_format_inter_discovers_siblings_whatever_the_extension(tmp_path: Path, inter: Path) -> None:
    renamed = inter.rename(tmp_path / "shop.log")
    sibling = write(tmp_path / "shop.item", ["item_id:token"])
    assert side_file(DataSpec(path=renamed, format="inter"), "item") == sibling
    assert side_file(DataSpec(path=renamed), "item") is None


def test_explicit_paths_replace_the_siblings(tmp_path: Path, inter: Path, item_file: Path) -> None:
    other = write(tmp_path / "catalogue.tsv", ["item_id:token\tbrand:token", "20\tAcme"])
    users = write(tmp_path / "people.txt", ["user_id\tcountry", "u3\tNZ"])
    loaded = load(inter, item_file=other, user_file=users)
    assert loaded.item_features.path == other and loaded.item_features.frame.loc[2, "brand"] == "Acme"
    assert loaded.user_features.types == {"country": "token"}  # untyped header fields are tokens
    assert loaded.user_features.frame.loc[2, "country"] == "NZ"


def test_configured_fields_key_the_side_files(tmp_path: Path) -> None:
    inter = write(tmp_path / "log.inter", ["uid:token\tsku:token\tts:float"]
                  + [f"u{u}\t{i}\t{i}" for u in range(5) for i in range(5)])
    write(tmp_path / "log.item", ["sku:token\tcolour:token", "3\tred"])
    loaded = load(inter, user_field="uid", item_field="sku", time_field="ts")
    assert loaded.item_features.frame.loc[4, "colour"] == "red"  # dense ids 1..5 are tokens 0..4


def test_explicit_file_conflicts_with_side_files_false(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="side_files"):
        DataSpec(path=tmp_path / "a.inter", item_file=tmp_path / "a.item", side_files=False)


# errors


def test_a_missing_explicit_file_is_an_error(tmp_path: Path, inter: Path) -> None:
    with pytest.raises(DataError) as caught:
        load(inter, user_file=tmp_path / "nobody.user")
    message = flat(str(caught.value))
    assert "User feature file" in message and "nobody.user' does not exist" in message
    assert "data.user_file" in message


@pytest.mark.parametrize(
    ("text", "state"), [("", "is empty"), ("item_id:token\ttitle:token\n", "has a header but no rows")]
)
def test_an_empty_file_is_an_error(tmp_path: Path, text: str, state: str) -> None:
    path = tmp_path / "x.item"
    path.write_text(text, encoding="utf-8")
    message = error_of(path)
    assert f"Item feature file '{path}' {state}" in message and "data.side_files" in message


def test_a_file_without_the_id_column_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", ["product:token\ttitle:token", "1\tA"])
    message = error_of(path)
    assert f"'{path}' has no column 'item_id'" in message and "product:token, title:token" in message
    assert "data.item_field" in message


def test_a_header_type_recbole_lacks_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", ["item_id:token\tprice:flaot", "1\t2"])
    message = error_of(path)
    assert f"Item feature file '{path}', line 1, column 2: header field 'price:flaot'" in message
    assert "token, token_seq, float, float_seq" in message


@pytest.mark.parametrize(("header", "cell", "declare"), [("price:float", "cheap", "token"),
                                                         ("emb:float_seq", "0.1 x 0.3", "token_seq")])
def test_a_non_number_in_a_float_column_names_its_line(tmp_path: Path, header: str, cell: str, declare: str) -> None:
    path = write(tmp_path / "x.item", [f"item_id:token\t{header}", "1\t1", "2\t2", f"3\t{cell}"])
    message = error_of(path)
    bad = cell if header.startswith("price") else "x"
    assert f"Item feature file '{path}', line 4, column '{header}': '{bad}' is not a number" in message
    assert f"declare the column as {declare}" in message


def test_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", ["item_id:token\ttitle:token", "1\tA", "2\tB", "1\tC"])
    message = error_of(path)
    assert f"'{path}', line 4, column 'item_id:token': id '1' was already described on line 2" in message


def test_an_empty_id_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "x.item", ["item_id:token\ttitle:token", "1\tA", "\tB"])
    assert f"'{path}', line 3, column 'item_id:token': the id is empty" in error_of(path)


@pytest.mark.parametrize("rows", [["1\tA\textra\tfields"], ["1\tA", "2\tB\textra"]])
def test_lines_with_extra_fields_are_unparsable(tmp_path: Path, rows: list[str]) -> None:
    path = write(tmp_path / "x.item", ["item_id:token\ttitle:token", *rows])
    message = error_of(path)
    assert f"Item feature file '{path}' could not be parsed" in message and "separated by tabs" in message


def test_a_bad_side_file_fails_prepare_cleanly(tmp_path: Path, inter: Path) -> None:
    write(inter.with_suffix(".item"), ["item_id:token\tprice:float", "10\tfree"])
    spec = write_spec(tmp_path / "spec.yaml", f"data: {{path: {inter}}}\n")
    output = assert_clean_failure(invoke("data", "prepare", spec))
    assert "shop.item', line 2, column 'price:float': 'free' is not a number" in output


# CLI


def test_stats_describes_the_side_files(inter: Path, item_file: Path, user_file: Path) -> None:
    result = invoke("data", "stats", inter)
    assert result.exit_code == 0, result.output
    output = flat(result.output.translate(str.maketrans("│┃", "  ")))
    assert f"item file {item_file}" in output and "item file rows 3" in output
    assert "item file columns title:token, price:float, categories:token_seq" in output
    # Raw data: 7 items (30 included), 3 described; 9 users, u2 and u9 described.
    assert "items with a row 42.9% (3 of 7)" in output and "users with a row 22.2% (2 of 9)" in output


def test_stats_json_has_the_side_files(inter: Path, item_file: Path) -> None:
    result = invoke("data", "stats", inter, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["user_features"] is None
    items = stats["item_features"]
    assert items["path"] == str(item_file) and items["rows"] == 3
    assert items["columns"] == {"title": "token", "price": "float", "categories": "token_seq"}
    assert (items["ids"], items["matched"], items["unknown"]) == (7, 3, 0)
    assert items["coverage"] == pytest.approx(3 / 7)


def test_prepare_prints_one_line_per_side_file(
    tmp_path: Path, home: Path, inter: Path, item_file: Path, user_file: Path
) -> None:
    spec = write_spec(tmp_path / "spec.yaml", f"data: {{path: {inter}}}\n")
    result = invoke("data", "prepare", spec)
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert (
        "item features: 3 rows, columns title:token, price:float, categories:token_seq; 2 of 6 items have a "
        f"row (33.3%); 1 row(s) for items not in the data ({item_file})"
    ) in output
    assert "user features: 2 rows, columns age:float; 1 of 8 users have a row (12.5%)" in output
    report = json.loads(invoke("data", "prepare", spec, "--json").output)
    assert report["cache"] == "read" and report["item_features"]["matched"] == 2
    assert report["user_features"]["unknown"] == 1


def test_relative_side_files_are_saved_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inter: Path, item_file: Path
) -> None:
    """A run's saved spec finds its explicit side files from any working directory, like data.path."""
    monkeypatch.chdir(inter.parent)
    explicit = item_file.rename(inter.parent / "catalogue.item")
    spec = write_spec(tmp_path / "spec.yaml", "name: sides\n")
    overrides = [*TINY, f"data.path={inter.name}", f"data.item_file={explicit.name}"]
    result = invoke("train", spec, "--out", tmp_path / "run", *set_args(overrides))
    assert result.exit_code == 0, result.output
    saved = load_spec(tmp_path / "run" / "spec.yaml")
    assert saved.data.item_file == explicit and saved.data.item_file.is_absolute()
    monkeypatch.chdir(tmp_path)
    assert load_data(saved.data, saved.seed).item_features.frame.loc[3, "title"] == "Lamp"
