"""Reopen a finished run: rebuild its data and model from spec.yaml, load a checkpoint, evaluate or analyse it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from recdiff import distributed, jsontext
from recdiff.data import SequenceData
from recdiff.errors import CheckpointError, RunError, SpecError, describe
from recdiff.evaluation.analysis import analyze_ranks, head_items
from recdiff.evaluation.evaluate import limit_split, model_ranker, popularity_scores, rank_examples
from recdiff.evaluation.prepared import Prepared, evaluate_prepared, prepare
from recdiff.models.base import Recommender
from recdiff.progress import Reporter
from recdiff.spec.diff import covered
from recdiff.spec.loading import load_spec
from recdiff.spec.models import RunSpec
from recdiff.training.checkpoint import DATA_LOCATION, check_same_data, edited_fields, load_checkpoint
from recdiff.training.rundir import RunDir
from recdiff.training.vocab import Vocabulary

INFERENCE_FIELDS = (
    "model.sampler", "model.scorer", "model.exclude_history", "model.guidance.params.weight", "eval.", "train.precision",
    "train.device", "train.threads", "train.log_every",
)
"""Spec fields an evaluation or a `Predictor` may override: they change how a trained model is run, not the model."""


def load_run(
    run_dir: str | Path, checkpoint: str = "best", overrides: Iterable[str] = (), split: str | None = None
) -> Prepared:
    """Data, splits and the model of `run_dir` with the weights of `checkpoints/<checkpoint>.pt`.

    It reads the run's training data (to evaluate on its splits); a run trained before
    ``vocab.json`` existed gets one here (see `add_vocabulary`). To recommend without the data,
    use `recdiff.serving.predictor.Predictor`.

    Args:
        overrides: ``field=value`` assignments to the saved spec, limited to `INFERENCE_FIELDS`
            (e.g. ``model.sampler.name=ddim`` to evaluate with another sampler).
        split: The split it will be evaluated on, refused when the run trained on its targets
            (``val`` for a ``train.fit_on: train+val`` refit).
    """
    run = RunDir.open(run_dir)
    spec = load_spec(run.spec_path, inference_overrides(overrides))
    if split == "val" and spec.train.fit_on == "train+val":
        raise RunError(
            f"Run '{run_dir}' was trained on the validation targets (train.fit_on: train+val), so its validation "
            f"metrics would only measure memorisation. Evaluate it on the test split, and validate a run "
            f"trained with fit_on: train."
        )
    prepared = prepare(spec)
    path = run.path / "checkpoints" / f"{checkpoint}.pt"
    state = load_checkpoint(path, prepared.device)
    check_same_data(state, prepared.data, path, "evaluate")
    check_unedited(run_dir, state, spec, path)
    load_weights(prepared.model, state, path)
    add_vocabulary(run, prepared.data)
    return prepared


def inference_overrides(overrides: Iterable[str]) -> list[str]:
    """``overrides`` as a list, each checked to set one of `INFERENCE_FIELDS` (a trained model stays the model it is).

    Raises:
        SpecError: One sets another field.
    """
    overrides = list(overrides)
    for assignment in overrides:
        if not covered(assignment.split("=", 1)[0].strip(), INFERENCE_FIELDS):
            raise SpecError(
                f"--set {assignment}: a trained run can only be evaluated, analysed or served with other inference settings "
                f"({', '.join(f + ('*' if f.endswith('.') else '') for f in INFERENCE_FIELDS)}); other fields "
                f"would change the model the checkpoint holds. Train a new run to change them."
            )
    return overrides


def check_unedited(run_dir: str | Path, state: dict[str, Any], spec: RunSpec, path: Path) -> None:
    """Refuse a run whose spec.yaml was edited since training (other than inference settings, data location, loggers)."""
    edited = edited_fields(state, spec, (*INFERENCE_FIELDS, *DATA_LOCATION, "train.loggers"))
    if edited:
        raise CheckpointError(
            f"Run '{run_dir}': its spec.yaml was edited after training ({'; '.join(edited)}), so it no longer "
            f"describes the model in '{path}'. Restore those fields to use the run; inference settings "
            f"({', '.join(INFERENCE_FIELDS)}) may be changed with --set instead."
        )


def load_weights(model: Recommender, state: dict[str, Any], path: Path) -> None:
    """Load the checkpoint's weights into the model its spec builds, or say why they do not fit."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"Checkpoint '{path}' does not fit the model its spec.yaml builds ({describe(error)}). "
            f"Was spec.yaml edited after training? Restore it, or use the spec the run was trained with."
        ) from None


def add_vocabulary(run: RunDir, data: SequenceData) -> None:
    """Give a run trained before vocab.json existed its vocabulary, read from the data just loaded.

    Best effort: a run directory that cannot be written (read-only, full) is still used; only
    its next data-free load (`recdiff.serving.predictor.Predictor`) reads the data again.
    """
    if run.vocab_path.is_file():
        return
    try:
        run.write_vocab(Vocabulary.of(data))
    except RunError:
        pass


