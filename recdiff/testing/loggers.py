"""Contract check of metric loggers: built without touching the disk, fed every kind of record, resumable.

The trainer builds a run's loggers before it claims the run directory (so a missing dependency
stops the run before anything is written), feeds them each record metrics.jsonl gets, and a
resumed run opens them again on the same folder with the records logged so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recdiff.registry import loggers
from recdiff.spec.loading import load_spec

METRICS = {"hr@1": 0.25, "ndcg@1": 0.25, "hr@5": 0.5, "ndcg@5": float("nan"), "mrr": 0.375}
"""A validation's metrics with cut-offs 1 and 5, one of them not a number (metrics.jsonl writes null)."""

RECORDS: list[dict[str, Any]] = [
    {"event": "baseline", "name": "popularity", "split": "val", **METRICS},
    {"event": "epoch", "epoch": 1, "loss": 4.2, "examples": 512, "seconds": 0.5, "examples_per_s": 1024.0, "lr": 0.001},
    {"event": "eval", "split": "val", "epoch": 1, "elapsed": 0.7, **METRICS},
    {"event": "resume", "after_epoch": 1},
    {"event": "diverged", "epoch": 2, "batch": 3, "loss": "nan"},
    {"event": "eval", "split": "test", "epoch": 1, "checkpoint": "best", **METRICS},
]
"""One record of each kind the trainer logs, in a possible order."""


def check_logger(name: str, run_dir: Path) -> None:
    """Check logger `name` in ``run_dir``, an empty folder; AssertionError says what fails.

    It must build without writing there, take every kind of record, close, then open again
    on the same folder as a resumed run does, with the records logged before, and go on.
    """
    assert not any(run_dir.iterdir()), f"check_logger needs an empty folder, and '{run_dir}' is not"
    spec = load_spec({"eval": {"ks": [1, 5], "metric": "ndcg@5"}})
    first = loggers.create(name, spec=spec)
    assert not any(run_dir.iterdir()), f"logger '{name}' wrote into the run directory before `open`"
    first.open(run_dir, [])
    for record in RECORDS[:3]:
        first.log(record)
    first.close()
    resumed = loggers.create(name, spec=spec)
    resumed.open(run_dir, RECORDS[:3])
    for record in RECORDS[3:]:
        resumed.log(record)
    resumed.close()
