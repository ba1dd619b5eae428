"""Imports every module that registers built-in components, in one place (spaCy's registrations.py)."""

from recdiff.data import datasets  # noqa: F401
from recdiff.diffusion import noise, samplers, schedules, timesteps  # noqa: F401
from recdiff.models import build  # noqa: F401
from recdiff.nn import backbones, conditioning, denoisers, guidance, losses, sampled_softmax, scorers  # noqa: F401
from recdiff.training import loggers  # noqa: F401
