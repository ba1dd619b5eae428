"""Markdown rows of finished runs, read from their ``results.json``, so result tables are never retyped.

    python benchmarks/table.py RUN_DIR [RUN_DIR ...] [--split test] [--val] [--mean] [--label NAME ...]

Each row: the label (the run directory's name unless ``--label`` gives one per run),
HR@K and NDCG@K of the split, then the best epoch, the epochs run and the minutes spent
(training and validation). ``--val`` adds the best validation HR@10 and NDCG@10.
An ensemble, which has no run directory, is given as the ``test.json`` that
``recdiff evaluate RUN... --json`` wrote, with its ``val.json`` beside it when it was validated.
A run stopped before its last epoch (``benchmarks/gpu_paper.sh`` stops runs at the end of its
budget) has no ``results.json``: its row is read from ``metrics.jsonl`` and the test metrics of
its best checkpoint in ``test-at-stop.json``, and its epochs read "N of M, stopped".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from recdiff.training.rundir import read_metrics

METRICS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")


def stopped_results(run_dir: Path) -> tuple[dict, list[str]]:
    """The results of a run stopped early: its validations so far and the test of its best checkpoint."""
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    metric = spec["eval"]["metric"]
    rows = read_metrics(run_dir)
    evals = [r for r in rows if r.get("event") == "eval" and r.get("split") == "val"]
    best = max(evals, key=lambda r: r[metric])
    results = {"val": best, "test": json.loads((run_dir / "test-at-stop.json").read_text())}
    epochs = f"{len(evals)} of {spec['train']['epochs']}, stopped"
    return results, [str(best["epoch"]), epochs, f"{evals[-1]['elapsed'] / 60:.0f}"]


def row(run_dir: Path, split: str, with_val: bool, label: str) -> str:
    if run_dir.is_dir() and not (run_dir / "results.json").is_file() and (run_dir / "test-at-stop.json").is_file():
        results, runs = stopped_results(run_dir)
    elif run_dir.is_dir():
        results = json.loads((run_dir / "results.json").read_text())
        runs = [str(results["best_epoch"]), str(results["epochs_run"]), f"{results['train_seconds'] / 60:.0f}"]
    else:  # an ensemble's `recdiff evaluate --json` output: <split>.json, with val.json beside it if validated
        val = run_dir.parent / "val.json"
        results = {"val": json.loads(val.read_text()) if val.is_file() else {}, split: json.loads(run_dir.read_text())}
        runs = ["", "", ""]
    cells = [label, *(f"{results[split][m]:.4f}" for m in METRICS)]
    if with_val:
        cells += [f"{results['val'].get('hr@10', float('nan')):.4f}", f"{results['val'].get('ndcg@10', float('nan')):.4f}"]
    return "| " + " | ".join(cells + runs) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--val", action="store_true", help="Add the best validation HR@10 and NDCG@10.")
    parser.add_argument("--label", action="append", default=[], help="Row label, one per run in order.")
    parser.add_argument("--mean", action="store_true", help="Add a row of mean ± sample std over the runs.")
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
    if args.mean:
        values = [json.loads((run / "results.json").read_text())[args.split] for run in args.runs]
        cells = []
        for metric in METRICS:
            column = np.array([v[metric] for v in values])
            cells.append(f"{column.mean():.4f} ± {column.std(ddof=1):.4f}")
        cells = [f"mean ± std ({len(values)} runs)", *cells]
        print("| " + " | ".join(cells + [""] * (len(header) - len(cells))) + " |")


if __name__ == "__main__":
    main()
