"""DiffusionRecommender: padding independence, shapes, training, conditioning, scorers, step embedding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import recdiff
from recdiff.errors import SpecError
from recdiff.nn.layers import StepEmbedding, cross_entropy, mask_seen, sinusoidal_embedding
from recdiff.nn.randomness import NoiseStream

NUM_ITEMS = 30
HIDDEN = 16


BACKBONES = {
    "transformer": {"name": "transformer", "params": {"blocks": 2, "heads": 2}},
    "gru": {"name": "gru", "params": {"layers": 2}},
    "causal": {"name": "transformer", "params": {"blocks": 2, "heads": 2, "causal": True}},
    "visible": {"name": "transformer", "params": {"blocks": 2, "heads": 2, "padding": "visible", "block_dropout": True}},
    "unchained": {"name": "transformer", "params": {"blocks": 2, "heads": 2, "chained": False}},
}
CONDITIONINGS = {
    "additive": {"name": "additive"},
    "cross_attention": {"name": "cross_attention", "params": {"heads": 2}},
    "linear_cross_attention": {"name": "linear_cross_attention", "params": {"heads": 2}},
    "linear_cross_attention_masked": {"name": "linear_cross_attention", "params": {"heads": 2, "padding": "masked"}},
    "token": {"name": "token"},
}
STRONG_CROSS_ATTENTION = {"name": "cross_attention", "params": {"heads": 2, "delta": 1.0}}


def build(
    backbone: str = "transformer",
    conditioning: str | dict = "additive",
    positional: bool = False,
    dropout: float = 0.0,
    steps: int = 4,
    seed: int = 0,
    **model: object,
) -> recdiff.DiffusionRecommender:
    spec = recdiff.load_spec(
        {
            "data": {"max_len": 12},
            "model": {
                "hidden": HIDDEN,
                "steps": steps,
                "dropout": dropout,
                "emb_dropout": dropout,
                "positional": positional,
                "backbone": BACKBONES[backbone],
                "conditioning": CONDITIONINGS[conditioning] if isinstance(conditioning, str) else conditioning,
                **model,
            },
        }
    )
    torch.manual_seed(seed)
    return recdiff.build_model(spec, NUM_ITEMS)


HISTORY = torch.tensor(
    [
        [0, 0, 0, 4, 5, 6],
        [1, 2, 3, 4, 5, 6],
        [0, 0, 0, 0, 0, 7],
        [0, 9, 8, 7, 6, 5],
    ]
)
TARGET = torch.tensor([7, 8, 9, 30])


def left_pad(history: torch.Tensor, extra: int) -> torch.Tensor:
    return torch.cat([torch.zeros(history.shape[0], extra, dtype=history.dtype), history], dim=1)


def seeded(seed: int, fn, *args):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return fn(*args)


@pytest.mark.parametrize("positional", [False, True], ids=["nopos", "pos"])
@pytest.mark.parametrize("conditioning", sorted(CONDITIONINGS))
@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_left_padding_changes_nothing(backbone: str, conditioning: str, positional: bool) -> None:
    model = build(backbone, conditioning, positional)
    padded = left_pad(HISTORY, 3)
    other = left_pad(HISTORY, 7)  # longer than data.max_len: positions are clamped

    model.eval()
    with torch.no_grad():
        scores = seeded(1, model, HISTORY)
        assert scores.shape == (4, NUM_ITEMS)
        np.testing.assert_allclose(seeded(1, model, padded).numpy(), scores.numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(seeded(1, model, other).numpy(), scores.numpy(), atol=1e-5, rtol=1e-5)
        # the check has teeth: another seed gives other scores
        assert not torch.allclose(seeded(2, model, HISTORY), scores, atol=1e-5)

    model.train()
    loss = seeded(3, model.loss, HISTORY, TARGET)
    assert torch.isfinite(loss)
    assert seeded(3, model.loss, padded, TARGET).item() == pytest.approx(loss.item(), abs=1e-5)
    assert seeded(3, model.loss, other, TARGET).item() == pytest.approx(loss.item(), abs=1e-5)
    # the check has teeth: another real item in the history changes the loss
    changed = HISTORY.clone()
    changed[:, -1] = torch.tensor([11, 12, 13, 14])
    assert seeded(3, model.loss, changed, TARGET).item() != pytest.approx(loss.item(), abs=1e-5)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_padding_id_is_never_ranked(backbone: str) -> None:
    model = build(backbone)
    model.eval()
    with torch.no_grad():
        x0 = seeded(5, model.generate, HISTORY)
        scores = seeded(5, model, HISTORY)
    assert x0.shape == (4, HIDDEN)
    assert scores.shape == (4, NUM_ITEMS) and scores.dtype == torch.float32
    # column i is item id i + 1 (dot scorer): the padding row 0 is left out
    expected = x0 @ model.item_embedding.weight[1:].detach().T
    np.testing.assert_allclose(scores.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    if not model.fixed_width:  # a model that reads padding learns its row (tests/test_reference.py)
        assert torch.equal(model.item_embedding.weight[0].detach(), torch.zeros(HIDDEN))


@pytest.mark.parametrize(
    ("backbone", "conditioning"),
    [("transformer", "additive"), ("gru", "cross_attention"), ("transformer", "token"), ("gru", "token")],
)
def test_loss_decreases_on_a_fixed_batch(backbone: str, conditioning: str) -> None:
    model = build(backbone, conditioning, dropout=0.1)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    before = seeded(6, model.loss, HISTORY, TARGET).item()
    assert math.isfinite(before)
    torch.manual_seed(7)
    for _ in range(50):
        optimiser.zero_grad()
        loss = model.loss(HISTORY, TARGET)
        assert torch.isfinite(loss)
        loss.backward()
        optimiser.step()
    after = seeded(6, model.loss, HISTORY, TARGET).item()
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize(
    ("init", "embedding_std", "expected_embedding_std", "expected_linear_std"),
    [
        ({"init": "normal", "init_std": 0.02}, None, 0.02, 0.02),
        ({"init": "normal", "init_std": 0.02}, 1.0, 1.0, 0.02),
        ({}, 1.0, 1.0, None),  # xavier linears, the original code's N(0, 1) item table
    ],
)
def test_initialisation_scales(
    init: dict, embedding_std: float | None, expected_embedding_std: float, expected_linear_std: float | None
) -> None:
    model = build(**init, embedding_std=embedding_std, positional=True)
    table = model.item_embedding.weight.detach()
    assert torch.equal(table[0], torch.zeros(HIDDEN))  # padding row stays zero
    assert table[1:].std().item() == pytest.approx(expected_embedding_std, rel=0.15)
    assert model.position_embedding.weight.std().item() == pytest.approx(expected_embedding_std, rel=0.15)
    linear = model.backbone.blocks[0].ff[0].weight.detach()
    fan_in, fan_out = linear.shape[1], linear.shape[0]
    xavier = math.sqrt(2.0 / (fan_in + fan_out))
    assert linear.std().item() == pytest.approx(expected_linear_std or xavier, rel=0.15)


def test_label_smoothing_is_linear_in_its_share() -> None:
    # same seed, same logits: the loss is (1 - e) * CE + e * uniform-target CE, linear in e
    model = build("transformer").eval()
    losses = []
    for share in (0.0, 0.2, 0.4):
        model.label_smoothing = share
        losses.append(seeded(9, model.loss, HISTORY, TARGET).item())
    assert losses[1] != pytest.approx(losses[0], abs=1e-4)
    assert losses[2] - losses[1] == pytest.approx(losses[1] - losses[0], abs=1e-5)


def test_mask_seen_keeps_the_label_and_ignores_padding() -> None:
    logits = torch.zeros(2, 5)
    masked = mask_seen(logits, torch.tensor([[-1, 1, 3], [2, 2, -1]]), torch.tensor([3, 0]))
    assert torch.equal(masked.isinf(), torch.tensor([[False, True, False, False, False], [False, False, True, False, False]]))
    assert torch.equal(logits, torch.zeros(2, 5))  # out of place


def test_smoothed_cross_entropy_matches_torch_and_skips_masked_items() -> None:
    torch.manual_seed(10)
    logits, labels = torch.randn(4, 7), torch.tensor([0, 3, 6, 2])
    torch.testing.assert_close(cross_entropy(logits, labels, 0.1), F.cross_entropy(logits, labels, label_smoothing=0.1))
    masked = mask_seen(logits, torch.tensor([[1, 2], [0, -1], [-1, -1], [2, 5]]), labels)
    loss = cross_entropy(masked, labels, 0.1)
    assert torch.isfinite(loss)
    log_p = masked.log_softmax(-1)
    expected = torch.stack([
        0.9 * -log_p[row, labels[row]] + 0.1 * -log_p[row][masked[row].isfinite()].mean() for row in range(4)
    ]).mean()
    torch.testing.assert_close(loss, expected)


def test_masking_history_in_the_loss_lowers_it_on_the_same_draws() -> None:
    model = build("transformer").eval()
    plain = seeded(9, model.loss, HISTORY, TARGET).item()
    model.mask_history_in_loss = True
    assert seeded(9, model.loss, HISTORY, TARGET).item() < plain - 1e-4


def test_item_dropout_pads_items_in_training_only_and_keeps_the_newest() -> None:
    model = build("transformer", item_dropout=0.5)
    history = torch.arange(1, 25).reshape(2, 12)
    torch.manual_seed(3)
    dropped = model.train().drop_items(history)
    padded = dropped == 0
    assert padded.any() and not padded[:, -1].any()
    assert torch.equal(dropped[~padded], history[~padded])
    assert 0.2 < padded[:, :-1].float().mean().item() < 0.8
    assert torch.equal(model.eval().drop_items(history), history)
    assert torch.equal(build("transformer").train().drop_items(history), history)
    with pytest.raises(SpecError, match="item_dropout"):
        recdiff.load_spec({"model": {"item_dropout": 1.0}})


def reconstructions(
    model: recdiff.DiffusionRecommender, step: int = 2, seed: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x0_hat [B, H] of the same histories and noise for a noised target x_a at `step`, another x_b, and x_a at step 0."""
    model.eval()
    with torch.no_grad():
        h, mask = model.encode_history(HISTORY)
        t = torch.full((4,), step)
        torch.manual_seed(seed)
        x_a, x_b = torch.randn(4, HIDDEN) * 3, torch.randn(4, HIDDEN) * 3
        first, other, later = (
            model.approximate(h, mask, x, s, NoiseStream(torch.arange(4))) for x, s in ((x_a, t), (x_b, t), (x_a, 0 * t))
        )
    return first, other, later


