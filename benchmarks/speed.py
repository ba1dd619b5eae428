"""Training and inference speed of a spec: examples/s, users/s per sampler, peak memory.

Run from the repository root (the real data sits beside the checkout in ../shared/data):

    python benchmarks/speed.py                                 # diffurec on Beauty, a table
    python benchmarks/speed.py --preset diffurecsys --dtype bf16 --json
    python benchmarks/speed.py --spec my.yaml --data ../shared/data/ml-1m/ml-1m.inter \
        --set data.max_len=100 --set train.batch_size=1024 --samplers ddpm,ddim:steps=4,x0
    python benchmarks/speed.py --preset diffurec,late-fusion --json    # side by side, one process

The defaults are the settings of the original code's figures in docs/benchmarks.md: Amazon
Beauty, max_len 50, batch 512, hidden 128, 4 Transformer blocks, T = 32, fp32.

* Training: examples/s over ``--batches`` batches of a seeded, length-bucketed epoch, evenly
  spaced in length (the longest included), after ``--warmup`` untimed batches (forward,
  backward and Adam step, as the trainer runs them). An example is a loss term: a prefix for
  a model trained on every prefix, a real position for one that supervises every position
  (SASRec, late fusion), whose epoch is each user's longest sequence; the epoch estimate
  scales the timed batches to the epoch the trainer would run.
* Several presets (``--preset a,b``) are timed one after the other in one process, on the
  same data, with the same settings; ``--json`` then prints ``{"runs": [...], "train_ratio": ...}``.
* Inference: users/s of full-ranking evaluation (reverse chain, scoring against every item,
  ranking) of every test user (or the first ``--users``), per sampler. A sampler is a
  registry name with optional parameters, ``name:key=value:key=value`` (e.g.
  ``ddim:steps=4:eta=0``); ``--set eval.ensemble=S`` times seed ensembles.
* Memory: peak resident set size of the process; on CUDA also peak allocated GPU memory.

This is a script, not a test: the figures depend on the machine and go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from recdiff.data import batch_indices, make_batch
from recdiff.evaluation.evaluate import evaluate_model
from recdiff.evaluation.prepared import prepare
from recdiff.registry import create
from recdiff.runtime import autocast
from recdiff.spec import load_spec
from recdiff.spec.models import RunSpec
from recdiff.training.trainer import make_optimizer, training_examples

BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty" / "beauty.inter"
DEFAULTS: dict[str, Any] = {
    "name": "speed",
    "data": {"max_len": 50},
    "model": {"hidden": 128, "steps": 32, "backbone": {"name": "transformer", "params": {"blocks": 4}}},
    "train": {"batch_size": 512},
    "eval": {"batch_size": 512},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, help="YAML spec (default: the preset with the settings above).")
    parser.add_argument(
        "--preset", default="diffurec", help="Preset when no --spec is given, or several comma-separated (default diffurec)."
    )
    parser.add_argument("--data", type=Path, default=BEAUTY, help="Interaction file (default: Beauty).")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="Spec override.")
    parser.add_argument("--batches", type=int, default=30, help="Timed training batches (default 30).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed training batches first (default 3).")
    parser.add_argument("--users", type=int, default=0, help="Test users timed per sampler (default 0: all of them).")
    parser.add_argument("--samplers", default="ddpm,ddim:steps=4,x0", help="Comma-separated samplers to time.")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="Precision (autocast).")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first.")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    return parser.parse_args(argv)


def build_spec(args: argparse.Namespace, preset: str | None = None) -> RunSpec:
    """The spec to time: --spec or the default settings with `preset`, then the command-line choices on top."""
    source: Any = args.spec if args.spec is not None else {**DEFAULTS, "preset": preset or args.preset}
    overrides = [
        f"data.path={args.data}", f"train.precision={args.dtype}", f"train.compile={str(args.compile).lower()}",
        f"train.device={args.device}", *args.set,
    ]
    return load_spec(source, overrides)


def parse_sampler(text: str) -> tuple[str, dict[str, Any]]:
    """``ddim:steps=4:eta=0`` -> ("ddim", {"steps": 4, "eta": 0})."""
    name, *assignments = text.split(":")
    params = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        params[key] = yaml.safe_load(value)
    return name, params


def time_training(spec: RunSpec, prepared: Any, batches: int, warmup: int) -> dict[str, float]:
    """Examples/s of forward + backward + optimizer step on seeded, bucketed batches."""
    model, data, split, device = prepared.model, prepared.data, training_examples(prepared), prepared.device
    optimizer = make_optimizer(model, spec.train)
    epoch = batch_indices(
        split, spec.train.batch_size, shuffle=True, bucket=spec.train.bucket,
        generator=np.random.default_rng([spec.seed, 1]),
    )
    order = [epoch[i] for i in range(warmup)] + representative(epoch, split, batches)
    model.train()
    examples, rows, seconds = 0, 0, 0.0
    for step, index in enumerate(order):
        batch = make_batch(data, split, index).to(device, non_blocking=True)
        _sync(device)
        start = time.perf_counter()
        with autocast(device, spec.train.precision):
            loss = model.loss(batch.history, batch.target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if step >= warmup:
            seconds += time.perf_counter() - start
            examples += model.loss_terms(batch.history)
            rows += len(batch)
    epoch_terms = (int(np.minimum(split.history_lengths(), spec.data.max_len).sum())
                   if model.supervises_every_position else len(split))
    return {"train_examples_per_s": examples / seconds, "train_examples": examples, "train_seconds": seconds,
            "epoch_examples": epoch_terms, "epoch_rows": len(split),
            "epoch_seconds_estimate": len(split) * seconds / rows}


def representative(epoch: list[np.ndarray], split: Any, count: int) -> list[np.ndarray]:
    """``count`` batches of the epoch evenly spaced in padded length, the longest included.

    A batch's cost grows with its longest history, so a random handful of batches can miss
    the few long ones that dominate an epoch; evenly spaced quantiles of the padded length
    keep the timed sample's mix of lengths close to the whole epoch's, and its peak memory
    that of the longest batch.
    """
    lengths = split.history_lengths()
    by_length = sorted(epoch, key=lambda index: (int(lengths[index].max()), len(index)))
    picks = np.linspace(0, len(by_length) - 1, min(count, len(by_length))).round().astype(int)
    return [by_length[i] for i in picks]


def time_inference(spec: RunSpec, prepared: Any, sampler: str, users: int) -> dict[str, Any]:
    """Users/s of full-ranking evaluation with ``sampler``, and the metrics it reached."""
    model = prepared.model
    max_users = users or None
    name, params = parse_sampler(sampler)
    model.sampler = create("sampler", name, process=model.process, **params)
    split, e = prepared.splits.test, spec.eval
    kwargs = dict(batch_size=e.batch_size, device=prepared.device, seed=spec.seed,
                  precision=spec.train.precision, exclude_history=spec.model.exclude_history)
    evaluate_model(model, prepared.data, split, e.ks, max_users=e.batch_size, **kwargs)  # warm-up
    _sync(prepared.device)
    start = time.perf_counter()
    metrics = evaluate_model(model, prepared.data, split, e.ks, max_users=max_users, **kwargs)
    _sync(prepared.device)
    seconds = time.perf_counter() - start
    timed = len(split) if max_users is None else min(max_users, len(split))
    return {"users_per_s": timed / seconds, "users": timed, "seconds": seconds,
            "hr@10": metrics.get("hr@10"), "ndcg@10": metrics.get("ndcg@10")}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def run(args: argparse.Namespace, preset: str | None = None) -> dict[str, Any]:
    spec = build_spec(args, preset)
    prepared = prepare(spec)
    if prepared.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(prepared.device)
    train = time_training(spec, prepared, args.batches, args.warmup)
    train["peak_rss_mib"] = peak_rss_mib()
    inference = {name: time_inference(spec, prepared, name, args.users) for name in args.samplers.split(",")}
    result: dict[str, Any] = {
        "train_examples_per_s": train["train_examples_per_s"],
        "infer_users_per_s": {name: value["users_per_s"] for name, value in inference.items()},
        "peak_rss_mib": peak_rss_mib(),
        "peak_gpu_mib": (torch.cuda.max_memory_allocated(prepared.device) / 2**20
                         if prepared.device.type == "cuda" else None),
        "device": _device_name(prepared.device),
        "dtype": spec.train.precision,
        "compile": spec.train.compile,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "spec": {"preset": spec.preset, "architecture": spec.model.architecture.name,
                 "data": str(spec.data.path), "max_len": spec.data.max_len,
                 "batch_size": spec.train.batch_size, "hidden": spec.model.hidden, "steps": spec.model.steps,
                 "conditioning": spec.model.conditioning.name, "backbone": spec.model.backbone.name},
        "train": train,
        "inference": inference,
    }
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s = result["spec"]
    table = Table(title=f"{s['preset'] or 'spec'} on {Path(s['data']).name}: max_len {s['max_len']}, batch "
                        f"{s['batch_size']}, hidden {s['hidden']}, T {s['steps']}, {result['dtype']}"
                        f"{', compiled' if result['compile'] else ''}, {result['device']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("detail")
    train = result["train"]
    table.add_row("training examples/s", f"{train['train_examples_per_s']:,.0f}",
                  f"{train['train_examples']:,} examples in {train['train_seconds']:.1f} s")
    for name, value in result["inference"].items():
        table.add_row(f"inference users/s, {name}", f"{value['users_per_s']:,.0f}",
                      f"{value['users']:,} users in {value['seconds']:.1f} s")
    table.add_row("peak resident memory", f"{result['peak_rss_mib']:,.0f} MiB", "")
    if result["peak_gpu_mib"] is not None:
        table.add_row("peak GPU memory", f"{result['peak_gpu_mib']:,.0f} MiB", "")
    Console().print(table)


def side_by_side(args: argparse.Namespace, presets: list[str]) -> dict[str, Any]:
    """Each preset timed in turn in this process, and each one's speed-up over the first's."""
    runs = [run(args, preset) for preset in presets]
    first = runs[0]

    def ratios(key: str) -> dict[str, float]:
        return {r["spec"]["preset"]: r[key] / first[key] for r in runs}

    return {
        "runs": runs,
        "train_ratio": ratios("train_examples_per_s"),
        "epoch_time_ratio": {r["spec"]["preset"]: r["train"]["epoch_seconds_estimate"]
                             / first["train"]["epoch_seconds_estimate"] for r in runs},
        "infer_ratio": {r["spec"]["preset"]: {name: speed / first["infer_users_per_s"][name]
                                              for name, speed in r["infer_users_per_s"].items()} for r in runs},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    presets = args.preset.split(",")
    if len(presets) > 1 and args.spec is not None:
        raise SystemExit("error: --spec times one spec; give several presets without --spec to compare them")
    result = run(args) if len(presets) == 1 else side_by_side(args, presets)
    if args.json:
        print(json.dumps(result))
    else:
        for one in result.get("runs", [result]):
            print_table(one)


if __name__ == "__main__":
    main()
