"""recdiff: diffusion-based sequential recommendation from named, swappable components.

The public API: the registry functions (`register`, `create`, `available`), spec loading
(`load_spec`), model assembly (`build_model`), training (`train`, `resume`), evaluation
(`evaluate`, `evaluate_run`, `load_run`) and recommending in the data's own ids from a
trained run (`recommend`, `Predictor`, `Recommendation`).

Importing `recdiff` is cheap: each name is imported from its module the first time it is
used (PEP 562), so `import recdiff` in a plugin or a CLI start-up does not pay for torch,
pandas and the trainer until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recdiff.version import __version__

if TYPE_CHECKING:
    from recdiff.errors import RecdiffError
    from recdiff.evaluation.evaluate import evaluate_model as evaluate
    from recdiff.models.build import build_model
    from recdiff.models.diffusion import DiffusionRecommender
    from recdiff.models.late_fusion import LateFusionRecommender
    from recdiff.models.sasrec import SASRec
    from recdiff.registry import available, create, register
    from recdiff.serving.predictor import Predictor, Recommendation, recommend
    from recdiff.spec import RunSpec, load_spec
    from recdiff.training.restore import evaluate_run, load_run
    from recdiff.training.trainer import resume, train

_EXPORTS: dict[str, tuple[str, str]] = {
    "DiffusionRecommender": ("recdiff.models.diffusion", "DiffusionRecommender"),
    "LateFusionRecommender": ("recdiff.models.late_fusion", "LateFusionRecommender"),
    "Predictor": ("recdiff.serving.predictor", "Predictor"),
    "RecdiffError": ("recdiff.errors", "RecdiffError"),
    "Recommendation": ("recdiff.serving.predictor", "Recommendation"),
    "RunSpec": ("recdiff.spec", "RunSpec"),
    "SASRec": ("recdiff.models.sasrec", "SASRec"),
    "available": ("recdiff.registry", "available"),
    "build_model": ("recdiff.models.build", "build_model"),
    "create": ("recdiff.registry", "create"),
    "evaluate": ("recdiff.evaluation.evaluate", "evaluate_model"),
    "evaluate_run": ("recdiff.training.restore", "evaluate_run"),
    "load_run": ("recdiff.training.restore", "load_run"),
    "load_spec": ("recdiff.spec", "load_spec"),
    "recommend": ("recdiff.serving.predictor", "recommend"),
    "register": ("recdiff.registry", "register"),
    "resume": ("recdiff.training.trainer", "resume"),
    "train": ("recdiff.training.trainer", "train"),
}
"""Public name -> (module, attribute) it is imported from on first use."""

__all__ = [
    "DiffusionRecommender",
    "LateFusionRecommender",
    "Predictor",
    "RecdiffError",
    "Recommendation",
    "RunSpec",
    "SASRec",
    "__version__",
    "available",
    "build_model",
    "create",
    "evaluate",
    "evaluate_run",
    "load_run",
    "load_spec",
    "recommend",
    "register",
    "resume",
    "train",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it, so the next look-up is an ordinary attribute."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recdiff' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