def x_t_effect(model: recdiff.DiffusionRecommender, step: int = 2, seed: int = 8) -> torch.Tensor:
    """Per row, the largest change of x0_hat when x_t is replaced by another draw (same history, step and noise)."""
    first, other, _ = reconstructions(model, step, seed)
    return (first - other).abs().amax(dim=1)


@pytest.mark.parametrize("conditioning", sorted(CONDITIONINGS))
def test_prediction_depends_on_the_noised_target(conditioning: str) -> None:
    model = build("transformer", conditioning)
    first, other, later = reconstructions(model)
    assert torch.equal(first, reconstructions(model)[0])
    # lambda ~ N(0.001, 0.001) scales the target, so the effect is small but real. (Row 2 has a
    # single real item: a cross-attention query over one key always gets weight 1, so only the
    # additive block makes that row depend on x_t.)
    rows = [0, 1, 2, 3] if conditioning in ("additive", "token") else [0, 1, 3]
    assert ((first - other).abs().amax(dim=1)[rows] > 1e-5).all()
    assert ((first - later).abs().amax(dim=1)[rows] > 1e-6).all()


@pytest.mark.parametrize("conditioning", sorted(CONDITIONINGS))
@pytest.mark.parametrize("signal", ["step", "none"])
def test_target_signal_ablations_hide_x_t(conditioning: str, signal: str) -> None:
    """`step` keeps only the step embedding (t still matters), `none` hides both x_t and t."""
    first, other, later = reconstructions(build("transformer", conditioning, target_signal=signal))
    assert torch.equal(first, other)
    rows = [0, 1, 2, 3] if conditioning in ("additive", "token") else [0, 1, 3]
    if signal == "step":
        assert ((first - later).abs().amax(dim=1)[rows] > 1e-6).all()
    else:
        assert torch.equal(first, later)


