"""Quality and speed of inference settings on one trained run: samplers, ensembles, precision.

    python benchmarks/samplers.py RUN_DIR                       # the default settings below
    python benchmarks/samplers.py RUN_DIR --setting "ddim8=model.sampler.name=ddim,model.sampler.params.steps=8"
    python benchmarks/samplers.py RUN_DIR --json

Every setting re-evaluates the run's best checkpoint on the whole test split with the run's
seed and reports HR@10, NDCG@10, their change relative to the first setting, and users/s
of the evaluation itself (data loading and model building excluded). This is a script, not a
test: the figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from recdiff.evaluation.prepared import evaluate_prepared
from recdiff.training.restore import load_run

DDPM = ["model.sampler.name=ddpm", "model.sampler.params.variance=fixed_large"]
DEFAULT_SETTINGS = {
    "ddpm 32 steps": [*DDPM, "train.precision=fp32"],
    "ddim 8 steps": ["model.sampler.name=ddim", "model.sampler.params.steps=8", "train.precision=fp32"],
    "ddim 4 steps": ["model.sampler.name=ddim", "model.sampler.params.steps=4", "train.precision=fp32"],
    "x0 (1 step)": ["model.sampler.name=x0", "train.precision=fp32"],
    "x0, ensemble of 4": ["model.sampler.name=x0", "eval.ensemble=4", "train.precision=fp32"],
    "ddpm 32 steps, bf16": [*DDPM, "train.precision=bf16"],
    "ddim 4 steps, bf16": ["model.sampler.name=ddim", "model.sampler.params.steps=4", "train.precision=bf16"],
}
"""Each setting names its sampler and precision in full, so the run's own settings never leak in."""


def parse_setting(text: str) -> tuple[str, list[str]]:
    """``label=field=value,field=value`` -> (label, [field=value, ...])."""
    label, _, assignments = text.partition("=")
    return label, [a for a in assignments.split(",") if a]


def evaluate_setting(run_dir: Path, overrides: list[str], split: str) -> dict[str, Any]:
    p = load_run(run_dir, "best", overrides)
    e = p.spec.eval
    started = time.perf_counter()
    metrics = evaluate_prepared(p, split)
    seconds = time.perf_counter() - started
    users = min(len(getattr(p.splits, split)), e.max_users or len(getattr(p.splits, split)))
    return {"metrics": metrics, "seconds": seconds, "users_per_s": users / seconds,
            "sampler": p.spec.model.sampler.model_dump(), "precision": p.spec.train.precision,
            "ensemble": e.ensemble}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--setting", action="append", default=[], help="label=field=value,... (repeatable).")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args(argv)
    settings = dict(map(parse_setting, args.setting)) if args.setting else DEFAULT_SETTINGS
    results = {label: evaluate_setting(args.run_dir, overrides, args.split) for label, overrides in settings.items()}
    reference = next(iter(results.values()))["metrics"]
    for result in results.values():
        result["relative"] = {m: result["metrics"][m] / reference[m] - 1 for m in ("hr@10", "ndcg@10")}
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "split": args.split, "settings": results}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.run_dir} ({args.split}, best checkpoint)")
    for column in ("setting", "HR@10", "vs first", "NDCG@10", "vs first", "users/s"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for label, r in results.items():
        table.add_row(label, f"{r['metrics']['hr@10']:.4f}", f"{r['relative']['hr@10']:+.1%}",
                      f"{r['metrics']['ndcg@10']:.4f}", f"{r['relative']['ndcg@10']:+.1%}", f"{r['users_per_s']:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
