"""Tests of recdiff.data.cache through load_data: keys, hits, atomic entries, damaged and unwritable caches."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from recdiff.data import load_data
from recdiff.data.cache import CacheWarning, cache_dir, cache_key, file_sha256
from recdiff.spec.models import DataSpec

ROWS = "".join(f"{user}\t{item}\t{t}\n" for user in range(1, 8) for t, item in enumerate(range(user, user + 6)))
HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("RECDIFF_HOME", str(folder))
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "log.inter"
    path.write_text(HEADER + ROWS)
    return path


def spec_of(path: Path, **settings: object) -> DataSpec:
    return DataSpec(path=path, **{"min_user_inter": 3, "min_item_inter": 2, **settings})


def entries() -> list[Path]:
    return sorted(cache_dir().glob("*")) if cache_dir().is_dir() else []


def test_second_load_comes_from_the_cache_unchanged(home: Path, source: Path) -> None:
    cold = load_data(spec_of(source), seed=0)
    assert not cold.from_cache and cold.cache_file is not None
    assert cold.cache_file.parent == home / "cache" and entries() == [cold.cache_file]
    warm = load_data(spec_of(source), seed=0)
    assert warm.from_cache and warm.cache_file == cold.cache_file
    for name in ("items", "offsets", "times", "item_ids", "user_ids"):
        assert np.array_equal(getattr(warm.data, name), getattr(cold.data, name)), name
    assert warm.data.num_items == cold.data.num_items
    assert warm.data.item_ids.dtype == object and isinstance(warm.data.item_ids[0], str)
    assert warm.data.fingerprint() == cold.data.fingerprint()
    assert warm.report == cold.report


def test_entries_hold_no_objects(home: Path, source: Path) -> None:
    entry = load_data(spec_of(source), seed=0).cache_file
    with np.load(entry, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
        assert arrays["user_ids"].dtype.kind == "U"


def test_key_follows_content_and_preprocessing_settings(home: Path, source: Path, tmp_path: Path) -> None:
    key = cache_key(source, spec_of(source), preprocessed=False)
    copy = tmp_path / "elsewhere.inter"
    shutil.copy(source, copy)
    assert cache_key(copy, spec_of(copy), preprocessed=False) == key  # content, not location
    assert cache_key(source, spec_of(source, split="temporal", max_len=7), preprocessed=False) == key
    changed = [
        spec_of(source, min_user_inter=4),
        spec_of(source, duplicates="drop_consecutive"),
        spec_of(source, rating_field="timestamp", min_rating=1),
        spec_of(source, time_field="item_id"),
    ]
    assert len({key, *(cache_key(source, spec, preprocessed=False) for spec in changed)}) == 1 + len(changed)
    assert cache_key(source, DataSpec(path=source), preprocessed=True) != cache_key(
        source, DataSpec(path=source), preprocessed=False
    )
    source.write_text(HEADER + ROWS + "8\t1\t0\n")
    assert cache_key(source, spec_of(source), preprocessed=False) != key


def test_a_changed_file_is_read_again(home: Path, source: Path) -> None:
    before = load_data(spec_of(source), seed=0)
    source.write_text(HEADER + ROWS.replace("4\t6\t2\n", ""))
    after = load_data(spec_of(source), seed=0)
    assert not after.from_cache and len(after.data.items) == len(before.data.items) - 1
    assert len(entries()) == 2


@pytest.mark.parametrize("damage", [b"", b"not a zip file", None])
def test_a_damaged_entry_is_rebuilt_with_a_warning(home: Path, source: Path, damage: bytes | None) -> None:
    entry = load_data(spec_of(source), seed=0).cache_file
    good = entry.read_bytes()
    # None: a valid archive whose arrays do not fit together (offsets beyond the items).
    if damage is None:
        with np.load(entry, allow_pickle=False) as arrays:
            fields = {name: arrays[name] for name in arrays.files}
        fields["offsets"] = fields["offsets"] + 1
        np.savez(entry, **fields)
    else:
        entry.write_bytes(damage)
    with pytest.warns(CacheWarning, match=f"Cache file '{entry}' could not be read.*rebuilding"):
        rebuilt = load_data(spec_of(source), seed=0)
    assert not rebuilt.from_cache and rebuilt.data.num_users == 7
    assert entry.read_bytes() == good
    assert load_data(spec_of(source), seed=0).from_cache


def test_cache_off_writes_nothing(home: Path, source: Path) -> None:
    loaded = load_data(spec_of(source, cache=False), seed=0)
    assert loaded.cache_file is None and not loaded.from_cache
    assert not home.exists()


def test_synthetic_data_is_never_cached(home: Path) -> None:
    assert load_data(DataSpec(), seed=0).cache_file is None
    assert not home.exists()


def test_an_unwritable_cache_costs_a_warning_not_the_run(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RECDIFF_HOME", str(blocker))
    with pytest.warns(CacheWarning, match="Could not write the cache file.*data.cache"):
        loaded = load_data(spec_of(source), seed=0)
    assert loaded.cache_file is None and loaded.data.num_users == 7


def test_no_temporary_file_is_left_behind(home: Path, source: Path) -> None:
    load_data(spec_of(source), seed=0)
    load_data(spec_of(source, duplicates="drop_consecutive"), seed=0)
    assert [path.suffix for path in entries()] == [".npz", ".npz"]


def test_file_sha256_reads_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import recdiff.data.cache as cache

    monkeypatch.setattr(cache, "CHUNK", 7)
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 3)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