def test_cross_attention_with_large_delta_depends_strongly_on_target() -> None:
    assert (x_t_effect(build("transformer", STRONG_CROSS_ATTENTION), step=1, seed=10)[[0, 1, 3]] > 1e-2).all()


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_token_conditioning_depends_on_x_t_far_more_than_additive(backbone: str) -> None:
    """The token carries x_t at full scale where `additive` scales it by lambda ~ N(0.001, 0.001)."""
    token, additive = x_t_effect(build(backbone, "token")), x_t_effect(build(backbone, "additive"))
    assert (token > 0.1).all(), token
    assert (token > 30 * additive).all(), (token, additive)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_token_conditioning_is_the_position_read(backbone: str) -> None:
    """The approximator's output is read at the appended token: the same as the whole pass's last position."""
    model = build(backbone, "token").eval()
    with torch.no_grad():
        h, mask = model.encode_history(HISTORY)
        x_t, t = torch.randn(4, HIDDEN), torch.full((4,), 1)
        target = model.conditioning_target(x_t, t)
        z = model.conditioning(h, target, mask, NoiseStream(torch.arange(4)))
        extended = F.pad(mask, (0, 1), value=True)
        full = model.backbone(z, extended, lambda index, hidden: hidden)[:, -1]
        read = model.approximate(h, mask, x_t, t, NoiseStream(torch.arange(4)))
    assert z.shape == (4, HISTORY.shape[1] + 1, HIDDEN)
    torch.testing.assert_close(read, model.out_norm(full))


