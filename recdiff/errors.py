"""User-facing errors.

Every problem a user can cause (a bad spec, a missing file, an unknown component) is raised
as a :class:`RecdiffError` whose message is one paragraph saying what was wrong and how to
fix it. The CLI prints that paragraph instead of a traceback.
"""

from __future__ import annotations


class RecdiffError(Exception):
    """Base class of every error recdiff reports to a user."""


class SpecError(RecdiffError):
    """A spec (YAML file, dict or override) is malformed or names something unknown."""


class RegistryError(RecdiffError):
    """A component name is unknown, registered twice, or its parameters are invalid."""


class DataError(RecdiffError):
    """An interaction file is missing, unreadable or lacks the needed columns."""


class CheckpointError(RecdiffError):
    """A checkpoint or run directory is missing, corrupt or does not match its spec."""


class RunError(RecdiffError):
    """A run directory cannot be created or used without losing earlier results."""
