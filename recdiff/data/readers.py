"""Read an interaction file into one ``user, item, time`` frame.

Ids are read as strings because they are tokens: ``007`` and ``7`` are different users,
and an id column that happens to look numeric must not lose leading zeros. Times become
float64 so that every later step can sort them without caring about the file's types.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd

from recdiff.data.columns import (
    FIELDS,
    RATING_FIELD,
    check_complete,
    check_recbole_types,
    field_lookup,
    find_column,
    parse_rating,
    parse_time,
    unreadable,
)
from recdiff.data.importers import IMPORTERS, Reader
from recdiff.errors import DataError
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
    return READERS[_resolve_format(path, spec.format)](path, spec)


def read_table(file_format: str, path: Path, spec: DataSpec) -> pd.DataFrame:
    """Read a text table with a header (`inter`, `tsv` or `csv`); see `read_interactions`."""
    separator = SEPARATOR[file_format]
    header = _read_header(path, separator)
    if file_format == "inter":
        check_recbole_types(path, header)
    lookup = field_lookup(header, typed=file_format == "inter")
    fields = [*FIELDS, RATING_FIELD] if spec.rating_field is not None else list(FIELDS)
    raw = [
        find_column(path, header, lookup, getattr(spec, setting), setting, role) for setting, role in fields
    ]
    table = _read_rows(path, separator, raw)
    frame = pd.DataFrame(
        {
            "user": table[raw[0]],
            "item": table[raw[1]],
            "time": parse_time(path, table[raw[2]], raw[2]),
        }
    )
    for column, name in zip(("user", "item"), raw[:2]):
        check_complete(path, frame[column], name)
    if spec.rating_field is not None:
        frame["rating"] = parse_rating(path, table[raw[3]], raw[3])
    return frame


READERS: dict[str, Reader] = {
    **{file_format: partial(read_table, file_format) for file_format in SEPARATOR},
    **IMPORTERS,
}
"""The reader of every `data.format`, `auto` resolved from the file name first."""


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
        raise unreadable(path, error) from None
    return [str(column) for column in header.columns]


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
        raise unreadable(path, error) from None
    if table.empty:
        raise DataError(
            f"Interaction file '{path}' has a header but no interactions. Point data.path at a file "
            f"with at least one interaction per line after the header."
        )
    return table


