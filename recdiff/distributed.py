"""Data-parallel processes launched by `torchrun`: the process group, and the few collectives recdiff needs.

`torchrun --nproc_per_node N -m recdiff train SPEC` starts N copies of the command with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment; `setup` joins them into one
process group (gloo on the CPU, NCCL on GPUs). A process started alone is world size 1, and every
helper here is then a no-op, so the single-process path is the one recdiff always had.
"""

from __future__ import annotations

import gc
import os
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_rank() -> int:
    """This process's rank as torchrun's environment gives it (0 alone), readable before `setup`."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its machine (which GPU it drives)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


_JOINED: list[bool] = []
"""Holds True while `setup` made the process group, so `teardown` leaves alone one the caller made."""


def setup(device: torch.device) -> None:
    """Join torchrun's process group once: NCCL for CUDA devices, gloo for the CPU; nothing when alone
    or when the caller already made one."""
    if not launched() or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    _JOINED.append(True)


def teardown() -> None:
    """Leave the process group `setup` made (at the end of a run), so the process exits without torch's warning."""
    if _JOINED and dist.is_initialized():
        gc.collect()  # free DDP reducers that referenced the group before it goes
        dist.destroy_process_group()
    _JOINED.clear()


def world_size() -> int:
    """How many processes train together (1 alone)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's index among them (0 alone)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process is rank 0, the one that alone reads and writes the run directory."""
    return rank() == 0


def broadcast(value: T) -> T:
    """Rank 0's ``value`` on every rank (any picklable object); ``value`` itself alone."""
    if not dist.is_initialized():
        return value
    box = [value]
    with torch.inference_mode(False):  # see `gather`
        dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: T) -> list[T]:
    """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
    if not dist.is_initialized():
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    # Evaluation ranks under inference mode; torch 2.2's object collectives update their buffers in place,
    # which inference tensors refuse, so the collective's tensors are made outside it.
    with torch.inference_mode(False):
        dist.all_gather_object(values, value)
    return values


def sum_all(values: list[float], device: torch.device) -> list[float]:
    """The element-wise sum of ``values`` over all ranks (float64, so sums of losses stay exact enough)."""
    if not dist.is_initialized():
        return values
    with torch.inference_mode(False):  # see `gather`
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
    return [float(x) for x in tensor.tolist()]


def shard(index: np.ndarray) -> np.ndarray:
    """This rank's share of a global batch: every world-size-th example from its rank on."""
    return index[rank() :: world_size()]


def rank_seed(seed: int) -> int:
    """A torch seed for this rank's training noise, distinct per rank and fixed by (seed, rank)."""
    return int(np.random.SeedSequence([seed, rank()]).generate_state(1)[0])
