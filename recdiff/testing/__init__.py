"""Contract checks every registered component must pass, for recdiff's tests and for plugin authors.

Each check takes a kind and an entry name (so it works for any registered component, a
plugin's included) and raises AssertionError with what is wrong. recdiff's own suite runs
them over `recdiff.available(kind)`, so a newly registered component is checked at once;
a plugin's tests call them on its own entries.
"""

from recdiff.testing.denoisers import check_denoiser
from recdiff.testing.inference import check_sampler, check_scorer
from recdiff.testing.loggers import check_logger
from recdiff.testing.losses import check_loss
from recdiff.testing.modules import check_backbone, check_conditioning
from recdiff.testing.params import check_params_match_factory, params_mismatches

__all__ = [
    "check_backbone",
    "check_conditioning",
    "check_denoiser",
    "check_logger",
    "check_loss",
    "check_params_match_factory",
    "check_sampler",
    "check_scorer",
    "params_mismatches",
]
