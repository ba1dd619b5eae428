"""Read an interaction file into one ``user, item, time`` frame.

Ids are read as strings because they are tokens: ``007`` and ``7`` are different users,
and an id column that happens to look numeric must not lose leading zeros. Times become
float64 so that every later step can sort them without caring about the file's types.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recdiff.errors import DataError, describe
from recdiff.spec.models import DataSpec

FORMAT_BY_SUFFIX = {
    ".inter": "inter",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMAT_BY_NAME = {"ratings.dat": "ml-ratings"}
"""File names that say more than their extension: MovieLens ships ``ratings.dat``, Amazon ``ratings_<Category>.csv``."""
AMAZON_RATINGS_PREFIX = "ratings_"
SEPARATOR = {"inter": "\t", "tsv": "\t", "csv": ","}
FIELDS = (
    ("user_field", "the column holding user ids"),
    ("item_field", "the column holding item ids"),
    ("time_field", "the column that orders each user's interactions (e.g. a timestamp)"),
)
"""The spec settings naming the user, item and time columns, with what each column must hold."""
RATING_FIELD = ("rating_field", "the column holding ratings, or leave it empty")
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
"""The field types a RecBole atomic file's header may declare (``name:type``)."""


def read_interactions(spec: DataSpec) -> pd.DataFrame:
    """Read ``spec.path`` (RecBole ``.inter``, CSV, TSV, Parquet or a raw ratings file) into a normalised frame.

    Args:
        spec: The data spec; its ``path``, ``format`` and ``*_field`` settings are used.

    Returns:
        A frame with the columns ``user`` and ``item`` (strings) and ``time`` (float64), one
        row per interaction, in file order; with ``spec.rating_field`` set, a float64
        ``rating`` column too.

    Raises:
        DataError: The file is missing, empty, unparsable, of an unknown format, lacks one
            of the three columns, or holds missing ids or times that are neither numbers
            nor dates.
    """
    if spec.path is None:
        raise DataError("No interaction file is set. Set data.path to a .inter, .csv or .tsv file.")
    path = Path(spec.path)
    check_exists(path)
    file_format = _resolve_format(path, spec.format)
    if file_format not in SEPARATOR:
        from recdiff.data.importers import IMPORTERS  # it builds on this module's column helpers

        return IMPORTERS[file_format](path, spec)
    separator = SEPARATOR[file_format]
    header = _read_header(path, separator)
    if file_format == "inter":
        _check_recbole_types(path, header)
    lookup = _field_lookup(header, typed=file_format == "inter")
    fields = [*FIELDS, RATING_FIELD] if spec.rating_field is not None else list(FIELDS)
    raw = [
        _find_column(path, header, lookup, getattr(spec, setting), setting, role) for setting, role in fields
    ]
    table = _read_rows(path, separator, raw)
    frame = pd.DataFrame(
        {
            "user": table[raw[0]],
            "item": table[raw[1]],
            "time": _parse_time(path, table[raw[2]], raw[2]),
        }
    )
    for column, name in zip(("user", "item"), raw[:2]):
        _check_complete(path, frame[column], name)
    if spec.rating_field is not None:
        frame["rating"] = _parse_rating(path, table[raw[3]], raw[3])
    return frame


def check_exists(path: Path) -> None:
    """Raise a DataError naming ``path`` unless it is a file (checked before anything reads or hashes it)."""
    if path.is_file():
        return
    what = "is a directory, not a file" if path.is_dir() else "does not exist"
    raise DataError(
        f"Interaction file '{path}' {what} (resolved to '{path.absolute()}'; relative paths start "
        f"from the working directory '{Path.cwd()}'). Set data.path to an existing .inter, .csv or "
        f".tsv file, or leave it empty to use the built-in synthetic data."
    )


def _resolve_format(path: Path, requested: str) -> str:
    if requested != "auto":
        return requested
    name = path.name.lower()
    if name in FORMAT_BY_NAME:
        return FORMAT_BY_NAME[name]
    if name.startswith(AMAZON_RATINGS_PREFIX) and name.endswith(".csv"):
        return "amazon-ratings"
    found = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"Cannot tell the format of '{path}' from its extension '{path.suffix}'. recdiff reads "
            f"RecBole atomic files (.inter), CSV (.csv), TSV (.tsv, .tab), Parquet (.parquet, .pq), "
            f"MovieLens 'ratings.dat' and Amazon 'ratings_<Category>.csv' files. Rename the file, or set "
            f"data.format to 'inter', 'csv', 'tsv', 'parquet', 'ml-ratings' or 'amazon-ratings'."
        )
    return found


def _read_header(path: Path, separator: str) -> list[str]:
    try:
        header = pd.read_csv(path, sep=separator, nrows=0, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(
            f"Interaction file '{path}' is empty. Point data.path at a file whose first line names "
            f"the columns and whose other lines hold one interaction each."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise _unreadable(path, error) from None
    return [str(column) for column in header.columns]


def _check_recbole_types(path: Path, header: list[str], what: str = "Interaction file") -> None:
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


def _field_lookup(header: list[str], typed: bool) -> dict[str, str]:
    """Map each accepted field name to its raw header name (``user_id`` -> ``user_id:token``)."""
    lookup: dict[str, str] = {}
    for raw in header:
        lookup.setdefault(raw, raw)
        if typed:
            lookup.setdefault(raw.split(":", 1)[0], raw)
    return lookup


def _find_column(
    path: Path, header: list[str], lookup: dict[str, str], name: str, setting: str, role: str
) -> str:
    raw = lookup.get(name)
    if raw is None:
        raise DataError(
            f"Interaction file '{path}' has no column '{name}' (columns: {', '.join(header)}). "
            f"Set data.{setting} to {role}."
        )
    return raw


def _read_rows(path: Path, separator: str, columns: list[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(
            path,
            sep=separator,
            usecols=columns,
            dtype={columns[0]: str, columns[1]: str},
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise _unreadable(path, error) from None
    if table.empty:
        raise DataError(
            f"Interaction file '{path}' has a header but no interactions. Point data.path at a file "
            f"with at least one interaction per line after the header."
        )
    return table


def _unreadable(
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


def _parse_time(path: Path, column: pd.Series, name: str) -> np.ndarray:
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
    _check_complete(path, column, name)
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


def _parse_rating(path: Path, column: pd.Series, name: str) -> np.ndarray:
    """Ratings as float64; a value that is not a number is an error naming its line."""
    _check_complete(path, column, name)
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


def _check_complete(path: Path, column: pd.Series, name: str) -> None:
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"Interaction file '{path}': column '{name}' is empty on {int(missing.sum())} line(s), "
            f"the first being line {row + 2}. Every interaction needs a user, an item and a time; "
            f"remove or fill those lines."
        )
