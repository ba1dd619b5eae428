"""`recdiff data stats` and `recdiff data prepare`: real counts, named datasets, malformed inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import get_args

import pytest
from conftest import BEAUTY, assert_clean_failure, flat, invoke, write_spec

from recdiff.cli.common import FormatChoice
from recdiff.spec.models import DataSpec

ML_1M = BEAUTY.parents[1] / "ml-1m" / "ml-1m.inter"
HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def real(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real data not present at {path}")
    return path


def cells(text: str) -> str:
    """Output with table borders removed and whitespace collapsed: a row reads `name value ...`."""
    return flat(text.translate(str.maketrans("│┃", "  ")))


def stats_json(source: str | Path) -> dict:
    result = invoke("data", "stats", source, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("RECDIFF_HOME", str(folder))
    return folder


def install_beauty(home: Path) -> None:
    """Put the shared beauty file where `recdiff data fetch beauty` would have converted it."""
    target = home / "datasets" / "beauty" / "beauty.inter"
    target.parent.mkdir(parents=True)
    shutil.copy(real(BEAUTY), target)


# stats


def test_stats_of_beauty() -> None:
    result = invoke("data", "stats", real(BEAUTY))
    assert result.exit_code == 0, result.output
    output = cells(result.output)
    for expected in ("users 22,363", "items 12,101", "interactions 198,502", "sequence length mean 8.88",
                     "raw: before k-core"):
        assert expected in output
    stats = stats_json(BEAUTY)
    assert (stats["users"], stats["items"], stats["interactions"]) == (22_363, 12_101, 198_502)
    assert stats["lengths"]["min"] == 5 and stats["lengths"]["mean"] == pytest.approx(8.876, abs=1e-3)
    assert 0 < stats["gini"] < 1 and 0.2 < stats["top_share"] < 1
    assert stats["density"] == pytest.approx(198_502 / (22_363 * 12_101))


def test_stats_of_ml_1m_describe_the_raw_file() -> None:
    stats = stats_json(real(ML_1M))
    # The raw file: 290 items have fewer than 5 ratings, and stats keeps them (no k-core).
    assert (stats["users"], stats["items"], stats["interactions"]) == (6_040, 3_706, 1_000_209)
    assert stats["lengths"]["min"] == 20


def test_stats_of_a_named_dataset(home: Path) -> None:
    install_beauty(home)
    assert stats_json("beauty")["users"] == 22_363


def test_stats_of_an_unknown_source_lists_the_named_datasets(tmp_path: Path) -> None:
    output = assert_clean_failure(invoke("data", "stats", tmp_path / "nope.inter"))
    assert "nope.inter' is neither an existing file" in output and "beauty, beauty-raw, ml-1m" in output


def test_stats_of_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("customer,product,when\na,x,1\na,y,2\nb,x,1\n")
    result = invoke("data", "stats", path, "--user-field", "customer", "--item-field", "product",
                    "--time-field", "when", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (stats["users"], stats["items"], stats["interactions"]) == (2, 2, 3)
    assert stats["lengths"]["max"] == 2 and stats["gini"] == pytest.approx(1 / 6)  # counts 1, 2


def test_stats_format_choices_are_data_format_and_checked_by_click(tmp_path: Path) -> None:
    spec_formats = get_args(DataSpec.model_fields["format"].annotation)
    assert [choice.value for choice in FormatChoice] == list(spec_formats)
    result = invoke("data", "stats", tmp_path / "log.csv", "--format", "xlsx")
    assert result.exit_code == 2 and "'xlsx' is not one of" in flat(result.output)
    assert "ml-ratings" in flat(result.output)


# malformed inputs: each names the file and the line or column


MALFORMED = {
    "missing column": ("log.inter", "user_id:token\ttimestamp:float\n1\t0\n",
                       ["log.inter' has no column 'item_id'", "columns: user_id:token, timestamp:float",
                        "data.item_field"]),
    "non-numeric time": ("log.csv", "user_id,item_id,timestamp\n1,1,3\n1,2,4\n2,1,later\n",
                         ["log.csv': column 'timestamp' cannot be read as times (line 4 holds 'later')"]),
    "empty file": ("log.inter", "", ["log.inter' is empty"]),
    "header only": ("log.inter", HEADER, ["log.inter' has a header but no interactions"]),
    "wrong header type": ("log.inter", "user_id:tokn\titem_id:token\ttimestamp:float\n1\t1\t0\n",
                          ["log.inter', line 1, column 1: header field 'user_id:tokn'",
                           "token, token_seq, float, float_seq"]),
    "missing id": ("log.csv", "user_id,item_id,timestamp\n1,1,3\n,2,4\n",
                   ["log.csv': column 'user_id' is empty on 1 line(s), the first being line 3"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("command", ["stats", "prepare"])
def test_malformed_inputs_are_clear_errors(tmp_path: Path, case: str, command: str) -> None:
    name, text, expected = MALFORMED[case]
    path = tmp_path / name
    path.write_text(text)
    if command == "stats":
        result = invoke("data", "stats", path)
    else:
        result = invoke("data", "prepare", write_spec(tmp_path / "spec.yaml", f"data: {{path: {path}}}\n"))
    output = assert_clean_failure(result)
    for part in expected:
        assert part in output, (part, output)


# prepare


def test_prepare_drops_a_user_with_one_interaction_with_a_count(tmp_path: Path) -> None:
    rows = "".join(f"{user}\t{item}\t{t}\n" for user in (1, 2) for t, item in enumerate((1, 2, 3, 4)))
    path = tmp_path / "log.inter"
    path.write_text(HEADER + rows + "3\t1\t0\n")
    spec = write_spec(tmp_path / "spec.yaml", f"data: {{path: {path}, min_user_inter: 0, min_item_inter: 0}}\n")
    result = invoke("data", "prepare", spec)
    assert result.exit_code == 0, result.output
    output = cells(result.output)
    assert "9 interactions; no k-core; 1 user with fewer than 3 interactions dropped (1 interactions)" in output
    assert "→ 2 users, 4 items, 8 interactions" in output
    assert "train 2 2" in output and "val 2 2" in output and "test 2 2" in output


def test_prepare_reports_cache_and_split_sizes(tmp_path: Path, home: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", f"data: {{path: {real(BEAUTY)}, max_len: 50}}\n")
    first = invoke("data", "prepare", spec)
    assert first.exit_code == 0, first.output
    assert "cache: written" in flat(first.output) and str(home / "cache") in flat(first.output)
    second = invoke("data", "prepare", spec, "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.output)
    assert report["cache"] == "read"
    assert report["examples"] == {"train": 131_413, "val": 22_363, "test": 22_363}
    assert report["preprocessing"]["kcore_removed"] == 0 and report["preprocessing"]["users"] == 22_363
    temporal = json.loads(invoke("data", "prepare", spec, "--json", "--set", "data.split=temporal").output)
    assert temporal["split"] == "temporal" and temporal["cache"] == "read"
    assert sum(temporal["examples"].values()) == 198_502 - 22_363  # every item but each user's first


def test_prepare_synthetic_data_uses_no_cache(tmp_path: Path, home: Path) -> None:
    result = invoke("data", "prepare", write_spec(tmp_path / "spec.yaml", "data: {synthetic: {users: 300}}\n"))
    assert result.exit_code == 0, result.output
    assert "source: synthetic data" in result.output and "cache: off" in result.output
    assert not home.exists()


def test_a_named_released_dataset_is_used_as_released(tmp_path: Path, home: Path) -> None:
    install_beauty(home)
    spec = write_spec(tmp_path / "spec.yaml", "data: {name: beauty}\n")
    report = json.loads(invoke("data", "prepare", spec, "--json").output)
    assert report["source"].startswith("dataset 'beauty'")
    assert (report["preprocessing"]["min_user_inter"], report["preprocessing"]["min_item_inter"]) == (0, 0)
    explicit = json.loads(invoke("data", "prepare", spec, "--json", "--set", "data.min_item_inter=6").output)
    assert explicit["preprocessing"]["min_item_inter"] == 6 and explicit["preprocessing"]["kcore_removed"] > 0
    assert explicit["cache"] == "written"
