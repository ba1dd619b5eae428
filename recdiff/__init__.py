"""recdiff: diffusion-based sequential recommendation from named, swappable components.

The public API: the registry functions (`register`, `create`, `available`), spec loading
(`load_spec`), model assembly (`build_model`), training (`train`) and evaluation
(`evaluate`, `evaluate_run`).
"""

from recdiff.errors import RecdiffError
from recdiff.evaluation.evaluate import evaluate_model as evaluate
from recdiff.evaluation.ranking import recommend
from recdiff.models.build import build_model
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.models.sasrec import SASRec
from recdiff.registry import available, create, register
from recdiff.spec import RunSpec, load_spec
from recdiff.training.restore import evaluate_run, load_run
from recdiff.training.trainer import resume, train
from recdiff.version import __version__

__all__ = [
    "DiffusionRecommender",
    "RecdiffError",
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
