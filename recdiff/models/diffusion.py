"""DiffusionRecommender: DiffuRec / DiffuRecSys assembled from registered components."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from recdiff.diffusion.noise import NoiseSampler
from recdiff.diffusion.process import GaussianDiffusion
from recdiff.diffusion.samplers import ReverseSampler
from recdiff.diffusion.timesteps import TimestepSampler
from recdiff.models.base import Recommender
from recdiff.models.embedding import ItemEmbeddings
from recdiff.nn.backbones import Backbone
from recdiff.nn.conditioning import ConditioningBlock
from recdiff.nn.guidance import Guidance
from recdiff.nn.layers import Dropout, StepEmbedding
from recdiff.nn.losses import Loss
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.scorers import DotScorer, Scorer


class DiffusionRecommender(ItemEmbeddings, Recommender):
    """Generates the next item's embedding by reverse diffusion conditioned on the history.

    Training noises the target's embedding to x_s, the approximator reconstructs x0_hat from
    the history and x_s, and a cross-entropy over x0_hat . e_i for all items is minimised.
    Inference runs the reverse sampler from N(0, I) and scores items against the final x_0.

    Args:
        num_items: Real items; ids are 1..num_items, id 0 is padding.
        hidden: Embedding and approximator width H.
        max_len: Longest history (size of the positional table).
        process: Diffusion constants.
        backbone: Built approximator backbone.
        conditioning: Built conditioning block.
        noise: Built training-noise sampler.
        timesteps: Built training-step sampler.
        sampler: Built reverse sampler.
        scorer: Built scorer of x_0 against the item table.
        dropout: Dropout on the approximator output.
        emb_dropout: Dropout on history embeddings.
        positional: Whether learned positional embeddings are added to the history.
        label_smoothing: Share of each label's probability spread over all items in the loss.
        mask_history_in_loss: Leave seen items out of the training softmax.
        objective: The training loss over the item table (the whole softmax when None).
        loss_scorer: Scorer of the training loss in place of the family's own (see `default_loss_scorer`).
        target_signal: What the conditioning receives: x_t + d (`noised`), d alone (`step`) or zeros (`none`).
        guidance: Built guidance: which training histories are dropped and what the reverse sampler calls
            (None: no guidance).
        item_dropout: Training only: the chance that a history item other than the newest becomes padding.
    """

    default_loss_scorer: Scorer = DotScorer()
    """Training scores x0_hat . e_i whatever `scorer` ranks with: the cross-entropy of both papers."""

    def __init__(
        self,
        num_items: int,
        hidden: int,
        max_len: int,
        process: GaussianDiffusion,
        backbone: Backbone,
        conditioning: ConditioningBlock,
        noise: NoiseSampler,
        timesteps: TimestepSampler,
        sampler: ReverseSampler,
        scorer: Scorer,
        dropout: float = 0.1,
        emb_dropout: float = 0.3,
        positional: bool = False,
        label_smoothing: float = 0.0,
        mask_history_in_loss: bool = False,
        objective: Loss | None = None,
        loss_scorer: Scorer | None = None,
        target_signal: str = "noised",
        guidance: Guidance | None = None,
        item_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= item_dropout < 1.0:
            raise ValueError(f"item_dropout must be in [0, 1), got {item_dropout}")
        self.item_dropout = item_dropout
        self.set_objective(num_items, objective, label_smoothing, mask_history_in_loss, loss_scorer)
        self.target_signal = target_signal
        self.max_len = max_len
        # Components that read padding get every history at max_len and a padding row learned like
        # an item (the original code's); otherwise padding is invisible and its row stays zero.
        self.fixed_width = backbone.sees_padding or conditioning.sees_padding
        self.add_embeddings(num_items, hidden, max_len, positional, emb_dropout, None if self.fixed_width else 0)
        self.step_embedding = StepEmbedding(hidden, process.num_steps)
        self.backbone = backbone
        self.conditioning = conditioning
        self.out_dropout = Dropout(dropout)
        self.out_norm = nn.LayerNorm(hidden)
        self.process = process
        self.noise = noise
        self.timesteps = timesteps
        self.sampler = sampler
        self.scorer = scorer
        self.guidance = Guidance() if guidance is None else guidance

    def encode_history(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """history [B, L] left-padded ids -> embeddings [B, L, H] and mask [B, L] (True on real items).

        Components that read padding see every history at exactly max_len (left-padded, or its
        newest max_len items), as the original code feeds them, so a user's scores do not depend
        on the batch's longest history.
        """
        if self.fixed_width and history.shape[1] > self.max_len:
            history = history[:, -self.max_len:]
        elif self.fixed_width:
            history = F.pad(history, (self.max_len - history.shape[1], 0))
        return self.encode(history)

    def approximate(
        self, h: torch.Tensor, mask: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        """Reconstruct x0_hat [B, H] from encoded history h [B, L, H], mask, x_t [B, H] and steps t [B].

        Positions the conditioning block appends (the `token` block's) are real ones, and the
        output is read at the last of them.
        """
        target = self.conditioning_target(x_t, t)
        z = self.conditioning(h, target, mask, noise)
        if z.shape[1] > mask.shape[1]:
            mask = F.pad(mask, (0, z.shape[1] - mask.shape[1]), value=True)
        out = self.backbone.last(
            z, mask, lambda index, hidden: self.conditioning.before_block(index, hidden, target, mask, noise)
        )
        return self.out_norm(self.out_dropout(out))

    def conditioning_target(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the conditioning block receives [B, H]: x_t + d, or for the ablations d alone or zeros."""
        step = self.step_embedding(t)
        if self.target_signal == "noised":
            return x_t + step
        return step if self.target_signal == "step" else torch.zeros_like(x_t)

    def loss(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of softmax(x0_hat . E^T) over all real items (as `objective` computes it); history [B, L], target [B].

        Computed in fp32 whatever the autocast precision of the approximator. With
        ``mask_history_in_loss`` the history's items (other than the target) leave the softmax.
        """
        x0_hat = self.reconstruct(history, target)
        seen = history - 1 if self.mask_history_in_loss else None
        return self.objective(x0_hat, self.item_table, target - 1, self.training_scorer, seen, self.label_smoothing)

    def reconstruct(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training's x0_hat [B, H]: the target's embedding noised to a random step, reconstructed from the history.

        Separate from `loss` so that a screen scoring x0_hat against more than the target
        (benchmarks/ahead_screen.py) draws the same noise as training does.
        """
        h, mask = self.encode_history(self.drop_items(history))
        x0 = self.item_embedding(target)
        t = self.timesteps(x0.shape[0], x0.device)
        x_t = self.process.q_sample(x0, t, self.noise(x0))
        noise = NoiseStream.fresh(len(target), history.device)
        h, mask = self.guidance.forget(h, mask, noise)
        return self.approximate(h, mask, x_t, t, noise)

    def drop_items(self, history: torch.Tensor) -> torch.Tensor:
        """Training's histories [B, L] with each item but the newest turned into padding with chance `item_dropout`.

        Whole items leave the history, where embedding dropout only zeroes coordinates of each:
        the model learns from histories with gaps, as a user's record misses purchases made
        elsewhere. The newest item always stays, so no history is emptied.
        """
        if not self.training or self.item_dropout == 0.0:
            return history
        dropped = torch.rand(history.shape, device=history.device) < self.item_dropout
        dropped[:, -1] = False
        return history.masked_fill(dropped, 0)

    def generate(self, history: torch.Tensor, noise: NoiseStream | None = None) -> torch.Tensor:
        """Run the reverse sampler from x_T ~ N(0, I) drawn from `noise` (fresh when None); returns x_0 [B, H]."""
        noise = NoiseStream.fresh(len(history), history.device) if noise is None else noise
        h, mask = self.encode_history(history)
        x_T = noise.normal(h.shape[2], h.dtype)
        return self.sampler(self.guidance.denoiser(self.approximate, h, mask, noise), x_T, noise)

    def represent(self, history: torch.Tensor, noise: NoiseStream | None = None, ensemble: int = 1) -> torch.Tensor:
        """x_0 of `ensemble` independent reverse runs per history, computed as one batch: [ensemble, B, H]."""
        noise = NoiseStream.fresh(len(history), history.device) if noise is None else noise
        if ensemble > 1:
            history, noise = history.repeat(ensemble, 1), noise.repeat(ensemble)
        return self.generate(history, noise).float().unflatten(0, (ensemble, -1))

    def forward(self, history: torch.Tensor, noise: NoiseStream | None = None) -> torch.Tensor:
        """Scores [B, N] of every real item (column i is item id i + 1) for histories [B, L], in fp32."""
        return self.scorer(self.generate(history, noise).float(), self.item_table.float())
