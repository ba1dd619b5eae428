"""Read users' histories for `recdiff recommend`: JSON lines, or interaction rows grouped per user.

Two shapes are read, by the file's extension:

- ``.jsonl`` / ``.ndjson``: one object per line, ``{"user": ..., "history": [id, id, ...]}``,
  the history oldest first.
- ``.csv`` / ``.tsv`` / ``.tab`` / RecBole ``.inter``: one interaction per row, columns named as
  the run's training data named them (``data.user_field``, ``data.item_field``, and optionally
  ``data.time_field``); each user's rows become one history, ordered by time when the time
  column is there, else in file order. Users keep the order of their first row.

Ids are read as text, as the training data's were, so ``007`` stays ``007``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recdiff import jsontext
from recdiff.data.columns import check_recbole_types, field_lookup, parse_time, unreadable
from recdiff.errors import DataError, describe
from recdiff.spec.models import DataSpec

JSON_LINES = (".jsonl", ".ndjson")
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".inter": "\t"}
FORMATS_TEXT = (
    '.jsonl (one {"user": ..., "history": [...]} per line), .csv, .tsv or RecBole .inter '
    "(one user, item[, time] row per interaction)"
)


@dataclass(frozen=True)
class Histories:
    """Users and their histories, in the same order."""

    users: list[str]
    histories: list[list[str]]

    def __len__(self) -> int:
        return len(self.users)


def read_histories(path: Path, data: DataSpec) -> Histories:
    """The histories in ``path`` (see the module docstring for the formats).

    Args:
        path: The file.
        data: The run's data spec: its field names name the columns of a row file.

    Raises:
        DataError: The file is missing, of another format, malformed, or holds no user.
    """
    if not path.is_file():
        state = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"Histories file '{path}' {state}. Pass --input a {FORMATS_TEXT} file.")
    suffix = path.suffix.lower()
    if suffix in JSON_LINES:
        found = _read_json_lines(path)
    elif suffix in SEPARATORS:
        found = _read_rows(path, SEPARATORS[suffix], suffix == ".inter", data)
    else:
        raise DataError(f"Cannot tell the format of histories file '{path}' from its extension; pass {FORMATS_TEXT}.")
    if not found.users:
        raise DataError(f"Histories file '{path}' holds no user. Give it one line (or row) per user (or interaction).")
    return found


def _read_json_lines(path: Path) -> Histories:
    users: list[str] = []
    histories: list[list[str]] = []
    try:
        lines = jsontext.numbered_lines(path)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Histories file '{path}' could not be read ({describe(error)}); it must be UTF-8 text.") from None
    except ValueError as error:
        raise DataError(
            f"Histories file '{path}', {error} (not a JSON object). Each line must be one object such as "
            f'{{"user": "u1", "history": ["i3", "i7"]}}.'
        ) from None
    for number, record in lines:
        history = record.get("history") if isinstance(record, dict) else None
        if not isinstance(record, dict) or "user" not in record or not isinstance(history, list):
            raise DataError(
                f"Histories file '{path}', line {number}: each line needs a \"user\" and a \"history\" list of item "
                f'ids, such as {{"user": "u1", "history": ["i3", "i7"]}}; this one holds {json.dumps(record)[:80]}.'
            )
        users.append(str(record["user"]))
        histories.append([str(item) for item in history])
    return Histories(users, histories)


def _read_rows(path: Path, separator: str, typed: bool, data: DataSpec) -> Histories:
    try:
        table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"Histories file '{path}' is empty; its first line must name the columns.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise unreadable(path, error, "Histories file") from None
    header = [str(column) for column in table.columns]
    if typed:
        check_recbole_types(path, header, "Histories file")
    lookup = field_lookup(header, typed)
    user, item, time = (lookup.get(name) for name in (data.user_field, data.item_field, data.time_field))
    if user is None or item is None:
        raise DataError(
            f"Histories file '{path}' needs the columns '{data.user_field}' and '{data.item_field}', named as in the "
            f"run's training data (data.user_field, data.item_field), with '{data.time_field}' optional to order "
            f"each user's rows (columns: {', '.join(header)})."
        )
    missing = table[[user, item]].isna().any(axis=1).to_numpy()
    if missing.any():
        raise DataError(
            f"Histories file '{path}', line {int(np.flatnonzero(missing)[0]) + 2}: the user or item is empty. "
            f"Give every row both, or remove the rows without them."
        )
    codes, users = pd.factorize(table[user])  # users in order of their first row
    times = parse_time(path, table[time], time) if time is not None else np.zeros(len(table))
    order = np.lexsort((times, codes))  # stable: equal times keep file order
    items = table[item].to_numpy(dtype=object)[order]
    bounds = np.cumsum(np.bincount(codes, minlength=len(users)))[:-1]
    return Histories([str(u) for u in users], [list(part) for part in np.split(items, bounds)])
