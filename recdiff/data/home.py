"""Where recdiff keeps downloads, converted datasets and preprocessing caches."""

from __future__ import annotations

import os
from pathlib import Path


def recdiff_home() -> Path:
    """`RECDIFF_HOME` when set, else `~/.cache/recdiff` (not created here)."""
    configured = os.environ.get("RECDIFF_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "recdiff"
