"""A large catalogue on the CPU: peak memory, training and evaluation speed of each training loss.

Run from the repository root (it takes several minutes; one subprocess per loss, so each peak
is that loss's own):

    OMP_NUM_THREADS=1 python benchmarks/scale.py --out benchmarks/results/scale
    python benchmarks/scale.py --table benchmarks/results/scale/scale.json   # its Markdown table

Synthetic data (`data.synthetic`) with 100,000 users walking a catalogue of 1,000,000 items,
kept whole (no k-core, which would drop the many rare items); the model is built for all
1,000,000 items, whether or not an item occurs. Diffusion model, hidden 64, batch 256, fp32.

* Training: examples/s over ``--steps`` batches (forward, backward, Adam step, as the trainer
  runs them) after ``--warmup`` untimed ones.
* Evaluation: users/s of full ranking over all 1,000,000 items (reverse chain, chunked
  scoring, ranking) of the first ``--users`` validation users.
* Memory: peak resident set size of the subprocess (getrusage), data and model included; also
  the peak once the data is loaded and the model built, before the first step.

Losses: `chunked` (exact, item blocks of 16384), `sampled` with the uniform and the popularity
proposal (8192 draws), and `full` (the whole logit matrix) as the baseline. This is a script,
not a test: figures depend on the machine and go into docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recdiff.data import batch_indices, load_data, make_batch, make_splits
from recdiff.evaluation.evaluate import evaluate_model
from recdiff.evaluation.prepared import target_counts
from recdiff.models.build import build_model
from recdiff.runtime import seed_everything
from recdiff.spec import load_spec
from recdiff.training.environment import environment
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import make_optimizer

ITEMS, USERS, HIDDEN, BATCH = 1_000_000, 100_000, 64, 256
LOSSES: dict[str, dict[str, Any]] = {
    "chunked": {"name": "chunked", "params": {"chunk": 16384}},
    "sampled-uniform": {"name": "sampled", "params": {"samples": 8192, "proposal": "uniform"}},
    "sampled-popularity": {"name": "sampled", "params": {"samples": 8192, "proposal": "popularity", "alpha": 0.75}},
    "full": {"name": "full"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", default=",".join(LOSSES), help=f"Comma-separated, of {', '.join(LOSSES)}.")
    parser.add_argument("--steps", type=int, default=10, help="Timed training batches (default 10).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed training batches first (default 2).")
    parser.add_argument("--users", type=int, default=256, help="Validation users ranked (default 256).")
    parser.add_argument("--out", type=Path, help="Folder for scale.json and env.json (default: print only).")
    parser.add_argument("--table", type=Path, help="Print the Markdown table of a scale.json instead of measuring.")
    parser.add_argument("--one", choices=tuple(LOSSES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def measure(loss: str, steps: int, warmup: int, users: int) -> dict[str, Any]:
    """Load the data, build the model with `loss`, time training steps and evaluation, report the peak."""
    spec = load_spec({
        "name": "scale",
        "data": {"min_user_inter": 0, "min_item_inter": 0, "max_len": 50,
                 "synthetic": {"users": USERS, "items": ITEMS}},
        "model": {"hidden": HIDDEN, "loss": LOSSES[loss]},
        "train": {"batch_size": BATCH, "device": "cpu"},
        "eval": {"batch_size": BATCH},
    })
    seed_everything(spec.seed)
    start = time.perf_counter()
    data = load_data(spec.data, spec.seed).data
    splits = make_splits(data, spec.data)
    counts = torch.zeros(ITEMS, dtype=torch.int64)
    counts[: data.num_items] = target_counts(data, splits.train)
    model = build_model(spec, ITEMS, item_counts=counts)
    loaded, load_rss = time.perf_counter() - start, peak_rss_mib()
    optimizer = make_optimizer(model, spec.train)
    order = batch_indices(splits.train, BATCH, shuffle=True, bucket=True, generator=np.random.default_rng([spec.seed, 1]))
    model.train()
    examples, seconds = 0, 0.0
    for step, index in enumerate(order[: warmup + steps]):
        batch = make_batch(data, splits.train, index)
        begin = time.perf_counter()
        value = model.loss(batch.history, batch.target)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if step >= warmup:
            seconds += time.perf_counter() - begin
            examples += len(batch)
    train_rss = peak_rss_mib()
    begin = time.perf_counter()
    metrics = evaluate_model(model, data, splits.val, spec.eval.ks, batch_size=BATCH, seed=spec.seed, max_users=users,
                             chunk=spec.eval.item_chunk)
    evaluated = time.perf_counter() - begin
    return {
        "loss": loss, "loss_spec": LOSSES[loss], "items": ITEMS, "items_seen_in_data": data.num_items,
        "users": data.num_users, "interactions": len(data.items), "train_examples": len(splits.train),
        "batch_size": BATCH, "hidden": HIDDEN, "steps_timed": steps,
        "train_examples_per_s": examples / seconds, "eval_users": users, "eval_users_per_s": users / evaluated,
        "peak_rss_mib_after_load": load_rss, "peak_rss_mib_after_training": train_rss, "peak_rss_mib": peak_rss_mib(),
        "load_seconds": loaded, "last_loss": float(value), "val_ndcg@10": metrics.get("ndcg@10"),
        "threads": torch.get_num_threads(),
    }


def run_each(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each loss in a fresh subprocess; one that fails (out of memory, say) is reported, not fatal."""
    results = []
    for loss in args.losses.split(","):
        command = [sys.executable, __file__, "--one", loss, "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--users", str(args.users)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            results.append({"loss": loss, "failed": f"exit {done.returncode}: {tail}"})
        print(_row(results[-1]), flush=True)
    return results


def _row(result: dict[str, Any]) -> str:
    if "failed" in result:
        return f"{result['loss']:<20} failed: {result['failed']}"
    return (f"{result['loss']:<20} peak RSS {result['peak_rss_mib'] / 1024:5.2f} GiB   "
            f"train {result['train_examples_per_s']:7.1f} examples/s   eval {result['eval_users_per_s']:6.1f} users/s")


def table(argv: list[str], root: Path) -> list[str]:
    """The Markdown table of ``--table FILE`` (relative to ``root``): what docs/scaling.md shows, via benchmarks/table.py."""
    args = parse_args(argv)
    results = json.loads((root / args.table).read_text(encoding="utf-8"))
    lines = ["| loss | spec | peak RSS (GiB) | peak before training (GiB) | training examples/s | evaluation users/s |",
             "|---|---|---|---|---|---|"]
    for result in results:
        if "failed" in result:
            lines.append(f"| `{result['loss']}` | | failed: {result['failed']} | | | |")
            continue
        spec = json.dumps(result["loss_spec"], separators=(", ", ": ")).replace('"', "")
        lines.append(
            f"| `{result['loss']}` | `{spec}` | {result['peak_rss_mib'] / 1024:.2f} | "
            f"{result['peak_rss_mib_after_load'] / 1024:.2f} | {result['train_examples_per_s']:.0f} | "
            f"{result['eval_users_per_s']:.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table is not None:
        print("\n".join(table(sys.argv[1:] if argv is None else argv, Path.cwd())))
        return
    if args.one is not None:
        print(json.dumps(measure(args.one, args.steps, args.warmup, args.users)))
        return
    print(f"{ITEMS:,} items, {USERS:,} users, batch {BATCH}, hidden {HIDDEN}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    env = environment(torch.device("cpu"), seed=42)  # before anything is written: `git.dirty` is the code's
    results = run_each(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        RunDir(args.out).write_env(env)


if __name__ == "__main__":
    main()
