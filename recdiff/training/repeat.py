"""Run groups: one spec over several seeds, summarised as mean ± std, and two groups compared.

A group directory holds one run directory per seed (``seed-<seed>/``). Running a group again
skips finished seeds and resumes interrupted ones, so a long group can span sessions. Two
groups are compared seed by seed (a paired t-test per metric), which is how the DiffuRecSys
paper reports significance.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from recdiff import jsontext
from recdiff.errors import RunError
from recdiff.evaluation.significance import PairedTTest, mean_std, paired_t_test
from recdiff.spec.loading import read_yaml
from recdiff.spec.models import RunSpec
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import resume, train

SUMMARY = "summary.json"


@dataclass(frozen=True)
class Group:
    """The finished runs of a group: test (and val) metrics per seed, and where they came from."""

    path: Path
    name: str
    runs: dict[int, dict[str, Any]]

    def values(self, metric: str, split: str = "test") -> list[float]:
        """The metric of every seed, in seed order."""
        return [self.runs[seed][split][metric] for seed in sorted(self.runs)]

    def summary(self, split: str = "test") -> dict[str, tuple[float, float]]:
        """Mean and sample standard deviation of every metric over the seeds."""
        metrics = next(iter(self.runs.values()))[split]
        return {metric: mean_std(self.values(metric, split)) for metric in metrics}


def run_group(spec: RunSpec, seeds: int, out: str | Path | None = None, console: Console | None = None) -> Group:
    """Train ``spec`` with seeds ``spec.seed, spec.seed + 1, ...`` into ``out`` (resumably) and summarise.

    A seed whose run finished is read, one interrupted after an epoch is resumed, one that never
    finished an epoch is moved aside (``seed-S.incomplete-<time>``) and trained again.
    """
    if seeds < 1:
        raise RunError(f"--seeds must be at least 1, got {seeds}.")
    console = console or Console()
    root = Path(out) if out is not None else Path("runs") / f"{spec.name}-seeds"
    root.mkdir(parents=True, exist_ok=True)
    for seed in range(spec.seed, spec.seed + seeds):
        run_dir = root / f"seed-{seed}"
        run = RunDir(run_dir)
        if run.results_path.is_file():
            console.print(f"seed {seed}: finished earlier, read from {run_dir}", highlight=False)
            continue
        console.rule(f"{spec.name}: seed {seed} ({seed - spec.seed + 1} of {seeds})")
        if run.last_path.is_file():
            resume(run_dir, console)
            continue
        if run_dir.exists():
            run_dir.rename(root / f"seed-{seed}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
        train(spec.model_copy(update={"seed": seed}), run_dir, console)
    group = load_group(root)
    (root / SUMMARY).write_text(jsontext.dumps(summary_record(group), indent=2) + "\n")
    return group


def load_group(path: str | Path) -> Group:
    """The finished runs (``seed-*/results.json``) of a group directory.

    Raises:
        RunError: ``path`` holds no finished run.
    """
    root = Path(path)
    runs: dict[int, dict[str, Any]] = {}
    names = set()
    for results in sorted(root.glob("seed-*/results.json")):
        run = RunDir.open(results.parent)
        spec = read_yaml(run.spec_path)
        runs[int(spec["seed"])] = json.loads(results.read_text())
        names.add(spec["name"])
    if not runs:
        raise RunError(
            f"'{root}' holds no finished run (no seed-*/results.json). Pass a directory written by "
            f"`recdiff repeat`, after at least one of its seeds finished."
        )
    return Group(root, ", ".join(sorted(names)), runs)


def summary_record(group: Group) -> dict[str, Any]:
    """The group as JSON: seeds, per-seed test metrics and mean ± std per metric."""
    return {
        "name": group.name,
        "seeds": sorted(group.runs),
        "test": {metric: {"mean": m, "std": s} for metric, (m, s) in group.summary().items()},
        "runs": {str(seed): {"test": run["test"], "best_epoch": run["best_epoch"],
                             "train_seconds": run["train_seconds"]} for seed, run in sorted(group.runs.items())},
    }


def compare_groups(a: Group, b: Group, split: str = "test") -> dict[str, PairedTTest]:
    """A paired t-test of ``b - a`` for every metric, pairing runs by seed.

    Raises:
        RunError: The groups share fewer than two seeds.
    """
    shared = sorted(set(a.runs) & set(b.runs))
    if len(shared) < 2:
        raise RunError(
            f"Groups '{a.path}' (seeds {sorted(a.runs)}) and '{b.path}' (seeds {sorted(b.runs)}) share "
            f"{len(shared)} seed(s); a paired t-test needs at least two runs of each with the same seeds. Run "
            f"`recdiff repeat` for both with the same seed and --seeds."
        )
    metrics = a.runs[shared[0]][split]
    return {
        metric: paired_t_test([a.runs[s][split][metric] for s in shared], [b.runs[s][split][metric] for s in shared])
        for metric in metrics
    }
