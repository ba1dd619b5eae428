"""Writing a run's files so that no failure (a full disk, a signal) leaves half a file or a temporary behind.

A file is written to ``<name>.tmp`` beside it and renamed over it, so readers see the old
file or the new one, never a mix; whatever stops the write midway, the temporary file is
removed and the file keeps its previous content.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from recdiff.errors import RunError, describe


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Replace ``path`` with what ``write(temporary_path)`` writes, all or nothing.

    Raises:
        RunError: The file could not be written (a full disk, a read-only folder); ``path``
            is unchanged.
    """
    temporary = path.with_name(path.name + ".tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError ("unexpected pos")
        raise unwritable(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def append_line(path: Path, line: str) -> None:
    """Append one line to ``path`` (a log).

    Raises:
        RunError: It could not be written.
    """
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as error:
        raise unwritable(path, error) from None


def unwritable(path: Path, error: BaseException) -> RunError:
    """The error for a run file that could not be written."""
    return RunError(
        f"Could not write '{path}' ({describe(error)}): the disk is full or the folder is not writable, and the "
        f"run stopped. Every file written before is intact. Free some space, then continue the run from its last "
        f"finished epoch with `recdiff train --resume RUN_DIR` (or train it again if no epoch finished)."
    )
