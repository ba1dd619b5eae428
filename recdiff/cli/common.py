"""What every `recdiff` command shares: consoles, friendly errors, metric tables."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recdiff.errors import Interrupted, RecdiffError, RunError
from recdiff.metric_names import canonical_metric

console = Console()
error_console = Console(stderr=True)

SetOption = typer.Option(None, "--set", help="Override one field, e.g. --set train.epochs=3 (repeatable).")
InferenceSetOption = typer.Option(
    None, "--set", help="Inference setting=value, e.g. model.sampler.name=ddim, eval.ensemble=4, train.precision=bf16."
)
CodeOption = typer.Option(
    None, "--code", help="Python file to import first, so components it registers can be used (repeatable)."
)
DeviceOption = typer.Option(
    None, "--device", help="auto, cpu, cuda or cuda:N: short for --set train.device=DEVICE."
)


class SplitChoice(str, Enum):
    """The held-out targets a saved run is evaluated on (click checks the choice and lists it in --help)."""

    val = "val"
    test = "test"


class CheckpointChoice(str, Enum):
    """Which of a run's saved weights are used."""

    best = "best"
    last = "last"


class FormatChoice(str, Enum):
    """An interaction file's format, as `data.format` names it (a test keeps the two lists equal)."""

    auto = "auto"
    inter = "inter"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"
    ml_ratings = "ml-ratings"
    amazon_ratings = "amazon-ratings"


def metric_names(values: list[str] | None) -> list[str]:
    """Typer callback: each `--metric` in its canonical spelling (`HIT@10` -> `hr@10`), or a usage error.

    Always a list: typer 0.15 passes None for an unused option and fails on a None returned."""
    try:
        return [canonical_metric(value) for value in values or []]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def with_device(overrides: list[str] | None, device: str | None) -> list[str]:
    """`overrides` with `train.device=DEVICE` appended for `--device`; a `--set train.device` saying otherwise is refused."""
    assignments = list(overrides or [])
    if device is None:
        return assignments
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if key.strip() == "train.device" and value.strip() != device:
            raise RunError(
                f"--device {device} and --set {assignment} ask for two devices; --device is short for "
                f"--set train.device=DEVICE, so give only one of them."
            )
    return [*assignments, f"train.device={device}"]


def import_code_files(paths: list[Path] | None) -> None:
    """Import each `--code` file (after the built-ins and plugins, so its names can be checked against them)."""
    from recdiff.registry import available
    from recdiff.registry.plugins import import_code

    available("schedule")  # load built-ins and plugins first: a clash with them is then reported
    for path in paths or []:
        import_code(path)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report RecdiffErrors as one red paragraph and exit code 1, never a traceback.

    SIGTERM stops the command as Ctrl-C (SIGINT) does; either is reported with what the
    command says about it (a run: which epoch it kept, how to resume) and exit code 128 +
    the signal's number.
    """

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _terminate_as_interrupt():
                return command(*args, **kwargs)
        except RecdiffError as error:
            error_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as stop:
            stop = stop if isinstance(stop, Interrupted) else Interrupted()
            error_console.print(f"[bold yellow]{escape(str(stop))}[/]", highlight=False)
            raise typer.Exit(128 + stop.signum) from None

    return wrapper


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (a scheduler's or `kill`'s stop) into an `Interrupted`, which unwinds like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum=signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def metrics_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    """A table with one row per model (or split) and one column per metric."""
    table = Table(title=title)
    columns = list(next(iter(rows.values())))
    table.add_column("", no_wrap=True)
    for column in columns:
        table.add_column(column.upper(), justify="right", no_wrap=True)
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[c]:.4f}" for c in columns))
    return table
