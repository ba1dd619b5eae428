"""Write `recdiff recommend`'s recommendations, a batch at a time, in the format the file name asks for.

- ``.jsonl``: one object per user, ``{"user", "items", "scores", "unknown"}``, items best first.
- ``.csv`` and ``.parquet``: one row per recommended item, columns ``user``, ``rank`` (1 = best),
  ``item``, ``score``. Parquet needs pyarrow (``pip install "recdiff[parquet]"``).

The file is written beside its final name and renamed over it when complete, so a failed or
interrupted command never leaves half a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd

from recdiff import jsontext
from recdiff.errors import DataError, describe
from recdiff.serving.predictor import Recommendation

FORMATS = (".jsonl", ".csv", ".parquet")


class Writer(Protocol):
    def write(self, users: Sequence[str], found: Sequence[Recommendation]) -> None:
        """Append the recommendations of ``users``."""


def check_output(path: Path) -> str:
    """The output format of ``path`` by its suffix, checked before any work starts.

    Raises:
        DataError: The suffix is none of `FORMATS`, or Parquet is asked for without pyarrow.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(
            f"--out '{path}': write recommendations to a {', '.join(FORMATS)} file (got '{suffix or 'no extension'}')."
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataError(
                f"--out '{path}': writing Parquet needs pyarrow, which is not installed. Install it with "
                f'`pip install "recdiff[parquet]"`, or write .jsonl or .csv.'
            ) from None
    return suffix


def _rows(users: Sequence[str], found: Sequence[Recommendation]) -> pd.DataFrame:
    return pd.DataFrame({
        "user": [user for user, r in zip(users, found) for _ in r.items],
        "rank": [rank for r in found for rank in range(1, len(r.items) + 1)],
        "item": [item for r in found for item in r.items],
        "score": [score for r in found for score in r.scores],
    })


class _JsonLines:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, users: Sequence[str], found: Sequence[Recommendation]) -> None:
        for user, r in zip(users, found):
            record = {"user": user, "items": r.items, "scores": r.scores, "unknown": r.unknown}
            self.handle.write(jsontext.dumps(record) + "\n")


class _Csv:
    def __init__(self, handle: IO[str]) -> None:
        self.handle, self.header = handle, True

    def write(self, users: Sequence[str], found: Sequence[Recommendation]) -> None:
        _rows(users, found).to_csv(self.handle, header=self.header, index=False)
        self.header = False


class _Parquet:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = pa.schema([("user", pa.string()), ("rank", pa.int64()), ("item", pa.string()), ("score", pa.float64())])
        self.writer: Any = pq.ParquetWriter(path, self.schema)

    def write(self, users: Sequence[str], found: Sequence[Recommendation]) -> None:
        import pyarrow as pa

        self.writer.write_table(pa.Table.from_pandas(_rows(users, found), schema=self.schema, preserve_index=False))


@contextmanager
def recommendation_writer(path: Path) -> Iterator[Writer]:
    """A writer for ``path`` (format by suffix, see `check_output`); the file appears only if the block completes.

    Raises:
        RunError: The file could not be written.
    """
    suffix = check_output(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        if suffix == ".parquet":
            parquet = _Parquet(temporary)
            try:
                yield parquet
            finally:
                parquet.writer.close()
        else:
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                yield _JsonLines(handle) if suffix == ".jsonl" else _Csv(handle)
        os.replace(temporary, path)
    except OSError as error:
        raise unwritable_output(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def unwritable_output(path: Path, error: OSError) -> DataError:
    """The error for an output file that could not be written."""
    return DataError(f"Could not write '{path}' ({describe(error)}). Pass an --out in a writable folder with free space.")
