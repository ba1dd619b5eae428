"""What a run's env.json records: everything besides the spec that can make two runs differ.

Versions, the code (git commit, `--code` files, plugins), the command line, the hardware and
the seed. Each piece is best effort: a fact that cannot be found (no git, an unreadable
/proc/cpuinfo) is recorded as null or empty, never a failure of the run.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from recdiff import distributed

GIT_TIMEOUT = 5.0
"""Seconds a git command may take before its answer is recorded as unknown."""


def _git(*args: str) -> str | None:
    """The output of ``git ARGS`` in the working directory, or None where git is missing, slow or fails."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the git repository holding the working directory (both None outside one).

    `dirty` is whether tracked files differ from the commit (untracked files do not count).
    """
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name: ``cpuinfo``'s on Linux, else `platform.processor()` (may be empty)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor()


def device_name(device: torch.device) -> str:
    """The GPU's name for a CUDA device, else the CPU's."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def code_files() -> dict[str, str]:
    """sha256 of each `--code` file imported, by absolute path (as it was when imported)."""
    from recdiff.registry.plugins import CODE_FILES

    return dict(CODE_FILES)


def plugin_versions() -> dict[str, str]:
    """Version of each plugin distribution that loaded (none when autoloading is off)."""
    from recdiff.registry.plugins import STATUS

    return {status.plugin.distribution: status.plugin.version for status in STATUS if status.ok}


def environment(device: torch.device, seed: int) -> dict[str, Any]:
    """env.json's content: versions, git commit, command line, plugins, `--code` files, device, seed and processes."""
    import numpy
    import pandas
    import pydantic

    from recdiff.version import __version__

    return {
        "recdiff": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pydantic": pydantic.__version__,
        "git": git_state(),
        "command": list(sys.argv),
        "plugins": plugin_versions(),
        "code": code_files(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "world_size": distributed.world_size(),
    }
