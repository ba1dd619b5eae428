"""Finding and parsing the columns of an interaction or side-feature file, shared by every reader.

The text readers (`recdiff.data.readers`), the Parquet and raw-ratings importers
(`recdiff.data.importers`) and the side-feature reader (`recdiff.data.features`) all name the
spec's ``*_field`` settings in their errors and parse ids, times and ratings alike; this module
is that common part, so none of them reaches into another's internals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recdiff.errors import DataError, describe

FIELDS = (
    ("user_field", "the column holding user ids"),
    ("item_field", "the column holding item ids"),
    ("time_field", "the column that orders each user's interactions (e.g. a timestamp)"),
)
"""The spec settings naming the user, item and time columns, with what each column must hold."""
RATING_FIELD = ("rating_field", "the column holding ratings, or leave it empty")
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
"""The field types a RecBole atomic file's header may declare (``name:type``)."""


def check_recbole_types(path: Path, header: list[str], what: str = "Interaction file") -> None:
    """Reject a typed header field whose type RecBole does not define (a typo such as ``tokn``).

    ``what`` names the kind of file in the message (the side-feature reader shares this check).
    """
    for column, raw in enumerate(header, start=1):
        name, colon, kind = raw.partition(":")
        if colon and kind not in RECBOLE_TYPES:
            raise DataError(
                f"{what} '{path}', line 1, column {column}: header field '{raw}' has the type "
                f"'{kind}', which RecBole atomic files do not have. Write it as '{name}:TYPE' with TYPE one "
                f"of {', '.join(RECBOLE_TYPES)} (ids are token, times and ratings float)."
            )


def field_lookup(header: list[str], typed: bool) -> dict[str, str]:
    """Map each accepted field name to its raw header name (``user_id`` -> ``user_id:token``)."""
    lookup: dict[str, str] = {}
    for raw in header:
        lookup.setdefault(raw, raw)
        if typed:
            lookup.setdefault(raw.split(":", 1)[0], raw)
    return lookup

def find_column(
    path: Path, header: list[str], lookup: dict[str, str], name: str, setting: str, role: str
) -> str:
    """The raw header name of column ``name``, or an error telling which ``data.<setting>`` to set to ``role``."""
    raw = lookup.get(name)
    if raw is None:
        raise DataError(
            f"Interaction file '{path}' has no column '{name}' (columns: {', '.join(header)}). "
            f"Set data.{setting} to {role}."
        )
    return raw

def unreadable(
    path: Path,
    error: Exception,
    what: str = "Interaction file",
    separator: str = "that data.format matches its separator (inter and tsv: tab, csv: comma)",
) -> DataError:
    """The error for a file pandas cannot parse; ``separator`` says which separator the file must use."""
    return DataError(
        f"{what} '{path}' could not be parsed ({describe(error)}). Check that "
        f"it is UTF-8 text with the same number of separated fields on every line, and {separator}."
    )

def parse_time(path: Path, column: pd.Series, name: str) -> np.ndarray:
    """Times as float64: numbers as they are, dates as seconds since 1970 (UTC); every one finite."""
    times = _time_values(path, column, name)
    infinite = np.flatnonzero(~np.isfinite(times))
    if infinite.size:
        raise DataError(
            f"Interaction file '{path}': column '{name}' holds '{column.iloc[infinite[0]]}' on line {infinite[0] + 2} "
            f"({infinite.size} such line(s)), which is not a finite time, so it cannot order a user's "
            f"interactions. Fix those lines, or set data.time_field to a column of finite numbers or dates."
        )
    return times


def _time_values(path: Path, column: pd.Series, name: str) -> np.ndarray:
    """Numbers as they are, else dates in seconds since 1970; an error names the first line that is neither."""
    check_complete(path, column, name)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(column, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=np.float64)
    dates = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    if not dates.isna().any():
        return ((dates - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
    bad = (numbers.isna() & dates.isna()).to_numpy()
    row = int(np.flatnonzero(bad if bad.any() else dates.isna().to_numpy())[0])
    raise DataError(
        f"Interaction file '{path}': column '{name}' cannot be read as times (line {row + 2} holds "
        f"'{column.iloc[row]}'). It must hold numbers or dates such as 2014-01-31 12:00:00 on every "
        f"line. Fix those lines, or set data.time_field to a column that does."
    )


def parse_rating(path: Path, column: pd.Series, name: str) -> np.ndarray:
    """Ratings as float64; a value that is not a number is an error naming its line."""
    check_complete(path, column, name)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"Interaction file '{path}': column '{name}' holds ratings, but line {row + 2} holds "
            f"'{column.iloc[row]}', which is not a number. Fix those lines, or set data.rating_field "
            f"to the column holding numeric ratings."
        )
    return numbers.to_numpy(dtype=np.float64)


def check_complete(path: Path, column: pd.Series, name: str) -> None:
    """Raise a DataError naming the first line where ``column`` is empty."""
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"Interaction file '{path}': column '{name}' is empty on {int(missing.sum())} line(s), "
            f"the first being line {row + 2}. Every interaction needs a user, an item and a time; "
            f"remove or fill those lines."
        )
