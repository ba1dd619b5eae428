"""User-facing errors.

Every problem a user can cause (a bad spec, a missing file, an unknown component) is raised
as a :class:`RecdiffError` whose message is one paragraph saying what was wrong and how to
fix it. The CLI prints that paragraph instead of a traceback.
"""

from __future__ import annotations

import signal

QUOTED_LENGTH = 300
"""Characters of an exception's message that `describe` quotes (torch's can run to pages)."""


class RecdiffError(Exception):
    """Base class of every error recdiff reports to a user."""


class SpecError(RecdiffError):
    """A spec (YAML file, dict or override) is malformed or names something unknown."""


class RegistryError(RecdiffError):
    """A component name is unknown, registered twice, or its parameters are invalid."""


class DataError(RecdiffError):
    """An interaction or histories file is missing, unreadable or lacks the needed columns; an output file cannot be written."""


class CheckpointError(RecdiffError):
    """A checkpoint or run directory is missing, corrupt or does not match its spec."""


class RunError(RecdiffError):
    """A run directory cannot be created or used without losing earlier results."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a command; the message says what was kept and how to go on.

    A KeyboardInterrupt, not a RecdiffError, so ``except Exception`` never swallows it. The CLI
    prints the message and exits with 128 + the signal's number, as a shell reports a signal.
    """

    def __init__(self, message: str = "interrupted", signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)


def describe(error: BaseException) -> str:
    """``Type: first line of the message``, for quoting an exception inside a one-paragraph error.

    Never empty and never failing: many exceptions carry no message at all (``EOFError`` from
    an empty file, a bare ``SystemExit``).
    """
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:QUOTED_LENGTH]}" if lines else type(error).__name__
