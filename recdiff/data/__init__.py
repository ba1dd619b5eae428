"""Interaction data: reading, preprocessing, caching, synthetic generation, sequences, side features, splits and batches."""

from __future__ import annotations

from recdiff.data.batching import Batch, batch_indices, make_batch
from recdiff.data.features import SideFeatures
from recdiff.data.loading import LoadedData, load_data
from recdiff.data.preprocess import PreprocessReport, preprocess
from recdiff.data.readers import read_interactions
from recdiff.data.sequences import SequenceData
from recdiff.data.splits import (
    Split,
    Splits,
    joined,
    latest_per_user,
    leave_one_out,
    longest_per_user,
    make_splits,
    temporal,
)
from recdiff.data.synthetic import generate_synthetic

__all__ = [
    "Batch",
    "LoadedData",
    "PreprocessReport",
    "SequenceData",
    "SideFeatures",
    "Split",
    "Splits",
    "batch_indices",
    "generate_synthetic",
    "joined",
    "latest_per_user",
    "leave_one_out",
    "longest_per_user",
    "load_data",
    "make_batch",
    "make_splits",
    "preprocess",
    "read_interactions",
    "temporal",
]
