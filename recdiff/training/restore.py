"""Reopen a finished run: rebuild its data and model from spec.yaml and load a checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recdiff.errors import CheckpointError, RunError, SpecError
from recdiff.spec.loading import load_spec
from recdiff.training.checkpoint import load_checkpoint
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import Prepared, evaluate_prepared, prepare


INFERENCE_FIELDS = (
    "model.sampler", "model.scorer", "model.exclude_history", "eval.", "train.precision", "train.device", "train.threads",
)
"""Spec fields an evaluation may override: they change how a trained model is run, not the model."""


def load_run(run_dir: str | Path, checkpoint: str = "best", overrides: Iterable[str] = ()) -> Prepared:
    """Data, splits and the model of `run_dir` with the weights of `checkpoints/<checkpoint>.pt`.

    Args:
        overrides: ``field=value`` assignments to the saved spec, limited to `INFERENCE_FIELDS`
            (e.g. ``model.sampler.name=ddim`` to evaluate with another sampler).
    """
    run = RunDir.open(run_dir)
    overrides = list(overrides)
    for assignment in overrides:
        if not assignment.split("=", 1)[0].strip().startswith(INFERENCE_FIELDS):
            raise SpecError(
                f"--set {assignment}: a trained run can only be evaluated with other inference settings "
                f"({', '.join(f + ('*' if f.endswith('.') else '') for f in INFERENCE_FIELDS)}); other fields "
                f"would change the model the checkpoint holds. Train a new run to change them."
            )
    spec = load_spec(run.spec_path, overrides)
    prepared = prepare(spec)
    path = run.path / "checkpoints" / f"{checkpoint}.pt"
    state = load_checkpoint(path, prepared.device)
    if state["num_items"] != prepared.data.num_items or state.get("data_fingerprint") != prepared.data.fingerprint():
        raise CheckpointError(
            f"Checkpoint '{path}' was trained on other data than its spec's data.path now holds "
            f"({state['num_items']} items then, {prepared.data.num_items} now, or changed interactions). "
            f"Restore the original data file to evaluate this run."
        )
    try:
        prepared.model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"Checkpoint '{path}' does not fit the model its spec.yaml builds ({str(error).splitlines()[0]}). "
            f"Was spec.yaml edited after training? Restore it, or evaluate with the spec the run was trained with."
        ) from None
    return prepared


def evaluate_run(
    run_dir: str | Path, split: str = "test", checkpoint: str = "best", overrides: Iterable[str] = ()
) -> dict[str, float]:
    """Re-evaluate a saved run on `split` (`val` or `test`), reproducibly (the run's seed fixes the noise).

    `overrides` change inference settings only (see `load_run`).
    """
    prepared = load_run(run_dir, checkpoint, overrides)
    if split == "val" and prepared.spec.train.fit_on == "train+val":
        raise RunError(
            f"Run '{run_dir}' was trained on the validation targets (train.fit_on: train+val), so its validation "
            f"metrics would only measure memorisation. Evaluate it on the test split, and validate a run "
            f"trained with fit_on: train."
        )
    return evaluate_prepared(prepared, split)
