"""Where and how a run computes: the device, the seeds, the precision; used by training and evaluation alike."""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager

import numpy as np
import torch

from recdiff.errors import RunError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices), so initialisation and noise repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else the CPU; an unavailable CUDA request is an error.

    Under torchrun, `auto` and `cuda` mean this process's own GPU (``cuda:LOCAL_RANK``).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"train.device is '{name}' but no CUDA device is available here. Use 'auto' or 'cpu'.")
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager[object]:
    """bfloat16 autocast on ``device`` for ``precision == "bf16"``, a no-op context for ``fp32``.

    Autocast runs matmuls and attention in bf16 and keeps reductions such as layer norm and
    softmax in fp32; the model casts logits and scores to fp32 itself, so losses and rankings
    are always computed in full precision.
    """
    device_type = torch.device(device).type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
