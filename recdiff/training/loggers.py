"""Metric loggers (kind `logger`): where a run's records go besides metrics.jsonl.

The trainer logs every record (a baseline, an epoch, a validation, the test) as one dict:
metrics.jsonl gets it first (`RunDir.log`, always on), then each logger named in
`train.loggers`. A logger is built before the run claims its directory, so a missing
dependency stops the run before anything is written, and it is opened with the records
already in metrics.jsonl, so a resumed run's files match metrics.jsonl again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from recdiff import jsontext
from recdiff.errors import RunError
from recdiff.evaluation.metrics import RankingMetrics
from recdiff.registry import register, registry
from recdiff.spec.models import RunSpec
from recdiff.training.files import append_line, write_atomic

JSONL = "jsonl"
"""The always-on log, metrics.jsonl, written by `RunDir.log`; naming it in `train.loggers` changes nothing."""

Record = Mapping[str, Any]


class MetricLogger:
    """Base of `logger` components: receives every record the run writes to metrics.jsonl.

    The factory builds the logger without touching the disk; `open` comes once, before the
    first record, then `log` for each record and `close` when the run ends (also when it fails).
    """

    def open(self, run_dir: Path, history: Sequence[Record]) -> None:
        """Start logging into ``run_dir``; ``history`` is what metrics.jsonl holds already (a resumed run's records)."""

    def log(self, record: Record) -> None:
        """Write one record, as metrics.jsonl gets it."""

    def close(self) -> None:
        """Flush and release whatever the logger holds."""


def make_loggers(spec: RunSpec) -> list[MetricLogger]:
    """The loggers of ``spec.train.loggers`` besides metrics.jsonl, built (and their dependencies imported) now."""
    return [registry("logger").create(name, spec=spec) for name in spec.train.loggers if name != JSONL]


RECORD_COLUMNS = (
    "event", "epoch", "split", "name", "checkpoint", "after_epoch", "batch",
    "loss", "examples", "seconds", "examples_per_s", "lr", "elapsed",
)
"""Every field of the trainer's records other than the metrics, in metrics.csv's column order."""


def metric_names(ks: Sequence[int]) -> list[str]:
    """The names of the metrics an evaluation with cut-offs ``ks`` reports, in their order (asked of
    `RankingMetrics` itself, so metrics.csv's header follows whatever it reports)."""
    metrics = RankingMetrics(ks)
    metrics.add(torch.ones(1, dtype=torch.long))
    return list(metrics.compute())


@register("logger", "csv")
class CsvLogger(MetricLogger):
    """metrics.csv: one row per metrics.jsonl record, under one header fixed by the spec (its `eval.ks`).

    A cell is empty where the record has no such field or metrics.jsonl has ``null``. A resumed
    run rewrites the file from metrics.jsonl before it appends, so no row is lost or repeated.
    """

    def __init__(self, spec: RunSpec) -> None:
        self.columns = [*RECORD_COLUMNS, *metric_names(spec.eval.ks)]
        self.path: Path | None = None

    def open(self, run_dir: Path, history: Sequence[Record]) -> None:
        self.path = run_dir / "metrics.csv"
        text = self._rows(history, header=True)
        write_atomic(self.path, lambda temporary: temporary.write_text(text, encoding="utf-8"))

    def log(self, record: Record) -> None:
        assert self.path is not None, "open() comes before log()"
        append_line(self.path, self._rows([record]).removesuffix("\n"))

    def _rows(self, records: Sequence[Record], header: bool = False) -> str:
        text = io.StringIO()
        writer = csv.DictWriter(text, self.columns, lineterminator="\n")
        if header:
            writer.writeheader()
        for record in records:
            unknown = sorted(set(record) - set(self.columns))
            if unknown:
                raise RunError(
                    f"A {record.get('event')!r} record has {', '.join(unknown)}, which metrics.csv has no column for: "
                    f"its header is fixed when the run starts ({', '.join(self.columns)}), and whatever logged the "
                    f"record added fields to it. metrics.jsonl holds the record; remove 'csv' from train.loggers "
                    f"to train without metrics.csv."
                )
            writer.writerow(json.loads(jsontext.dumps(dict(record))))  # the values metrics.jsonl holds
        return text.getvalue()


def scalars(record: Record) -> tuple[str, int, dict[str, float]]:
    """A record as TensorBoard scalars: group (``train``, ``val``, ``test``, ``popularity/val``...), step
    (the epoch, 0 for a baseline) and every number of it but its identifying fields."""
    event = record.get("event")
    group = {"epoch": "train", "eval": record.get("split"), "baseline": f"{record.get('name')}/{record.get('split')}"}
    values = {
        key: float(value) for key, value in record.items()
        if key not in ("epoch", "after_epoch", "batch") and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    return str(group.get(str(event), "")), int(record.get("epoch", 0)), values


@register("logger", "tensorboard")
class TensorBoardLogger(MetricLogger):
    """TensorBoard event files in RUN_DIR/tensorboard (needs the `tensorboard` extra: `pip install "recdiff[tensorboard]"`).

    Epochs log under ``train/``, validations under ``val/``, the test under ``test/`` and the
    popularity baselines under ``popularity/``, each at its epoch. A resumed run adds a new
    event file to the folder; TensorBoard reads them as one run.
    """

    def __init__(self, spec: RunSpec) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise RunError(
                f"train.loggers names 'tensorboard', but TensorBoard is not installed ({error}). Install the extra "
                f"with `pip install \"recdiff[tensorboard]\"` (or `pip install tensorboard`), or remove 'tensorboard' "
                f"from train.loggers."
            ) from None
        self.make_writer = SummaryWriter
        self.writer: Any = None

    def open(self, run_dir: Path, history: Sequence[Record]) -> None:
        self.writer = self.make_writer(log_dir=str(run_dir / "tensorboard"))

    def log(self, record: Record) -> None:
        group, step, values = scalars(record)
        if group:
            for key, value in values.items():
                self.writer.add_scalar(f"{group}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
