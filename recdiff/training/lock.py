"""An exclusive lock on a run directory, held by the one process that trains into it.

The lock is an advisory ``flock`` on the directory itself (POSIX: Linux, macOS), so no lock
file is left behind, and the kernel drops it when the process ends, however it ends (an
exception, a signal, ``kill -9``): a stale lock never blocks a resume.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from recdiff.errors import RunError


class RunLock:
    """Held from the moment a run claims its directory (or a resume opens it) until the run ends."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, path: Path) -> RunLock:
        """Lock ``path`` (an existing directory) for this process, without waiting.

        Raises:
            RunError: Another process holds it: a run is training or resuming into it now.
        """
        descriptor = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunError(
                f"Run directory '{path}' is in use: another recdiff process is training or resuming into it "
                f"right now, and two runs in one directory would overwrite each other. Wait for that run to "
                f"finish, or pass another --out to start a new run."
            ) from None
        return cls(path, descriptor)

    def release(self) -> None:
        """Let other processes use the directory (closing the descriptor drops the lock)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __del__(self) -> None:
        self.release()
