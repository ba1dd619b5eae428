"""Small building blocks shared by conditioning blocks and backbones."""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal features of (possibly fractional) steps t [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class StepEmbedding(nn.Module):
    """Step embedding d: sinusoidal features of the step rescaled to 0..1000, then Linear -> SiLU -> Linear."""

    def __init__(self, hidden: int, num_steps: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.scale = 1000.0 / num_steps
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t [B] int64 -> [B, H].

        A reverse sampler passes one step for the whole batch as an expanded tensor (stride 0);
        the embedding is then computed once and expanded, not B times.
        """
        if t.dim() == 1 and len(t) > 1 and t.stride(0) == 0:
            return self.mlp(sinusoidal_embedding(t[:1] * self.scale, self.hidden)).expand(len(t), -1)
        return self.mlp(sinusoidal_embedding(t * self.scale, self.hidden))


class MultiHeadAttention(nn.Module):
    """Multi-head attention on `scaled_dot_product_attention`; `mask` is True where a key may be seen."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, query: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query [B, Q, H] attends over context [B, L, H]; mask broadcasts to [B, 1, Q, L]."""
        q = rearrange(self.query(query), "b q (h d) -> b h q d", h=self.heads)
        k, v = rearrange(self.key_value(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        p = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(rearrange(attended, "b h q d -> b q (h d)"))
