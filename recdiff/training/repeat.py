"""Run groups: one spec over several seeds, summarised as mean ± std, and two groups compared.

A group directory holds one run directory per seed (``seed-<seed>/``). Running a group again
skips finished seeds and resumes interrupted ones, so a long group can span sessions; runs
trained with another spec are refused, so a group never mixes two configurations. Two
groups are compared seed by seed (a paired t-test per metric), which is how the DiffuRecSys
paper reports significance.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from recdiff import jsontext
from recdiff.errors import RunError
from recdiff.evaluation.significance import PairedTTest, mean_std, paired_t_test
from recdiff.spec.diff import changes, fingerprint
from recdiff.spec.loading import load_spec, read_yaml
from recdiff.spec.models import SEED_LIMIT, RunSpec
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import as_saved, resume, train

SUMMARY = "summary.json"
SEED_DIR = re.compile(r"seed-\d+")
"""The name of a seed's run folder in a group (``seed-5``; not ``seed-5.replaced-<time>``)."""


@dataclass(frozen=True)
class Group:
    """The finished runs of a group: test (and val) metrics per seed, and where they came from."""

    path: Path
    name: str
    runs: dict[int, dict[str, Any]]
    specs: dict[int, str] = field(default_factory=dict)
    """The fingerprint of each seed's saved spec (`recdiff.spec.diff.fingerprint`)."""

    def values(self, metric: str, split: str = "test") -> list[float]:
        """The metric of every seed, in seed order."""
        return [self.runs[seed][split][metric] for seed in sorted(self.runs)]

    def summary(self, split: str = "test") -> dict[str, tuple[float, float]]:
        """Mean and sample standard deviation of every metric over the seeds."""
        metrics = next(iter(self.runs.values()))[split]
        return {metric: mean_std(self.values(metric, split)) for metric in metrics}


def run_group(
    spec: RunSpec, seeds: int, out: str | Path | None = None, console: Console | None = None, rerun_changed: bool = False
) -> Group:
    """Train ``spec`` with seeds ``spec.seed, spec.seed + 1, ...`` into ``out`` (resumably) and summarise those seeds.

    A seed whose run finished is read, one interrupted after an epoch is resumed, one that never
    finished an epoch is moved aside (``seed-S.incomplete-<time>``) and trained again. A group
    folder never mixes two specs: when it holds runs trained with another spec (any field but
    the seed), they are refused, or, with ``rerun_changed``, moved aside
    (``seed-S.replaced-<time>``) and the requested seeds among them trained again.

    Raises:
        RunError: ``seeds`` is below 1, or the folder holds runs of another spec and
            ``rerun_changed`` is off.
    """
    if seeds < 1:
        raise RunError(f"--seeds must be at least 1, got {seeds}.")
    if spec.seed + seeds > SEED_LIMIT:
        raise RunError(
            f"--seeds {seeds} from seed {spec.seed} would reach seed {spec.seed + seeds - 1}, but seeds must be below "
            f"2**32 ({SEED_LIMIT}). Start from a lower seed."
        )
    console = console or Console()
    root = Path(out) if out is not None else Path("runs") / f"{spec.name}-seeds"
    wanted = {seed: as_saved(spec.model_copy(update={"seed": seed})) for seed in range(spec.seed, spec.seed + seeds)}
    changed = _other_specs(root, spec)
    if changed and not rerun_changed:
        raise RunError(
            f"Group '{root}' holds runs trained with another spec than this one: {_describe_changes(changed)}. "
            f"Reusing them would mix two configurations in one summary. Pass another --out for this spec, or "
            f"--rerun-changed to move those runs aside (seed-S.replaced-<time>) and train the requested seeds again."
        )
    root.mkdir(parents=True, exist_ok=True)
    for seed in changed:
        moved = _move_aside(root / f"seed-{seed}", "replaced")
        console.print(f"seed {seed}: trained with another spec, moved aside to {moved}", highlight=False)
    for seed, seed_spec in wanted.items():
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
            _move_aside(run_dir, "incomplete")
        train(seed_spec, run_dir, console)
    group = load_group(root, wanted)
    (root / SUMMARY).write_text(jsontext.dumps(summary_record(group), indent=2) + "\n")
    return group


