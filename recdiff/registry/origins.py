"""Who registered a component: recdiff itself, a plugin distribution, or a user's code file.

The plugin loader and `--code` set the origin while they import, so the registry can name it
in listings and in conflict errors without every plugin having to pass it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_stack: list[str] = []


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin entry point that could not be loaded, and why."""

    distribution: str
    entry_point: str
    error: str


#: Plugins that failed to load in this process (filled by `recdiff.registry.plugins`).
BROKEN: list[BrokenPlugin] = []


@contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Attribute every registration inside the block to `origin`."""
    _stack.append(origin)
    try:
        yield
    finally:
        _stack.pop()


def current_origin() -> str | None:
    """The origin set by the innermost `registering_from`, if any."""
    return _stack[-1] if _stack else None


def broken_plugins_note() -> str:
    """A sentence naming plugins that failed to load (one of them may provide a missing component)."""
    if not BROKEN:
        return ""
    names = "; ".join(f"{b.distribution} ({b.error})" for b in BROKEN)
    return f" Some plugins failed to load and may provide it: {names}. Fix or uninstall them (`recdiff plugins --check`)."
