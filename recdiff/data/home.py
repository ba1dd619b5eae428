"""Where recdiff keeps downloads, converted datasets and preprocessing caches."""

from __future__ import annotations

import os
from pathlib import Path

from recdiff.errors import DataError, describe


def recdiff_home() -> Path:
    """`RECDIFF_HOME` when set, else `~/.cache/recdiff` (not created here)."""
    configured = os.environ.get("RECDIFF_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "recdiff"


def make_folder(path: Path) -> Path:
    """Create ``path``, a folder inside RECDIFF_HOME, with its parents; return it.

    Raises:
        DataError: It cannot be created: RECDIFF_HOME is not a writable folder.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"Could not create the folder '{path}' ({describe(error)}). recdiff keeps downloads, datasets and "
            f"caches in RECDIFF_HOME ('{recdiff_home()}'), which must be a writable folder: set RECDIFF_HOME to "
            f"one, e.g. `export RECDIFF_HOME=~/.cache/recdiff`."
        ) from None
    return path
