"""On-disk cache of preprocessed sequences, so the second run on a file starts at once.

An entry is one ``.npz`` file under ``recdiff_home()/cache/`` named by a key made of the
source file's sha256, every setting that changes what preprocessing produces, and
:data:`FORMAT_VERSION`. A changed file or setting therefore misses the cache instead of
reusing stale sequences. Entries hold only numeric and unicode arrays, so they load with
``allow_pickle=False``; they are written to a temporary file and renamed, so a reader never
sees half an entry, and an entry that cannot be read is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from recdiff.data.home import recdiff_home
from recdiff.data.preprocess import PreprocessReport, kcore_thresholds
from recdiff.data.sequences import SequenceData
from recdiff.errors import describe
from recdiff.spec.models import DataSpec

FORMAT_VERSION = 2
"""Bump whenever reading or preprocessing changes its result, so older entries are not reused."""
CHUNK = 1 << 20
"""Bytes hashed at a time: a large file is never read into memory whole."""


class CacheWarning(UserWarning):
    """A cache entry could not be read or written; the data is rebuilt, the run is unaffected."""


def cache_dir() -> Path:
    """Where cache entries live: ``recdiff_home()/cache``."""
    return recdiff_home() / "cache"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(path: Path, spec: DataSpec, preprocessed: bool) -> str:
    """The entry name of ``path`` read and preprocessed by ``spec``.

    It covers the file's content (not its name or location) and the settings that change
    the sequences; splitting and ``max_len`` come later and are not part of it.
    """
    min_user, min_item = kcore_thresholds(spec, preprocessed)
    settings = {
        "version": FORMAT_VERSION,
        "sha256": file_sha256(path),
        "format": spec.format,
        "fields": [spec.user_field, spec.item_field, spec.time_field, spec.rating_field],
        "min_rating": spec.min_rating,
        "duplicates": spec.duplicates,
        "kcore": [min_user, min_item],
    }
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def entry_path(key: str) -> Path:
    """The file of the cache entry ``key``."""
    return cache_dir() / f"{key}.npz"


def load_entry(key: str) -> tuple[SequenceData, PreprocessReport] | None:
    """The cached sequences and report of ``key``; None when absent or unreadable (with a warning)."""
    path = entry_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as entry:
            data = SequenceData(
                items=entry["items"],
                offsets=entry["offsets"],
                num_items=int(entry["num_items"]),
                item_ids=entry["item_ids"].astype(object),
                user_ids=entry["user_ids"].astype(object),
                times=entry["times"],
            )
            report = PreprocessReport(**json.loads(str(entry["report"])))
        _check(data)
    except Exception as error:  # noqa: BLE001 - any unreadable entry is rebuilt, never fatal
        warnings.warn(
            f"Cache file '{path}' could not be read ({describe(error)}); rebuilding it "
            f"from the source file.",
            CacheWarning,
            stacklevel=2,
        )
        return None
    return data, report


def store_entry(key: str, data: SequenceData, report: PreprocessReport) -> Path | None:
    """Write an entry atomically (temporary file, then rename) and return its path.

    A cache that cannot be written (read-only or full disk) only costs speed: it is
    reported with a warning and None is returned.
    """
    path = entry_path(key)
    try:
        _write(path, key, data, report)
    except OSError as error:
        warnings.warn(
            f"Could not write the cache file '{path}' ({error}); the next run will preprocess again. "
            f"Set RECDIFF_HOME to a writable directory, or data.cache to false.",
            CacheWarning,
            stacklevel=2,
        )
        return None
    return path


def _write(path: Path, key: str, data: SequenceData, report: PreprocessReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "items": data.items,
        "offsets": data.offsets,
        "num_items": np.int64(data.num_items),
        "item_ids": data.item_ids.astype(str),
        "user_ids": data.user_ids.astype(str),
        "times": data.times if data.times is not None else np.zeros(0),
        "report": np.array(json.dumps(report.to_dict())),
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check(data: SequenceData) -> None:
    """Raise ValueError unless the arrays fit together (a damaged entry may still unzip)."""
    count = len(data.items)
    if (
        data.offsets[0] != 0
        or data.offsets[-1] != count
        or len(data.user_ids) != data.num_users
        or len(data.item_ids) != data.num_items
        or data.times is None
        or len(data.times) != count
        or (count and (data.items.min() < 1 or data.items.max() > data.num_items))
    ):
        raise ValueError("the arrays of the entry do not fit together")