def evaluate_run(
    run_dir: str | Path | Sequence[str | Path],
    split: str = "test",
    checkpoint: str = "best",
    overrides: Iterable[str] = (),
    console: Console | None = None,
) -> dict[str, float]:
    """Re-evaluate a saved run on `split` (`val` or `test`), reproducibly (the run's seed fixes the noise).

    Several run directories are evaluated as one ensemble: every model scores all items and
    users get the mean of the models' softmax distributions. The runs must share their data
    settings and `model.exclude_history`; evaluation settings and the noise seed are the first
    run's. `overrides` change inference settings only (see `load_run`), of every run. Given a
    `console`, the batches' progress is shown there (as training shows it, see `recdiff.progress`).
    Started by torchrun as several processes, each ranks its share of the batches and every
    process returns the metrics of the whole split.
    """
    run_dirs = [run_dir] if isinstance(run_dir, (str, Path)) else list(run_dir)
    if not run_dirs:
        raise RunError("No run directory to evaluate: pass one, or several to evaluate them as an ensemble.")
    overrides = list(overrides)
    runs = [load_run(path, checkpoint, overrides, split) for path in run_dirs]
    first = runs[0]
    for path, prepared in zip(run_dirs[1:], runs[1:]):
        _check_ensemble_member(run_dirs[0], first, path, prepared)
    distributed.setup(first.device)  # under torchrun the processes share the batches (rank_examples)
    try:
        return evaluate_prepared(first, split, [prepared.model for prepared in runs], _reporter(first, console))
    finally:
        distributed.teardown()


def _reporter(prepared: Prepared, console: Console | None) -> Reporter | None:
    """Progress on ``console`` at the run's `train.log_every`, or none without a console."""
    return None if console is None else Reporter(console, prepared.spec.train.log_every)


def _check_ensemble_member(first_dir: str | Path, first: Prepared, path: str | Path, other: Prepared) -> None:
    """An ensemble ranks one split of one catalogue, so its runs must agree on the data and on exclusion."""
    ours, theirs = first.spec.data.model_dump(exclude={"cache"}), other.spec.data.model_dump(exclude={"cache"})
    differing = sorted(key for key in ours if ours[key] != theirs[key])
    if differing or other.data.fingerprint() != first.data.fingerprint():
        what = ", ".join(f"data.{key}" for key in differing) or (
            "the same settings now give other interactions: a changed file, or synthetic data drawn with another seed"
        )
        raise RunError(
            f"Runs '{first_dir}' and '{path}' were trained with different data settings "
            f"({what}); an ensemble scores one "
            f"split of one catalogue, so its runs must share the data section of their specs. Ensemble runs "
            f"trained on the same data."
        )
    if first.spec.model.exclude_history != other.spec.model.exclude_history:
        raise RunError(
            f"Runs '{first_dir}' and '{path}' disagree on model.exclude_history, so the ensemble would both rank and "
            f"not rank seen items. Add --set model.exclude_history=true (or false) to evaluate them alike."
        )


def analyze_run(
    run_dir: str | Path,
    split: str = "test",
    checkpoint: str = "best",
    out: str | Path | None = None,
    points: int = 3000,
    plots: bool = True,
    overrides: Iterable[str] = (),
    console: Console | None = None,
) -> dict[str, Any]:
    """Analyse a saved run on ``split``: group metrics in ``analysis.json`` and, with ``plots``, two PNGs.

    Given a `console`, the ranking's progress is shown there.

    Returns:
        ``{"split", "groups": {"items": [...], "lengths": [...]}, "files": {...}}``.
    """
    p = load_run(run_dir, checkpoint, overrides, split)
    e = p.spec.eval
    examples = limit_split(getattr(p.splits, split), e.max_users)
    reps: dict[int, np.ndarray] = {}

    def keep(batch: Any, batch_reps: torch.Tensor) -> None:
        reps.update(zip(batch.example.tolist(), batch_reps[0].cpu().numpy()))

    model = p.model.eval()
    rank = model_ranker(
        [model], p.device, p.spec.train.precision, e.ensemble, e.item_chunk, keep, p.spec.model.exclude_history
    )
    ranks = rank_examples(rank, p.data, examples, e.batch_size, p.device, p.spec.seed, _reporter(p, console), split)
    counts = popularity_scores(p.data, examples).numpy()
    targets = p.data.items[examples.end] - 1
    groups = analyze_ranks(ranks, targets, examples.history_lengths(), counts, e.ks)
    folder = Path(out) if out is not None else Path(run_dir) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "split": split,
        "checkpoint": checkpoint,
        "groups": {name: [row.to_dict() for row in rows] for name, rows in groups.items()},
        "files": {"analysis": str(folder / "analysis.json")},
    }
    if plots:
        from recdiff.evaluation.plots import plot_groups, plot_representations  # needs matplotlib

        preferred: list[str] = ["hr@10", "ndcg@10"]
        shown = [m for m in preferred if m in groups["items"][0].metrics] or list(groups["items"][0].metrics)[:2]
        report["files"]["groups"] = str(plot_groups(groups, shown, folder / "groups.png", f"{p.spec.name}, {split}"))
        sample = np.random.default_rng(p.spec.seed).permutation(len(examples))[:points]
        matrix = np.stack([reps[int(examples.end[i])] for i in sample])
        head = head_items(counts)[targets[sample]]
        method = plot_representations(
            matrix, head, folder / "representations.png", f"{p.spec.name}: generated target representations", p.spec.seed
        )
        report["files"]["representations"] = str(folder / "representations.png")
        report["projection"] = method
    (folder / "analysis.json").write_text(jsontext.dumps(report, indent=2) + "\n")
    return report
