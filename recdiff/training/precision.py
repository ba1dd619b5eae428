"""Mixed precision from the spec: one place decides what `bf16` means on each device."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager[object]:
    """bfloat16 autocast on ``device`` for ``precision == "bf16"``, a no-op context for ``fp32``.

    Autocast runs matmuls and attention in bf16 and keeps reductions such as layer norm and
    softmax in fp32; the model casts logits and scores to fp32 itself, so losses and rankings
    are always computed in full precision.
    """
    device_type = torch.device(device).type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