# Scorers


def test_scorers_closed_forms() -> None:
    torch.manual_seed(12)
    x0, items = torch.randn(3, 5), torch.randn(7, 5)
    x, e = x0.double().numpy(), items.double().numpy()
    dot = np.array([[sum(x[b, k] * e[i, k] for k in range(5)) for i in range(7)] for b in range(3)])
    l2 = np.array([[-sum((x[b, k] - e[i, k]) ** 2 for k in range(5)) for i in range(7)] for b in range(3)])
    norm = lambda v: math.sqrt(sum(c * c for c in v))  # noqa: E731
    cos = np.array([[dot[b, i] / (norm(x[b]) * norm(e[i])) for i in range(7)] for b in range(3)])
    for name, expected in (("dot", dot), ("neg_l2", l2), ("cosine", cos)):
        scores = recdiff.create("scorer", name)(x0, items)
        assert scores.shape == (3, 7)
        np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_cosine_temperature_divides_the_scores() -> None:
    torch.manual_seed(13)
    x0, items = torch.randn(3, 5), torch.randn(7, 5)
    plain = recdiff.create("scorer", "cosine")
    sharp = recdiff.create("scorer", "cosine", temperature=0.1)
    torch.testing.assert_close(sharp(x0, items), plain(x0, items) / 0.1)
    torch.testing.assert_close(sharp.paired(x0, items[:3]), plain.paired(x0, items[:3]) / 0.1)


def test_learned_cosine_divides_by_its_own_temperature_and_trains_it() -> None:
    torch.manual_seed(14)
    x0, items = torch.randn(3, 5), torch.randn(7, 5)
    learned = recdiff.create("scorer", "learned_cosine", temperature=0.2)
    torch.testing.assert_close(learned(x0, items), recdiff.create("scorer", "cosine")(x0, items) / 0.2)
    model = build(loss_scorer={"name": "learned_cosine", "params": {"temperature": 0.2}})
    scorer = model.training_scorer
    assert "loss_scorer.log_temperature" in model.state_dict()  # checkpoints keep it
    assert any(p is scorer.log_temperature for p in model.parameters())  # the optimiser sees it
    model.loss(HISTORY, TARGET).backward()
    assert scorer.log_temperature.grad is not None and scorer.log_temperature.grad.abs() > 0


