"""Readers for the formats without a named-column text header: Parquet and the raw ratings files.

`read_interactions` dispatches here. The raw MovieLens and Amazon files are how the
benchmark sets were originally published, so a user who downloads the originals can build
them without a conversion script of their own. Both carry ratings, so their frames always
hold a ``rating`` column (``min_rating`` filters on it).

Like the text readers, ids become strings (tokens: Amazon ASINs such as ``0205616461``
must keep their leading zero) and times float64.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from recdiff.data.columns import FIELDS, field_lookup, find_column, parse_time
from recdiff.errors import DataError, describe
from recdiff.spec.models import DataSpec

Source = Path | IO[bytes]
"""A file to read: a path, or an open binary stream (a member of a zip archive)."""

COLUMNS = ("user", "item", "time", "rating")
"""Columns of a frame read from a ratings file."""


def read_parquet(path: Path, spec: DataSpec) -> pd.DataFrame:
    """Read a Parquet file's user, item and time columns (and rating when ``spec.rating_field`` is set).

    Column names come from the spec's ``*_field`` settings, as for CSV. Integer ids become
    their decimal strings; timestamp columns become seconds since 1970.

    Raises:
        DataError: pyarrow is not installed, the file is not Parquet, a column is missing,
            or a value is missing or not a time.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"Reading the Parquet file '{path}' needs pyarrow, which is not installed. Install it with "
            f"`pip install pyarrow` (in a recdiff source checkout: `pip install -e \".[parquet]\"`), or convert the "
            f"file to CSV and set data.format to 'csv'."
        ) from None
    try:
        header = list(pq.read_schema(path).names)
    except Exception as error:  # pyarrow raises its own ArrowInvalid/OSError family
        raise DataError(
            f"'{path}' could not be read as Parquet ({describe(error)}). Check the file, or "
            f"set data.format to the format it really has."
        ) from None
    lookup = field_lookup(header, typed=True)
    settings = [*FIELDS, ("rating_field", "the column holding ratings")] if spec.rating_field else FIELDS
    raw = [find_column(path, header, lookup, getattr(spec, setting), setting, role) for setting, role in settings]
    table = pd.read_parquet(path, columns=list(dict.fromkeys(raw)))
    if table.empty:
        raise DataError(f"Parquet file '{path}' holds no rows. Point data.path at a file with interactions.")
    frame = pd.DataFrame({"user": _tokens(path, table[raw[0]], raw[0]), "item": _tokens(path, table[raw[1]], raw[1])})
    frame["time"] = parse_time(path, _seconds(_complete(path, table[raw[2]], raw[2])), raw[2])
    if spec.rating_field:
        fix = "Set data.rating_field to a numeric column, or fill those rows."
        frame["rating"] = _numbers(table[raw[3]], f"Parquet file '{path}'", f"value of '{raw[3]}'", "row", 1, fix)
    return frame


def read_ml_ratings(source: Source, where: Path | str) -> pd.DataFrame:
    """Read MovieLens ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp`` lines, no header.

    Splitting on ``:`` keeps pandas' fast C parser (``::`` would need the Python engine);
    the empty fields between the two colons are then checked, so a file separated by single
    colons is refused instead of read with shifted columns.

    Args:
        source: The file, or an open binary stream of it.
        where: How to name the file in errors.
    """
    table = _read_headerless(source, where, ":", 7, "UserID::MovieID::Rating::Timestamp")
    filled = table[[1, 3, 5]].notna().any(axis=1).to_numpy()
    if filled.any():
        line = int(np.flatnonzero(filled)[0]) + 1
        raise DataError(
            f"'{where}' line {line} is not of the form UserID::MovieID::Rating::Timestamp (its fields are not "
            f"separated by '::'). Use the MovieLens ratings.dat file as distributed, or set data.format to the "
            f"format the file has."
        )
    return _ratings_frame(table[[0, 2, 4, 6]].set_axis(range(4), axis=1), where, "'ml-ratings'")


