"""The run directory: resolved spec, environment, id vocabulary, metrics log, checkpoints and final results."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdiff import jsontext
from recdiff.errors import RunError, describe
from recdiff.spec.loading import dump_spec
from recdiff.spec.models import RunSpec
from recdiff.training.files import append_line, write_atomic
from recdiff.training.lock import RunLock
from recdiff.training.vocab import VOCAB, Vocabulary

METRICS = "metrics.jsonl"
"""A run's log: one JSON object per epoch, validation and test (`RunDir.log`)."""


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's ``metrics.jsonl``, in the order they were logged."""
    return jsontext.read_lines(Path(run_dir) / METRICS)


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _new_default(root: Path, name: str) -> Path:
    """Create ``root/<time>-<name>``, or ``-2``, ``-3``... after it when other runs took that name this second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        path = root / (f"{stamp}-{name}" if number == 1 else f"{stamp}-{name}-{number}")
        try:
            path.mkdir()  # atomic: exactly one of several runs creates it
            return path
        except FileExistsError:
            number += 1


def _make(path: Path) -> bool:
    """Make ``path`` a directory unless it is one; whether this call made it."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise RunError(
                f"Output directory '{path}' already exists as a file; recdiff never overwrites anything. "
                f"Pass another --out."
            ) from None
        return False
    return True


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's outputs (`runs/<time>-<name>/` by default)."""

    path: Path

    @classmethod
    def claim(cls, spec: RunSpec, out: str | Path | None = None, root: str | Path = "runs") -> Claim:
        """A new run's directory, created (or taken while empty) and locked by this process.

        Claiming is atomic, so two runs started together never share a directory: a default
        name is created exclusively (``root/<time>-<name>``, then ``-2``, ``-3``... within one
        second), and an ``out`` directory is locked before it is checked to be empty.

        Raises:
            RunError: ``out`` holds files (an earlier run), another process is using it, or it
                cannot be created.
        """
        try:
            if out is None:
                path, created = _new_default(Path(root), spec.name), True
            else:
                path = Path(out)
                created = _make(path)
            lock = RunLock.acquire(path)
        except OSError as error:
            raise RunError(
                f"Could not create run directory '{out or root}' ({describe(error)}). Pass a writable --out."
            ) from None
        if any(path.iterdir()):
            lock.release()
            raise RunError(
                f"Output directory '{path}' already exists and is not empty; recdiff never overwrites an "
                f"earlier run. Pass another --out, or move the old run away first."
            )
        (path / "checkpoints").mkdir()
        return Claim(cls(path), lock, created)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (it must hold spec.yaml)."""
        run = cls(Path(path))
        if not run.spec_path.is_file():
            raise RunError(
                f"'{path}' is not a recdiff run directory (no spec.yaml in it). Pass the directory that "
                f"`recdiff train` printed at the end of the run."
            )
        return run

    spec_path = property(lambda self: self.path / "spec.yaml")
    env_path = property(lambda self: self.path / "env.json")
    metrics_path = property(lambda self: self.path / METRICS)
    results_path = property(lambda self: self.path / "results.json")
    vocab_path = property(lambda self: self.path / VOCAB)
    best_path = property(lambda self: self.path / "checkpoints" / "best.pt")
    last_path = property(lambda self: self.path / "checkpoints" / "last.pt")

    def write_spec(self, spec: RunSpec) -> None:
        _write_text(self.spec_path, dump_spec(spec))

    def write_env(self, env: dict[str, Any]) -> None:
        """env.json: what is needed to tell two runs' settings apart (`recdiff.training.environment`)."""
        _write_text(self.env_path, jsontext.dumps(env, indent=2))

    def write_vocab(self, vocab: Vocabulary) -> None:
        """The ids of the data's items and users (`recdiff.training.vocab`), so the run serves without its data."""
        vocab.write(self.vocab_path)

    def read_vocab(self) -> Vocabulary | None:
        """The run's vocabulary, or None for a run trained before recdiff wrote one."""
        return Vocabulary.read(self.vocab_path) if self.vocab_path.is_file() else None

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON object to metrics.jsonl."""
        append_line(self.metrics_path, jsontext.dumps(record))

    def rewrite_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl with ``records`` (all or nothing)."""
        _write_text(self.metrics_path, "".join(jsontext.dumps(record) + "\n" for record in records))

    def write_results(self, results: dict[str, Any]) -> None:
        _write_text(self.results_path, jsontext.dumps(results, indent=2))


@dataclass(frozen=True)
class Claim:
    """A new run's directory as `RunDir.claim` left it: locked by this process.

    Attributes:
        run: The directory.
        lock: Held until the run ends (`Trainer.fit` releases it).
        created: Whether the claim made the directory, so that `abandon` may remove it.
    """

    run: RunDir
    lock: RunLock
    created: bool

    def abandon(self) -> None:
        """Undo the claim of a run that failed before it started: remove the empty folders it made, release the lock."""
        with contextlib.suppress(OSError):  # rmdir removes nothing but an empty folder
            (self.run.path / "checkpoints").rmdir()
            if self.created:
                self.run.path.rmdir()
        self.lock.release()
