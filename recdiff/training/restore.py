"""Reopen a finished run: rebuild its data and model from spec.yaml and load a checkpoint."""

from __future__ import annotations

from pathlib import Path

from recdiff.errors import CheckpointError
from recdiff.evaluation.evaluate import evaluate_model
from recdiff.spec.loading import load_spec
from recdiff.training.checkpoint import load_checkpoint
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import Prepared, prepare


def load_run(run_dir: str | Path, checkpoint: str = "best") -> Prepared:
    """Data, splits and the model of `run_dir` with the weights of `checkpoints/<checkpoint>.pt`."""
    run = RunDir.open(run_dir)
    spec = load_spec(run.spec_path)
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


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best") -> dict[str, float]:
    """Re-evaluate a saved run on `split` (`val` or `test`), reproducibly (the run's seed fixes the noise)."""
    p = load_run(run_dir, checkpoint)
    e = p.spec.eval
    return evaluate_model(
        p.model, p.data, getattr(p.splits, split), e.ks, batch_size=e.batch_size,
        device=p.device, seed=p.spec.seed, max_users=e.max_users, precision=p.spec.train.precision,
        ensemble=e.ensemble, chunk=e.item_chunk,
    )
