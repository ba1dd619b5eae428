"""Checkpoints of plain tensors and values, loadable with `weights_only=True`; written atomically."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from recdiff.data.sequences import SequenceData
from recdiff.errors import CheckpointError, SpecError, describe
from recdiff.spec.diff import changes
from recdiff.spec.loading import load_spec
from recdiff.spec.models import RunSpec
from recdiff.training.files import write_atomic

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "model", "spec", "epoch", "num_items")
DATA_LOCATION = ("data.path", "data.item_file", "data.user_file", "data.cache")
"""Where the data is read from and cached: it may move after training, since `check_same_data` checks its content."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` all or nothing (`write_atomic`), so a crash or a full disk never leaves a half-written checkpoint.

    Raises:
        RunError: It could not be written; the checkpoint there before is unchanged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda temporary: torch.save({"format": FORMAT_VERSION, **state}, temporary))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (no pickled objects) and check it has what recdiff wrote."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint '{path}' does not exist. A finished run keeps checkpoints/best.pt and "
            f"checkpoints/last.pt in its run directory; check the run directory you passed."
        )
    try:
        state: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(
            f"Checkpoint '{path}' could not be loaded ({describe(error)}). "
            f"The file is corrupt, truncated or not a recdiff checkpoint; use the run's other checkpoint "
            f"(best.pt or last.pt) or train again."
        ) from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(
            f"Checkpoint '{path}' is not a recdiff checkpoint (missing {', '.join(missing)}). "
            f"Pass a run directory written by `recdiff train`."
        )
    if state["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint '{path}' has format version {state['format']}, but this recdiff reads version "
            f"{FORMAT_VERSION}. Use the recdiff version that wrote it."
        )
    return state


def check_same_data(state: dict[str, Any], data: SequenceData, path: Path, action: str) -> None:
    """Refuse checkpoint ``state`` (read from ``path``) when it was trained on other data than ``data``.

    The item count and the interactions' fingerprint must both match: a resumed or evaluated run
    on changed data would silently mean something else. ``action`` says what the user wanted
    (``resume``, ``evaluate``).
    """
    if state["num_items"] != data.num_items or state.get("data_fingerprint") != data.fingerprint():
        raise CheckpointError(
            f"Checkpoint '{path}' was trained on other data than its spec's data now gives "
            f"({state['num_items']} items then, {data.num_items} now, or changed interactions). "
            f"Restore the original data file to {action} this run."
        )


def edited_fields(state: dict[str, Any], spec: RunSpec, may_change: Collection[str]) -> list[str] | None:
    """``path: trained -> now`` for each field where ``spec`` departs from the spec checkpoint ``state`` was trained with.

    Both are resolved alike (defaults filled in), so only real edits show; ``may_change`` lists
    fields allowed to differ (see `recdiff.spec.diff.changes`). None when the stored spec was
    written by an older recdiff and no longer validates: then nothing can be compared, and the
    caller relies on the weights fitting the model.
    """
    try:
        trained = load_spec(state["spec"])
    except SpecError:
        return None
    return changes(trained, spec, ignore=may_change)
