"""Keyed noise: standard-normal draws that depend on a key per batch row, not on the batch.

Evaluation must give a user the same scores whatever the batch size, the batch order, the
other users in the batch or the padding. A global generator cannot do that: what a row gets
depends on everything drawn before it. So every row carries an integer key (at evaluation a
hash of the run's seed and the example; in training one fresh value per row from the global
generator, so the seed still fixes everything), and a draw for that row is a pure function of
(key, draw number, position counted from the newest item).

Draws are rows of one fixed table of ``TABLE_ROWS`` standard-normal vectors, generated once
from a fixed seed. Each draw adds two rows chosen by a 32-bit integer hash of those three
numbers and scales the sum by 1/sqrt(2), so it is exactly N(0, I) per vector and the ~2e9
possible pairs make two keys sharing a draw rare. Gathering rows costs a memory copy, where
hashing every element would cost as much as a Transformer block; that matters because the
additive conditioning draws a [B, L, H] tensor at every reverse step.
"""

from __future__ import annotations

import math

import torch

TABLE_ROWS = 2**16
"""Rows of the shared noise table (a power of two, so a hash picks a row with a mask)."""
TABLE_SEED = 20231127
"""Seed of the table; fixed, so that draws repeat across processes and machines."""
MASK32 = 0xFFFFFFFF
_tables: dict[tuple[int, str, torch.dtype], torch.Tensor] = {}


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash of int64 tensors (xor-shift-multiply rounds; every output bit depends on every input bit).

    Works on int64 so that products of two 32-bit values only overflow into bits that the mask
    drops; values are taken modulo 2**32 first.
    """
    x = x & MASK32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def noise_table(hidden: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The shared [TABLE_ROWS, hidden] standard-normal table on ``device`` (made once per device and dtype)."""
    key = (hidden, str(device), dtype)
    table = _tables.get(key)
    if table is None:
        generator = torch.Generator().manual_seed(TABLE_SEED + hidden)
        table = torch.randn(TABLE_ROWS, hidden, generator=generator).to(device=device, dtype=dtype)
        _tables[key] = table
    return table


class NoiseStream:
    """Successive standard-normal draws for a batch, row ``b`` a function of ``keys[b]`` alone.

    The n-th draw of a stream (counting :meth:`normal` and :meth:`normal_sequence` calls
    alike) is keyed by (row key, n), so two streams with the same keys repeat each other
    exactly as long as they are asked for the same shapes in the same order, which the
    model's fixed call sequence guarantees.

    Args:
        keys: int64 [B], one key per batch row (any values; they are hashed).
    """

    def __init__(self, keys: torch.Tensor) -> None:
        self.keys = mix32(keys.long())
        self.draws = 0

    def copy(self) -> NoiseStream:
        """A stream that repeats this one's coming draws (so each model of an ensemble draws as it would alone)."""
        twin = NoiseStream.__new__(NoiseStream)
        twin.keys, twin.draws = self.keys, self.draws
        return twin

    def tile(self, times: int) -> NoiseStream:
        """A twin over ``times`` stacked copies of the batch, each copy drawing exactly what this stream draws next.

        For one batched pass over several versions of each row (classifier-free guidance's
        conditional and unconditional halves); `catch_up` then skips this stream past its draws.
        """
        twin = self.copy()
        twin.keys = self.keys.repeat(times)
        return twin

    def catch_up(self, twin: NoiseStream) -> None:
        """Skip the draws a twin (`copy`, `tile`) made in this stream's place."""
        self.draws = max(self.draws, twin.draws)

    @classmethod
    def keyed(cls, seed: int, ids: torch.Tensor) -> NoiseStream:
        """Rows keyed by (seed, id): for evaluation, where ``ids`` name examples independently of batching."""
        return cls(mix32(ids.long()) ^ int(mix32(torch.tensor(seed)).item()))

    @classmethod
    def fresh(cls, batch: int, device: torch.device | str) -> NoiseStream:
        """Rows keyed by ``batch`` values of the global generator: for training, fixed by the run's seed."""
        return cls(torch.randint(0, 2**32, (batch,), device=device))

    def repeat(self, times: int) -> NoiseStream:
        """A stream for ``times`` stacked copies of the batch ([times * B] rows), each copy independent."""
        copy = torch.arange(times, device=self.keys.device).repeat_interleave(len(self.keys))
        return NoiseStream(self.keys.repeat(times) ^ mix32(copy * 0x9E3779B9 + 1))

    def __len__(self) -> int:
        return len(self.keys)

    def normal(self, hidden: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The next draw, one vector per row: [B, hidden] ~ N(0, I)."""
        return self._rows(self._next_keys(), hidden, dtype)

    def uniform(self) -> torch.Tensor:
        """The next draw, one number per row: [B] uniform in [0, 1), from the row's key alone."""
        return self._next_keys().double() / 2**32

    def normal_sequence(self, length: int, hidden: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The next draw, one vector per row and position: [B, length, hidden] ~ N(0, I).

        Position ``length - 1`` is the newest (histories are left-padded), and a value is keyed
        by its distance from it, so more left padding leaves the real positions' values alone.
        """
        from_end = torch.arange(length - 1, -1, -1, device=self.keys.device)
        keys = mix32(self._next_keys()[:, None] ^ mix32(from_end * 0x85EBCA6B + 0x27D4EB2F)[None, :])
        return self._rows(keys, hidden, dtype)

    def _next_keys(self) -> torch.Tensor:
        self.draws += 1
        return mix32(self.keys ^ mix32(torch.tensor(self.draws, device=self.keys.device) * 0xC2B2AE35))

    def _rows(self, keys: torch.Tensor, hidden: int, dtype: torch.dtype) -> torch.Tensor:
        """Sum of two distinct table rows picked by ``keys``, scaled back to unit variance."""
        table = noise_table(hidden, keys.device, dtype)
        first = keys & (TABLE_ROWS - 1)
        offset = 1 + mix32(keys ^ 0x5BD1E995) % (TABLE_ROWS - 1)
        second = (first + offset) & (TABLE_ROWS - 1)
        return (table[first] + table[second]) * math.sqrt(0.5)
