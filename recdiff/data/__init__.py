"""Interaction data: reading, synthetic generation, sequences, splits and batches."""

from __future__ import annotations

from recdiff.data.batching import Batch, batch_indices, make_batch
from recdiff.data.readers import read_interactions
from recdiff.data.sequences import SequenceData
from recdiff.data.splits import Split, Splits, leave_one_out, make_splits, temporal
from recdiff.data.synthetic import generate_synthetic
from recdiff.spec.models import DataSpec

__all__ = [
    "Batch",
    "SequenceData",
    "Split",
    "Splits",
    "batch_indices",
    "generate_synthetic",
    "leave_one_out",
    "load_sequences",
    "make_batch",
    "make_splits",
    "read_interactions",
    "temporal",
]


def load_sequences(spec: DataSpec, seed: int) -> SequenceData:
    """The sequences a spec names: its interaction file, or synthetic data when ``spec.path`` is empty.

    Args:
        spec: The data spec.
        seed: Seed of the synthetic generator (unused for a file).
    """
    frame = generate_synthetic(spec.synthetic, seed) if spec.path is None else read_interactions(spec)
    return SequenceData.from_frame(frame)
