"""Markdown rows of finished runs, read from their ``results.json``, so result tables are never retyped.

    python benchmarks/table.py RUN_DIR [RUN_DIR ...] [--split test] [--val] [--label NAME ...]

Each row: the label (the run directory's name unless ``--label`` gives one per run),
HR@K and NDCG@K of the split, then the best epoch, the epochs run and the minutes spent
(training and validation). ``--val`` adds the best validation HR@10 and NDCG@10.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")


def row(run_dir: Path, split: str, with_val: bool, label: str) -> str:
    results = json.loads((run_dir / "results.json").read_text())
    metrics = [f"{results[split][m]:.4f}" for m in METRICS]
    minutes = results["train_seconds"] / 60
    cells = [label, *metrics]
    if with_val:
        cells += [f"{results['val']['hr@10']:.4f}", f"{results['val']['ndcg@10']:.4f}"]
    cells += [str(results["best_epoch"]), str(results["epochs_run"]), f"{minutes:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--val", action="store_true", help="Add the best validation HR@10 and NDCG@10.")
    parser.add_argument("--label", action="append", default=[], help="Row label, one per run in order.")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        raise SystemExit("give one --label per run, or none")
    labels = args.label or [run.name for run in args.runs]
    header = ["run", *(m.upper() for m in METRICS)]
    if args.val:
        header += ["val HR@10", "val NDCG@10"]
    header += ["best epoch", "epochs", "minutes"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" + "---:|" * (len(header) - 1))
    for run, label in zip(args.runs, labels):
        print(row(run, args.split, args.val, label))


if __name__ == "__main__":
    main()
