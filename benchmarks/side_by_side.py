"""Markdown table of the original code beside recdiff, epoch by epoch: mean training loss and validation.

    python benchmarks/side_by_side.py --original runs/reference/beauty-seed-42 runs/reference/beauty-seed-43 \
        --recdiff runs/side/recdiff-seed-42 runs/side/recdiff-seed-43 [--metrics hr@10 ndcg@10] [--labels A B]

``--original`` folders hold the ``reference.jsonl`` of `benchmarks/reference_run.py`, ``--recdiff``
folders a run's ``metrics.jsonl``; both hold per-epoch records with ``loss`` and validation
records with ``split: val``, so one reader serves both. Each cell lists the seeds' values in the
order given, then their mean; a seed without that epoch (a run still training or stopped, or
not validated there) shows "-" and is left out of the mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recdiff import jsontext


def per_epoch(folder: Path) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
    """Mean training loss and validation metrics by 1-based epoch, from either side's JSONL log."""
    log = folder / "reference.jsonl" if (folder / "reference.jsonl").is_file() else folder / "metrics.jsonl"
    losses: dict[int, float] = {}
    validations: dict[int, dict[str, float]] = {}
    for record in jsontext.read_lines(log):
        if record.get("event") == "baseline":
            continue
        if record.get("split") == "val":
            validations[record["epoch"]] = record
        elif "loss" in record:
            losses[record["epoch"]] = record["loss"]
    return losses, validations


def cell(values: list[float | None], digits: int) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    listed = " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values)
    return f"{listed} (mean {np.mean(present):.{digits}f})" if len(present) > 1 else listed


def table(argv: list[str], root: Path = Path(".")) -> list[str]:
    """The table's lines for ``argv`` (the command line without the script), folders taken from ``root``."""
    parser = argparse.ArgumentParser(prog="benchmarks/side_by_side.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, nargs="+", required=True)
    parser.add_argument("--recdiff", type=Path, nargs="+", required=True)
    parser.add_argument("--metrics", nargs="+", default=["hr@10", "ndcg@10"])
    parser.add_argument("--labels", nargs=2, default=["original", "recdiff"], help="Names of the two sides in the header.")
    args = parser.parse_args(argv)
    folders = dict(zip(args.labels, (args.original, args.recdiff)))
    sides = {label: [per_epoch(root / f) for f in found] for label, found in folders.items()}
    epochs = sorted({e for runs in sides.values() for losses, vals in runs for e in (*losses, *vals)})
    header = ["epoch", *(f"{side} loss" for side in sides), *(f"{side} val {m.upper()}" for m in args.metrics for side in sides)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for epoch in epochs:
        cells = [str(epoch)]
        cells += [cell([losses.get(epoch) for losses, _ in runs], 3) for runs in sides.values()]
        for metric in args.metrics:
            cells += [cell([vals[epoch][metric] if epoch in vals else None for _, vals in runs], 4) for runs in sides.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    print("\n".join(table(sys.argv[1:])))


if __name__ == "__main__":
    main()