@pytest.mark.parametrize("architecture", ["diffusion", "sasrec"])
def test_loss_scorer_replaces_the_family_scorer_in_training_only(architecture: str) -> None:
    extra = {"architecture": {"name": architecture}} if architecture == "sasrec" else {}
    default, cosine = build(**extra), build(**extra, loss_scorer={"name": "cosine", "params": {"temperature": 0.05}})
    assert type(default.training_scorer).__name__ == "DotScorer"
    assert type(cosine.training_scorer).__name__ == "CosineScorer" and cosine.training_scorer.temperature == 0.05
    assert type(cosine.scorer).__name__ == "DotScorer"  # ranking is unchanged
    used = []
    objective = cosine.objective

    def recorded(x, items, labels, scorer, *rest):  # type: ignore[no-untyped-def]
        used.append(scorer)
        return objective(x, items, labels, scorer, *rest)

    cosine.objective = recorded
    assert torch.isfinite(cosine.loss(HISTORY, TARGET)) and used == [cosine.training_scorer]


def test_neg_l2_ranks_the_nearest_item_first() -> None:
    items = torch.tensor([[0.0, 0.0], [10.0, 10.0], [1.0, 1.2]])
    x0 = torch.tensor([[1.0, 1.0]])  # dot product would prefer item 1, distance prefers item 2
    assert recdiff.create("scorer", "neg_l2")(x0, items).argmax().item() == 2
    assert recdiff.create("scorer", "dot")(x0, items).argmax().item() == 1


# Step embedding


def hand_sinusoidal(t: float, dim: int) -> list[float]:
    half = dim // 2
    freqs = [math.exp(-math.log(10000) * j / half) for j in range(half)]
    out = [math.cos(t * f) for f in freqs] + [math.sin(t * f) for f in freqs]
    return out + [0.0] * (dim % 2)


@pytest.mark.parametrize("dim", [8, 9, 16])
def test_sinusoidal_embedding_formula(dim: int) -> None:
    t = torch.tensor([0.0, 1.0, 2.5, 31.0, 968.75])
    got = sinusoidal_embedding(t, dim)
    assert got.shape == (5, dim)
    expected = np.array([hand_sinusoidal(v, dim) for v in t.tolist()])
    np.testing.assert_allclose(got.numpy(), expected, atol=2e-4)


@pytest.mark.parametrize("steps", [4, 32, 1000])
def test_step_embedding_rescales_to_1000(steps: int) -> None:
    emb = StepEmbedding(HIDDEN, steps)
    emb.mlp = torch.nn.Identity()
    t = torch.tensor([0, 1, steps - 1])
    expected = np.array([hand_sinusoidal(v * 1000 / steps, HIDDEN) for v in t.tolist()])
    np.testing.assert_allclose(emb(t).numpy(), expected, atol=2e-4)


def test_model_step_embedding_uses_its_step_count() -> None:
    model = build(steps=8)
    assert model.step_embedding.scale == pytest.approx(125.0)
    assert model.process.num_steps == 8


@pytest.mark.parametrize("conditioning", sorted(CONDITIONINGS))
def test_checkpointed_blocks_give_the_same_loss_and_gradients(conditioning: str) -> None:
    """Recomputing blocks in the backward pass (dropout masks included) changes no number."""
    plain = build("transformer", conditioning, dropout=0.2)
    spec_backbone = {"name": "transformer", "params": {"blocks": 2, "heads": 2, "checkpoint": True}}
    BACKBONES["checkpointed"] = spec_backbone
    try:
        saving = build("checkpointed", conditioning, dropout=0.2)
    finally:
        del BACKBONES["checkpointed"]
    saving.load_state_dict(plain.state_dict())
    plain.train()
    saving.train()
    losses = []
    for model in (plain, saving):
        loss = seeded(21, model.loss, HISTORY, TARGET)
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    for (name, a), b in zip(plain.named_parameters(), saving.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=name)
