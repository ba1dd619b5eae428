"""Read RecBole ``.item`` / ``.user`` side-feature files and align them to the loaded ids.

A side file is tab-separated with a typed header (``item_id:token  price:float ...``) and
one row per item or user. Its rows are matched to the ids that survived preprocessing by
token, so a file describing more items than the k-core kept is fine, and an item it does
not describe simply has missing values. Side features never change the sequences: they
are read after them, on every load, and are not part of the cache key.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recdiff.data.columns import check_recbole_types, field_lookup, unreadable
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec

Kind = Literal["item", "user"]
FIRST_ID: dict[Kind, int] = {"item": 1, "user": 0}
"""Internal id of the first token: dense item ids start at 1 (0 is padding), user indices at 0."""
UNTYPED = "token"
"""The type of a header field written without ``:type``."""
SEPARATOR_HINT = "that its fields are separated by tabs, as in every RecBole atomic file"
NUMERIC = {"float": ("one number", "token"), "float_seq": ("numbers separated by spaces", "token_seq")}
"""Per numeric type: what each cell must hold, and the type to declare for a column that is not numeric."""


@dataclass(frozen=True, eq=False)
class SideFeatures:
    """One side-feature file aligned to recdiff's internal ids.

    Attributes:
        kind: ``item`` or ``user``.
        path: The file read.
        frame: One row per internal id, in order: dense item ids ``1..num_items`` (item id
            ``i + 1`` is ``SequenceData.item_ids[i]``) or user indices ``0..num_users - 1``.
            Columns are the header's field names without their type; the id column is left
            out. Float columns are float64; token cells are str, token_seq cells tuples of
            str, float_seq cells tuples of float. An id the file does not describe has NaN
            in float columns and None elsewhere.
        types: RecBole type of each column of ``frame``, in order.
        rows: Data rows in the file.
        matched: Ids of the data that have a row.
        unknown: File rows whose id is not in the data (e.g. removed by the k-core).
    """

    kind: Kind
    path: Path
    frame: pd.DataFrame
    types: dict[str, str]
    rows: int
    matched: int
    unknown: int

    @property
    def coverage(self) -> float:
        """Share of the data's ids that have a row (0 when the data has no ids)."""
        return self.matched / len(self.frame) if len(self.frame) else 0.0

    def columns_text(self) -> str:
        """The columns as ``name:type`` separated by commas (``-`` when the file has only ids)."""
        return ", ".join(f"{name}:{kind}" for name, kind in self.types.items()) or "-"

    def summary(self) -> str:
        """One line for a log: rows, columns and how many of the data's ids the file covers."""
        line = (
            f"{self.rows:,} rows, columns {self.columns_text()}; {self.matched:,} of {len(self.frame):,} "
            f"{self.kind}s have a row ({self.coverage:.1%})"
        )
        if self.unknown:
            line += f"; {self.unknown:,} row(s) for {self.kind}s not in the data"
        return line

    def to_dict(self) -> dict[str, object]:
        """Everything but the frame, as plain JSON-ready values."""
        return {
            "path": str(self.path),
            "rows": self.rows,
            "columns": dict(self.types),
            "ids": len(self.frame),
            "matched": self.matched,
            "unknown": self.unknown,
            "coverage": self.coverage,
        }


def side_file(spec: DataSpec, kind: Kind) -> Path | None:
    """The ``.item`` or ``.user`` file ``spec`` asks for, or None.

    An explicit ``item_file`` / ``user_file`` is returned as it is (reading it reports a
    missing file). Otherwise, for a ``.inter`` ``path``, the sibling with the same stem and
    the suffix ``.item`` / ``.user`` when it exists. Named datasets and other formats have
    none unless set explicitly; ``side_files: false`` turns all of them off.
    """
    if not spec.side_files:
        return None
    explicit = getattr(spec, f"{kind}_file")
    if explicit is not None:
        return Path(explicit)
    if spec.name is not None or spec.path is None or not _is_inter(spec):
        return None
    sibling = Path(spec.path).with_suffix(f".{kind}")
    return sibling if sibling.is_file() else None


def _is_inter(spec: DataSpec) -> bool:
    return spec.format == "inter" or (spec.format == "auto" and Path(str(spec.path)).suffix.lower() == ".inter")


def load_side_features(
    spec: DataSpec, item_ids: np.ndarray, user_ids: np.ndarray
) -> tuple[SideFeatures | None, SideFeatures | None]:
    """The item and user side features ``spec`` asks for, aligned to ``item_ids`` and ``user_ids``.

    Args:
        spec: The data spec (``item_file``, ``user_file``, ``side_files``, ``path``, the id fields).
        item_ids: Item tokens; ``item_ids[i]`` gets dense id ``i + 1``.
        user_ids: User tokens; ``user_ids[u]`` gets index ``u``.

    Returns:
        ``(items, users)``; each None when there is no such file.

    Raises:
        DataError: A file is missing (when explicit) or malformed.
    """
    found: list[SideFeatures | None] = []
    sides: tuple[tuple[Kind, np.ndarray], ...] = (("item", item_ids), ("user", user_ids))
    for kind, ids in sides:
        path = side_file(spec, kind)
        found.append(None if path is None else read_side_features(path, kind, getattr(spec, f"{kind}_field"), ids))
    return found[0], found[1]