def read_amazon_ratings(source: Source, where: Path | str) -> pd.DataFrame:
    """Read an Amazon 2014 per-category ratings file: ``user,item,rating,timestamp`` lines, no header.

    Args:
        source: The file, or an open binary stream of it.
        where: How to name the file in errors.
    """
    table = _read_headerless(source, where, ",", 4, "user,item,rating,timestamp")
    return _ratings_frame(table, where, "'amazon-ratings'")


Reader = Callable[[Path, DataSpec], pd.DataFrame]
"""Reads the interaction file at a path as the data spec says, into a `user, item, time[, rating]` frame."""

IMPORTERS: dict[str, Reader] = {
    "parquet": read_parquet,
    "ml-ratings": lambda path, spec: read_ml_ratings(path, path),
    "amazon-ratings": lambda path, spec: read_amazon_ratings(path, path),
}
"""The reader of each format that is not a text table with a header."""


def _read_headerless(source: Source, where: Path | str, separator: str, width: int, layout: str) -> pd.DataFrame:
    """Every field as a string (numbers are checked afterwards, so errors can name the line)."""
    try:
        table = pd.read_csv(
            source, sep=separator, header=None, dtype=str, keep_default_na=False, na_values=[""], engine="c"
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"Ratings file '{where}' is empty. It should hold one {layout} line per rating.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(
            f"Ratings file '{where}' could not be parsed ({describe(error)}). Every line must be "
            f"{layout}, with no header line."
        ) from None
    if table.shape[1] != width:
        raise DataError(
            f"Ratings file '{where}' does not have the layout {layout}: its lines split into {table.shape[1]} "
            f"field(s) at '{separator}', not {width}. Check that it is the right file, or set data.format to the "
            f"format it has."
        )
    return table


def _ratings_frame(table: pd.DataFrame, where: Path | str, setting: str) -> pd.DataFrame:
    """Columns 0..3 (user, item, rating, time, all strings) as a checked ``COLUMNS`` frame."""
    for column, name in enumerate(("user id", "item id", "rating", "timestamp")):
        missing = table[column].isna().to_numpy()
        if missing.any():
            raise DataError(
                f"Ratings file '{where}' line {_first(missing) + 1} has no {name}. Every line needs a user, an "
                f"item, a rating and a timestamp; remove or fill that line."
            )
    header_hint = (
        f"A file with a header line is not a raw ratings file: set data.format to 'csv' instead of {setting}."
    )
    frame = pd.DataFrame({"user": table[0], "item": table[1]})
    frame["time"] = _numbers(table[3], f"Ratings file '{where}'", "timestamp", "line", 1, header_hint)
    frame["rating"] = _numbers(table[2], f"Ratings file '{where}'", "rating", "line", 1, header_hint)
    return frame[list(COLUMNS)]


def _numbers(column: pd.Series, what: str, name: str, unit: str, first: int, fix: str) -> np.ndarray:
    """``column`` as float64, or an error naming the first value that is not a finite number."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = _first(bad)
        raise DataError(
            f"{what}: the {name} on {unit} {row + first} is '{column.iloc[row]}', not a finite number "
            f"({int(bad.sum())} such {unit}(s)). {fix}"
        )
    return values


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _complete(path: Path, column: pd.Series, name: str) -> pd.Series:
    missing = column.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"Parquet file '{path}': column '{name}' is empty in {int(missing.sum())} row(s), the first being "
            f"row {_first(missing) + 1}. Every interaction needs a user, an item and a time; remove those rows."
        )
    return column


def _tokens(path: Path, column: pd.Series, name: str) -> pd.Series:
    """Ids as strings; integer-valued floats (an int column read as float) lose their ``.0``."""
    _complete(path, column, name)
    if pd.api.types.is_float_dtype(column) and bool(np.all(np.mod(column.to_numpy(), 1) == 0)):
        column = column.astype(np.int64)
    return column.astype(str)


def _seconds(column: pd.Series) -> pd.Series:
    """Parquet timestamp columns as seconds since 1970 (UTC); other columns unchanged."""
    if pd.api.types.is_datetime64_any_dtype(column):
        if column.dt.tz is None:
            column = column.dt.tz_localize("UTC")
        return (column - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return column
