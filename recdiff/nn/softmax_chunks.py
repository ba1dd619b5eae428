"""Exact softmax cross-entropy over a catalogue computed one block of items at a time.

With P rows and N items, the whole logit matrix, its softmax and its gradient are each P x N
floats: 1 GiB apiece for 256 rows and 1,000,000 items. Here the forward pass keeps, per row,
only the running log-sum-exp, the label's logit and the sum and count of the finite logits;
the backward pass recomputes each block's logits and turns them into that block's gradient
(softmax minus the smoothed target), so memory grows with rows x block, never rows x items.

Per row, with finite logits F (the seen items masked to -inf are not in F) and smoothing e:

    loss = lse(s) - (1 - e) s_y - e * mean_{i in F} s_i
    d loss / d s_i = softmax(s)_i - (1 - e) [i = y] - e / |F|     (i in F; 0 otherwise)

which is `recdiff.nn.layers.cross_entropy` written out, so the two agree to float rounding.
A `torch.utils.checkpoint` per block would not do: autograd's backward of each block's slice
of the item table makes a zero gradient the size of the whole table, so the pass costs one
table-sized buffer per block (at 1,000,000 x 64, twice the time and 2 GiB more in a one-off measurement).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from recdiff.nn.scorers import Scorer


def widened(logits: torch.Tensor) -> torch.Tensor:
    """Logits in fp32 (from bf16 or fp16 under autocast), or fp64 when computed in fp64 (for exact checks)."""
    return logits if logits.dtype == torch.float64 else logits.float()


def _blocks(total: int, chunk: int) -> range:
    return range(0, total, chunk)


def _masked(seen: torch.Tensor | None, labels: torch.Tensor, lo: int, hi: int) -> torch.Tensor | None:
    """Bool [P, hi - lo], True on each row's seen items inside block [lo, hi) other than its label; None if none."""
    if seen is None:
        return None
    inside = (seen >= lo) & (seen < hi) & (seen != labels[:, None])
    if not bool(inside.any()):
        return None
    rows = torch.arange(len(seen), device=seen.device)[:, None].expand_as(seen)
    mask = torch.zeros(len(seen), hi - lo, dtype=torch.bool, device=seen.device)
    return mask.index_put_((rows[inside], seen[inside] - lo), torch.tensor(True, device=seen.device))


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy whose forward and backward both walk the items block by block."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        seen: torch.Tensor | None,
        scorer: Scorer,
        smoothing: float,
        chunk: int,
    ) -> torch.Tensor:
        rows = torch.arange(len(x), device=x.device)
        wide = torch.float64 if x.dtype == torch.float64 else torch.float32
        lse = torch.full((len(x),), -math.inf, device=x.device, dtype=wide)
        picked = torch.zeros(len(x), device=x.device, dtype=wide)
        total = torch.zeros(len(x), device=x.device, dtype=wide)
        finite = torch.zeros(len(x), device=x.device, dtype=wide)
        for lo in _blocks(len(items), chunk):
            hi = min(lo + chunk, len(items))
            logits = widened(scorer(x, items[lo:hi]))
            mask = _masked(seen, labels, lo, hi)
            if mask is not None:
                logits.masked_fill_(mask, -math.inf)
            lse = torch.logaddexp(lse, logits.logsumexp(dim=1))
            here = (labels >= lo) & (labels < hi)
            picked[here] = logits[rows[here], labels[here] - lo]
            if smoothing:
                kept = torch.ones_like(logits, dtype=torch.bool) if mask is None else ~mask
                total += logits.masked_fill(~kept, 0.0).sum(dim=1)
                finite += kept.sum(dim=1)
        per_row = lse - picked
        if smoothing:
            per_row = lse - (1.0 - smoothing) * picked - smoothing * total / finite
        ctx.save_for_backward(x, items, labels, lse, finite, *(() if seen is None else (seen,)))
        ctx.scorer, ctx.smoothing, ctx.chunk = scorer, smoothing, chunk
        ctx.autocast = (x.device.type, torch.is_autocast_enabled(x.device.type), torch.get_autocast_dtype(x.device.type))
        return per_row.mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, items, labels, lse, finite, *rest = ctx.saved_tensors
        seen = rest[0] if rest else None
        smoothing: float = ctx.smoothing
        device, enabled, dtype = ctx.autocast
        rows = torch.arange(len(x), device=x.device)
        grad_x = torch.zeros_like(x)
        grad_items = torch.zeros_like(items)
        scale = grad / len(x)
        for lo in _blocks(len(items), ctx.chunk):
            hi = min(lo + ctx.chunk, len(items))
            x_in = x.detach().requires_grad_(ctx.needs_input_grad[0])
            block = items[lo:hi].detach().requires_grad_(ctx.needs_input_grad[1])
            with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                logits = widened(ctx.scorer(x_in, block))
            with torch.no_grad():
                g = (logits - lse[:, None]).exp_()
                mask = _masked(seen, labels, lo, hi)
                if smoothing:
                    g -= smoothing / finite[:, None]
                if mask is not None:
                    g.masked_fill_(mask, 0.0)
                here = (labels >= lo) & (labels < hi)
                g[rows[here], labels[here] - lo] -= 1.0 - smoothing
                g *= scale
            wanted = [t for t in (x_in, block) if t.requires_grad]
            grads = iter(torch.autograd.grad(logits, wanted, g))
            if x_in.requires_grad:
                grad_x += next(grads)
            if block.requires_grad:
                grad_items[lo:hi] = next(grads)
        return grad_x, grad_items, None, None, None, None, None


def chunked_cross_entropy(
    x: torch.Tensor,
    items: torch.Tensor,
    labels: torch.Tensor,
    scorer: Scorer,
    seen: torch.Tensor | None = None,
    smoothing: float = 0.0,
    chunk: int = 16384,
) -> torch.Tensor:
    """`cross_entropy(mask_seen(scorer(x, items).float(), seen, labels), labels, smoothing)` in item blocks of `chunk`.

    Args:
        x: Representations [P, H].
        items: Item table [N, H].
        labels: Item rows [P] (0..N-1).
        scorer: Scores x against a block of items; its columns are independent (the scorer contract).
        seen: Item rows [P, L] each row has seen (negative = none), left out of its softmax.
        smoothing: Label smoothing over each row's finite logits.
        chunk: Items per block.

    Returns:
        The mean loss, an fp32 scalar whose backward also goes block by block.
    """
    loss: torch.Tensor = _ChunkedCrossEntropy.apply(x, items, labels, seen, scorer, smoothing, chunk)  # type: ignore[no-untyped-call]
    return loss