def read_side_features(path: Path, kind: Kind, id_field: str, ids: np.ndarray) -> SideFeatures:
    """Read one side file and align its rows to ``ids`` (internal id of ``ids[j]``: ``j + FIRST_ID[kind]``).

    Raises:
        DataError: The file is missing, empty or unparsable, has no ``id_field`` column,
            declares a type RecBole does not define, holds a non-number in a float column,
            or describes an id twice.
    """
    what = f"{kind.capitalize()} feature file"
    table = _read_table(path, kind, what)
    header = [str(column) for column in table.columns]
    check_recbole_types(path, header, what)
    id_column = _id_column(path, kind, what, header, id_field)
    _check_ids(path, what, table[id_column])
    values = [raw for raw in header if raw != id_column]
    types = {_name(raw): _type(raw) for raw in values}
    parsed = pd.DataFrame(
        {_name(raw): _parse(path, what, table[raw], raw) for raw in values}, index=table.index
    )
    position = pd.Index(ids).get_indexer(table[id_column])
    known = position >= 0
    frame = _align(parsed.loc[known], position[known] + FIRST_ID[kind], len(ids), FIRST_ID[kind], types)
    frame.index.name = kind
    return SideFeatures(kind, path, frame, types, len(table), int(known.sum()), int((~known).sum()))


def _read_table(path: Path, kind: Kind, what: str) -> pd.DataFrame:
    """Every cell as a string (empty cells NaN): each column is typed later, by its header."""
    if not path.is_file():
        state = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"{what} '{path}' {state} (resolved to '{path.absolute()}'; relative paths start from the "
            f"working directory '{Path.cwd()}'). Set data.{kind}_file to an existing RecBole .{kind} file, "
            f"or leave it empty."
        )
    try:
        with warnings.catch_warnings():
            # index_col=False alone would drop a line's extra fields with a warning; make it an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path, sep="\t", dtype=str, index_col=False, keep_default_na=False, na_values=[""], engine="c"
            )
    except pd.errors.EmptyDataError:
        table = None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as error:
        raise unreadable(path, error, what, SEPARATOR_HINT) from None
    if table is None or table.empty:
        state = "is empty" if table is None else "has a header but no rows"
        raise DataError(
            f"{what} '{path}' {state}. Its first line must name the fields (e.g. {kind}_id:token, then "
            f"one field per feature) and each further line describe one {kind}. Fill it, point "
            f"data.{kind}_file at another file, or set data.side_files to false."
        )
    return table


def _id_column(path: Path, kind: Kind, what: str, header: list[str], id_field: str) -> str:
    raw = field_lookup(header, typed=True).get(id_field)
    if raw is None:
        raise DataError(
            f"{what} '{path}' has no column '{id_field}' (columns: {', '.join(header)}). Set "
            f"data.{kind}_field to the column holding {kind} ids; the interaction file must use the same name."
        )
    return raw


def _check_ids(path: Path, what: str, column: pd.Series) -> None:
    """Every row needs an id, and no id may be described twice (which row would count?)."""
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{what} '{path}', line {row + 2}, column '{column.name}': the id is empty. Give every line "
            f"an id, or remove the lines without one."
        )
    repeated = column.duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        first = int(np.flatnonzero((column == column.iloc[row]).to_numpy())[0])
        raise DataError(
            f"{what} '{path}', line {row + 2}, column '{column.name}': id '{column.iloc[row]}' was already "
            f"described on line {first + 2}. Each id may have one line; merge or remove the repeats."
        )


def _name(raw: str) -> str:
    return raw.partition(":")[0]


def _type(raw: str) -> str:
    return raw.partition(":")[2] or UNTYPED


def _parse(path: Path, what: str, column: pd.Series, raw: str) -> pd.Series:
    """One column by its type: empty cells are missing (token, float) or empty tuples (sequences)."""
    kind = _type(raw)
    if kind == "float":
        numbers = pd.to_numeric(column, errors="coerce")
        _check_numbers(path, what, raw, column, numbers)
        return numbers.astype(np.float64)
    if kind == "token":
        return column.astype(object).where(column.notna(), None)
    tokens = column.fillna("").str.split()
    if kind == "token_seq":
        return tokens.map(tuple)
    flat = tokens.explode()
    numbers = pd.to_numeric(flat, errors="coerce")
    _check_numbers(path, what, raw, flat, numbers)
    return tokens.map(lambda cell: tuple(float(value) for value in cell))


def _check_numbers(path: Path, what: str, raw: str, text: pd.Series, numbers: pd.Series) -> None:
    """Name the first line whose text is not a number; ``nan`` is one (``text``: one entry per value, indexed by row)."""
    bad = (numbers.isna() & text.notna() & (text.str.lower() != "nan")).to_numpy()
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        row = int(text.index[at])
        holds, instead = NUMERIC[_type(raw)]
        raise DataError(
            f"{what} '{path}', line {row + 2}, column '{raw}': '{text.iloc[at]}' is not a number. A "
            f"{_type(raw)} column holds {holds} per line; fix the line, or declare the column as "
            f"{instead} if it is not numeric."
        )


def _align(
    parsed: pd.DataFrame, index: np.ndarray, count: int, first: int, types: dict[str, str]
) -> pd.DataFrame:
    """Rows at their internal ids, with a row for every id; rows the file lacks are missing values."""
    parsed = parsed.set_axis(index, axis=0)
    frame = parsed.reindex(pd.RangeIndex(first, first + count))
    for name, kind in types.items():
        if kind != "float":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame

