"""Benchmark of the data path: load times, padding per epoch, and the data share of a training epoch.

Run from the repository root (the real data sits beside the checkout in ../shared/data):

    python benchmarks/data.py            # a readable report
    python benchmarks/data.py --json     # the same figures as one JSON object

It measures

* the time to load and preprocess ``ml-1m.inter`` cold (an empty RECDIFF_HOME, with and
  without writing the cache) and from the cache, as the median of a few repeats;
* the share of padding tokens in one epoch of training batches (batch 512; beauty with
  ``max_len`` 50, ml-1m with 200) when every history is padded to ``max_len``, when a batch
  is padded to its longest history in random order, and with length-aware bucketing;
* the share of one training epoch spent making batches (``batch_indices`` + ``make_batch``)
  against the whole step, for 30 batches of the diffurec preset with hidden 128 on beauty.

This is a script, not a test: the figures depend on the machine and go into docs/data.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recdiff.data import SequenceData, batch_indices, load_data, make_batch, make_splits, preprocess, read_interactions
from recdiff.data.cache import cache_dir
from recdiff.evaluation.prepared import prepare
from recdiff.spec import load_spec
from recdiff.spec.models import DataSpec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BEAUTY = SHARED / "beauty" / "beauty.inter"
ML_1M = SHARED / "ml-1m" / "ml-1m.inter"
PADDING_CASES = (("beauty", BEAUTY, 50), ("ml-1m", ML_1M, 200))
PADDING_BATCH = 512
EPOCH_BATCHES = 30
SEED = 42


def median_seconds(run: Callable[[], object], repeats: int, before: Callable[[], None] | None = None) -> float:
    """Median wall time of ``run`` over ``repeats`` calls; ``before`` runs untimed ahead of each."""
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_times(repeats: int) -> dict[str, Any]:
    """Cold and cached load of ml-1m (read, preprocess with the default 5-core, build sequences).

    Cold loads start from an empty cache folder; the file itself is in the OS page cache
    after the first read, as it is for any second run of a user.
    """
    spec = DataSpec(path=ML_1M)
    cache = cache_dir()

    def empty_cache() -> None:
        for entry in cache.glob("*"):
            entry.unlink()

    cold_no_cache = median_seconds(lambda: load_data(spec.model_copy(update={"cache": False}), SEED), repeats)
    cold = median_seconds(lambda: load_data(spec, SEED), repeats, before=empty_cache)
    load_data(spec, SEED)
    cached = median_seconds(lambda: load_data(spec, SEED), repeats)
    loaded = load_data(spec, SEED)
    assert loaded.from_cache
    steps = _step_times(spec)
    return {
        "file": str(ML_1M),
        "interactions": loaded.report.interactions_in,
        "cold_no_cache_s": cold_no_cache,
        "cold_with_cache_write_s": cold,
        "cached_s": cached,
        "cold_steps_s": steps,
        "repeats": repeats,
    }


def _step_times(spec: DataSpec) -> dict[str, float]:
    """One cold load split into its steps (for the docs' breakdown)."""
    start = time.perf_counter()
    frame = read_interactions(spec)
    read = time.perf_counter()
    kept, _ = preprocess(frame, spec)
    cleaned = time.perf_counter()
    SequenceData.from_frame(kept)
    built = time.perf_counter()
    return {"read": read - start, "preprocess": cleaned - read, "sequences": built - cleaned}


def padding_shares() -> dict[str, Any]:
    """Padding tokens / all tokens of one epoch of training batches, three ways."""
    results = {}
    for name, path, max_len in PADDING_CASES:
        spec = DataSpec(path=path, max_len=max_len)
        data = load_data(spec, SEED).data
        train = make_splits(data, spec).train
        lengths = train.history_lengths()
        real = int(lengths.sum())

        def share(bucket: bool) -> float:
            rng = np.random.default_rng([SEED, 1])
            batches = batch_indices(train, PADDING_BATCH, shuffle=True, bucket=bucket, generator=rng)
            cells = sum(len(batch) * int(lengths[batch].max()) for batch in batches)
            return 1.0 - real / cells

        results[name] = {
            "max_len": max_len,
            "examples": len(train),
            "mean_history": float(lengths.mean()),
            "pad_to_max_len": 1.0 - real / (len(train) * max_len),
            "random_batches": share(bucket=False),
            "bucketed": share(bucket=True),
        }
    return results


def epoch_share(device: str) -> dict[str, Any]:
    """Time making batches vs. the whole training step, over EPOCH_BATCHES batches on beauty."""
    spec = load_spec(
        {"preset": "diffurec", "seed": SEED, "data": {"path": str(BEAUTY), "max_len": 50},
         "model": {"hidden": 128}, "train": {"device": device}}
    )
    prepared = prepare(spec)
    model, train = prepared.model, prepared.splits.train
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.train.lr, weight_decay=spec.train.weight_decay)
    synchronize = torch.cuda.synchronize if prepared.device.type == "cuda" else (lambda: None)
    model.train()

    def step(index: np.ndarray) -> float:
        """One training step; returns the seconds spent making its batch."""
        start = time.perf_counter()
        batch = make_batch(prepared.data, train, index).to(prepared.device, non_blocking=True)
        made = time.perf_counter() - start
        loss = model.loss(batch.history, batch.target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return made

    warmup = batch_indices(train, spec.train.batch_size, shuffle=True, bucket=True,
                           generator=np.random.default_rng([SEED, 0]))
    for index in warmup[:3]:
        step(index)
    synchronize()
    start = time.perf_counter()
    order = batch_indices(train, spec.train.batch_size, shuffle=True, bucket=spec.train.bucket,
                          generator=np.random.default_rng([SEED, 1]))
    indexing = time.perf_counter() - start
    batches = order[:EPOCH_BATCHES]
    making = sum(step(index) for index in batches)
    synchronize()
    total = time.perf_counter() - start
    # batch_indices cuts the whole epoch; charge only this run's part of it.
    data_seconds = indexing * len(batches) / len(order) + making
    return {
        "device": str(prepared.device),
        "threads": torch.get_num_threads(),
        "batch_size": spec.train.batch_size,
        "batches": len(batches),
        "batches_per_epoch": len(order),
        "batch_indices_s_per_epoch": indexing,
        "make_batch_s": making,
        "total_s": total,
        "data_share": data_seconds / total,
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def report(figures: dict[str, Any]) -> str:
    """The figures as the lines pasted into docs/data.md."""
    load, epoch = figures["load"], figures["epoch"]
    steps = load["cold_steps_s"]
    lines = [
        f"ml-1m load ({load['interactions']:,} interactions, median of {load['repeats']}):",
        f"  cold, cache off        {load['cold_no_cache_s']:.2f} s"
        f"  (read {steps['read']:.2f}, preprocess {steps['preprocess']:.2f}, sequences {steps['sequences']:.2f})",
        f"  cold, writing cache    {load['cold_with_cache_write_s']:.2f} s",
        f"  from cache             {load['cached_s']:.3f} s",
        f"padding share of one epoch (batch {PADDING_BATCH}):",
        f"  {'':8}{'max_len':>8}{'mean hist':>11}{'pad to max_len':>16}{'random':>9}{'bucketed':>10}",
    ]
    for name, row in figures["padding"].items():
        lines.append(
            f"  {name:8}{row['max_len']:>8}{row['mean_history']:>11.1f}{row['pad_to_max_len']:>16.1%}"
            f"{row['random_batches']:>9.1%}{row['bucketed']:>10.1%}"
        )
    lines += [
        f"data share of training ({epoch['batches']} of {epoch['batches_per_epoch']} batches of "
        f"{epoch['batch_size']}, diffurec hidden 128, beauty, {epoch['device']}, {epoch['threads']} threads):",
        f"  batch_indices {epoch['batch_indices_s_per_epoch'] * 1000:.1f} ms per epoch, make_batch "
        f"{epoch['make_batch_s'] * 1000:.1f} ms, whole steps {epoch['total_s']:.2f} s "
        f"-> data share {epoch['data_share']:.2%}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each load timing (median)")
    parser.add_argument("--device", default="cpu", help="device of the training-epoch part (cpu, cuda)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in (BEAUTY, ML_1M) if not path.is_file()]
    if missing:
        print(f"benchmarks/data.py needs the shared data; missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as home:  # an empty RECDIFF_HOME: cold means cold
        previous = os.environ.get("RECDIFF_HOME")
        os.environ["RECDIFF_HOME"] = home
        try:
            figures = {"load": load_times(args.repeats), "padding": padding_shares(),
                       "epoch": epoch_share(args.device), "machine": machine()}
        finally:
            if previous is None:
                del os.environ["RECDIFF_HOME"]
            else:
                os.environ["RECDIFF_HOME"] = previous
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
