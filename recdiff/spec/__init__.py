"""The spec: pydantic models, presets, and loading with overrides."""

from recdiff.spec.loading import COMPONENT_SLOTS, apply_override, dump_spec, load_spec, merge
from recdiff.spec.models import (
    ComponentSpec,
    DataSpec,
    EvalSpec,
    ModelSpec,
    RunSpec,
    SyntheticSpec,
    TrainSpec,
)
from recdiff.spec.presets import PRESETS

__all__ = [
    "COMPONENT_SLOTS",
    "PRESETS",
    "ComponentSpec",
    "DataSpec",
    "EvalSpec",
    "ModelSpec",
    "RunSpec",
    "SyntheticSpec",
    "TrainSpec",
    "apply_override",
    "dump_spec",
    "load_spec",
    "merge",
]
