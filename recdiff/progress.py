"""How far a long loop has got (a training epoch, an evaluation), for training and evaluation alike.

On a terminal a task is a live bar with the time left; anywhere else (CI logs, ``nohup``, a
file) a bar would print nothing until it ends, so a task prints a plain line instead every
`every` steps or `seconds` seconds, whichever comes first, with the same figures. Functions
that report progress take a `Reporter` or None, so they stay silent when called from Python.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_SECONDS = 30.0
"""Longest wait between two plain progress lines while steps keep finishing."""


def clock(seconds: float) -> str:
    """``seconds`` as ``H:MM:SS``."""
    return str(timedelta(seconds=round(seconds)))


class Reporter:
    """Shows the progress of tasks on ``console``: a live bar on a terminal (or notebook), plain lines elsewhere.

    Args:
        console: Where progress goes.
        every: Steps between two plain lines.
        seconds: Longest time between two plain lines (checked as each step finishes).
    """

    def __init__(self, console: Console, every: int = 100, seconds: float = LOG_SECONDS) -> None:
        self.console, self.every, self.seconds = console, every, seconds

    @property
    def live(self) -> bool:
        """Whether tasks are drawn as live bars (asked anew for each task: the console's output may change)."""
        return self.console.is_terminal or self.console.is_jupyter

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        """A task of ``total`` steps for the block; its bar (if any) disappears when the block ends."""
        if not self.live:
            yield Task(self, description, total, None)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=self.console, transient=True) as bar:
            yield Task(self, description, total, bar)


def task(reporter: Reporter | None, description: str, total: int) -> AbstractContextManager[Task]:
    """``reporter.task(description, total)``, or a task that shows nothing when ``reporter`` is None."""
    if reporter is None:
        return nullcontext(Task(None, description, total, None))
    return reporter.task(description, total)


class Task:
    """One task of a `Reporter` (or of none: then it shows nothing); call `advance` as each step finishes."""

    def __init__(self, reporter: Reporter | None, description: str, total: int, bar: Progress | None) -> None:
        self.reporter, self.description, self.total, self.bar = reporter, description, total, bar
        self.done = 0
        self.started = self.printed = time.perf_counter()
        self.id = bar.add_task(description, total=total, info="") if bar is not None else None

    def advance(self, info: str = "") -> None:
        """One more step done; ``info`` (say, the running loss) is shown beside the count."""
        self.done += 1
        if self.bar is not None and self.id is not None:
            self.bar.update(self.id, advance=1, info=info)
            return
        if self.reporter is None:
            return
        now = time.perf_counter()
        due = self.done % self.reporter.every == 0 or now - self.printed >= self.reporter.seconds
        if due and self.done < self.total:
            self.printed = now
            self.reporter.console.print(self.line(now, info), highlight=False, markup=False, soft_wrap=True)

    def line(self, now: float, info: str = "") -> str:
        """The plain progress line: what, how far, ``info``, time taken and time left at the rate so far."""
        elapsed = now - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        parts = [f"{self.description}  batch {self.done:,}/{self.total:,}", info, f"elapsed {clock(elapsed)}",
                 f"eta {clock(left)}"]
        return "  ".join(part for part in parts if part)
