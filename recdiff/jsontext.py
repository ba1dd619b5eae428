"""JSON text that every reader accepts.

Python's `json` writes a NaN or infinite float as the bare tokens ``NaN`` and ``Infinity``,
which are not JSON: `jq`, JavaScript and most other parsers refuse the whole file. Every JSON
file or `--json` output of recdiff goes through `dumps`, which writes them as ``null``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def dumps(value: Any, indent: int | None = None) -> str:
    """``value`` as strict JSON text, non-finite floats written as ``null``."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (one per line, as `recdiff.training.files.append_line` writes them).

    Raises:
        ValueError: A line is not JSON; the message gives its number.
    """
    return [value for _, value in numbered_lines(path)]


def numbered_lines(path: Path) -> list[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSON-lines file, so a reader can name a bad line.

    Raises:
        ValueError: A line is not JSON, as ``line N: what is wrong``.
        OSError, UnicodeDecodeError: The file cannot be read as UTF-8 text.
    """
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                found.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number}: {error.msg}") from None
    return found


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