def _other_specs(root: Path, spec: RunSpec) -> dict[int, list[str]]:
    """The seeds of ``root`` whose saved spec is not ``spec`` with that seed, with the fields that differ."""
    found = {}
    for run_dir in _seed_dirs(root):
        run, seed = RunDir(run_dir), int(run_dir.name.removeprefix("seed-"))
        if run.spec_path.is_file():
            differing = changes(load_spec(run.spec_path), as_saved(spec.model_copy(update={"seed": seed})))
            if differing:
                found[seed] = differing
    return found


def _describe_changes(changed: dict[int, list[str]]) -> str:
    """``seeds 5, 6 (field: was -> now)``, seeds with the same differences together."""
    by_fields: dict[tuple[str, ...], list[int]] = {}
    for seed, differing in sorted(changed.items()):
        by_fields.setdefault(tuple(differing), []).append(seed)
    return "; ".join(
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} ({', '.join(differing)})"
        for differing, seeds in by_fields.items()
    )


def _move_aside(run_dir: Path, why: str) -> Path:
    """Rename a seed's run to ``seed-S.<why>-<time>``, out of the group but never deleted; return the new path."""
    return run_dir.rename(run_dir.with_name(f"{run_dir.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}"))


def _seed_dirs(root: Path) -> list[Path]:
    """The run folders of a group, ``seed-<number>`` (not those moved aside), in seed order."""
    found = (path for path in root.glob("seed-*") if SEED_DIR.fullmatch(path.name))
    return sorted(found, key=lambda path: int(path.name.removeprefix("seed-")))


def load_group(path: str | Path, seeds: Collection[int] | None = None) -> Group:
    """The finished runs (``seed-<seed>/results.json``) of a group directory, only of ``seeds`` when given.

    Raises:
        RunError: ``path`` holds no finished run (of those seeds).
    """
    root = Path(path)
    runs: dict[int, dict[str, Any]] = {}
    specs: dict[int, str] = {}
    names = set()
    for run_dir in _seed_dirs(root):
        run = RunDir.open(run_dir)
        if not run.results_path.is_file():
            continue
        spec = read_yaml(run.spec_path)
        seed = int(spec["seed"])
        if seeds is None or seed in seeds:
            runs[seed], specs[seed] = json.loads(run.results_path.read_text()), fingerprint(spec)
            names.add(spec["name"])
    if not runs:
        raise RunError(
            f"'{root}' holds no finished run (no seed-*/results.json). Pass a directory written by "
            f"`recdiff repeat`, after at least one of its seeds finished."
        )
    return Group(root, ", ".join(sorted(names)), runs, specs)


def summary_record(group: Group) -> dict[str, Any]:
    """The group as JSON: seeds, per-seed spec fingerprint and test metrics, and mean ± std per metric."""
    return {
        "name": group.name,
        "seeds": sorted(group.runs),
        "test": {metric: {"mean": m, "std": s} for metric, (m, s) in group.summary().items()},
        "runs": {str(seed): {"spec": group.specs.get(seed), "test": run["test"], "best_epoch": run["best_epoch"],
                             "train_seconds": run["train_seconds"]} for seed, run in sorted(group.runs.items())},
    }


def compare_groups(a: Group, b: Group, split: str = "test", metrics: list[str] | None = None) -> dict[str, PairedTTest]:
    """A paired t-test of ``b - a`` for every metric (or only ``metrics``), pairing runs by seed.

    Raises:
        RunError: The groups share fewer than two seeds, or a requested metric is not in their results.
    """
    shared = sorted(set(a.runs) & set(b.runs))
    if len(shared) < 2:
        raise RunError(
            f"Groups '{a.path}' (seeds {sorted(a.runs)}) and '{b.path}' (seeds {sorted(b.runs)}) share "
            f"{len(shared)} seed(s); a paired t-test needs at least two runs of each with the same seeds. Run "
            f"`recdiff repeat` for both with the same seed and --seeds."
        )
    available = list(a.runs[shared[0]][split])
    missing = [metric for metric in metrics or [] if metric not in available]
    if missing:
        raise RunError(
            f"No {', '.join(missing)} in the runs' {split} results, which hold {', '.join(available)} (their eval.ks "
            f"sets the cut-offs). Ask for one of those."
        )
    return {
        metric: paired_t_test([a.runs[s][split][metric] for s in shared], [b.runs[s][split][metric] for s in shared])
        for metric in metrics or available
    }
