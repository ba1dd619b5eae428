"""Time-to-quality curves: a validation metric against wall-clock for one or more runs.

    python benchmarks/curves.py RUN_DIR [RUN_DIR ...] [--metric hr@10] [--reach 0.09 ...] [--png curves.png] [--json]

Each point is a validation of the run (its ``metrics.jsonl``): the epoch, the seconds spent
training and validating up to it (the ``elapsed`` the trainer logs; for runs written before
it logged that, the sum of the epochs' training seconds, validation excluded), and the
metric. The summary gives the best value, how long the run took to first come within 1%
of it, and for each ``--reach`` level the epoch and minutes at which the metric first got there.
The PNG needs matplotlib (``pip install -e ".[plot]"``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recdiff.metric_names import canonical_metric
from recdiff.training.rundir import read_metrics


def curve(run_dir: Path, metric: str, levels: Sequence[float] = ()) -> dict[str, Any]:
    """The validation points of one run, when it reached 99% of its best value and each level."""
    records = read_metrics(run_dir)
    training = 0.0
    points = []
    for record in records:
        if record["event"] == "epoch":
            training += record["seconds"]
        elif record["event"] == "eval" and record.get("split") == "val" and metric in record:
            seconds = record.get("elapsed", training)
            points.append({"epoch": record["epoch"], "seconds": seconds, metric: record[metric],
                           "validation_included": "elapsed" in record})
    if not points:
        raise SystemExit(f"{run_dir}: no validation records with {metric} in metrics.jsonl")
    best = max(point[metric] for point in points)
    reached = next(point for point in points if point[metric] >= 0.99 * best)
    first = {level: next((p for p in points if p[metric] >= level), None) for level in levels}
    reach = [{"level": level, "epoch": p and p["epoch"], "seconds": p and p["seconds"]} for level, p in first.items()]
    return {"run": str(run_dir), "points": points, "best": best, "seconds_to_99pct": reached["seconds"],
            "epochs_to_99pct": reached["epoch"], "reach": reach}


def plot(curves: list[dict[str, Any]], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for c in curves:
        axis.plot([p["seconds"] / 60 for p in c["points"]], [p[metric] for p in c["points"]], marker="o",
                  label=Path(c["run"]).name)
    axis.set_xlabel("wall-clock (minutes)")
    axis.set_ylabel(f"validation {metric.upper()}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--metric", default="hr@10", type=canonical_metric, help="hr@K, ndcg@K or mrr, in any case.")
    parser.add_argument("--reach", type=float, action="append", default=[],
                        help="Report when the metric first reached this value (repeatable).")
    parser.add_argument("--png", type=Path, help="Write the curves to this PNG.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args(argv)
    curves = [curve(run, args.metric, args.reach) for run in args.runs]
    if args.png is not None:
        plot(curves, args.metric, args.png)
    if args.json:
        print(json.dumps({"metric": args.metric, "curves": curves}))
        return
    for c in curves:
        print(f"{c['run']}: best {args.metric} {c['best']:.4f}; 99% of it after {c['epochs_to_99pct']} epochs, "
              f"{c['seconds_to_99pct'] / 60:.1f} min")
        for r in c["reach"]:
            when = "never" if r["epoch"] is None else f"epoch {r['epoch']}, {r['seconds'] / 60:.1f} min"
            print(f"  reached {args.metric} {r['level']}: {when}")
        for p in c["points"]:
            print(f"  epoch {p['epoch']:3d}  {p['seconds'] / 60:7.1f} min  {p[args.metric]:.4f}")


if __name__ == "__main__":
    main()
