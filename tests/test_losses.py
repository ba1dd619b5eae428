"""The `loss` kind: the blocked loss is the full one exactly, the sampled one estimates it with the log-q correction."""

from __future__ import annotations

import math

import pytest
import torch

import recdiff
from recdiff.errors import RunError, SpecError
from recdiff.evaluation.prepared import prepare
from recdiff.nn.losses import ChunkedSoftmax, FullSoftmax
from recdiff.nn.sampled_softmax import SampledSoftmax, draw, keyed_uniform, proposal, sampled_cross_entropy
from recdiff.nn.scorers import CosineScorer, DotScorer, NegL2Scorer, Scorer
from recdiff.nn.softmax_chunks import chunked_cross_entropy

ROWS, ITEMS, HIDDEN = 6, 23, 5
LABELS = torch.tensor([3, 5, 0, 22, 9, 4])
SEEN = torch.tensor([[0, 3, -1], [5, 5, 2], [-1, -1, -1], [7, 22, 1], [1, 2, 3], [4, 4, 4]])
"""Seen item rows: a row's own label (kept), a repeat, padding only, the last item, a full row."""


def _tensors(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, HIDDEN, generator=generator, dtype=dtype).requires_grad_()
    items = torch.randn(ITEMS, HIDDEN, generator=generator, dtype=dtype).requires_grad_()
    return x, items


@pytest.mark.parametrize("scorer", [DotScorer(), CosineScorer(), NegL2Scorer()], ids=["dot", "cosine", "neg_l2"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("masked", [False, True])
def test_chunked_loss_and_gradients_equal_the_full_loss(scorer: Scorer, smoothing: float, masked: bool) -> None:
    x, items = _tensors()
    seen = SEEN if masked else None
    full = FullSoftmax(None)(x, items, LABELS, scorer, seen, smoothing)
    assert full.dtype == torch.float64
    grads = torch.autograd.grad(full, (x, items))
    for chunk in (1, 4, 7, ITEMS, 100):  # 4 and 7 do not divide 23
        blocked = chunked_cross_entropy(x, items, LABELS, scorer, seen, smoothing, chunk)
        torch.testing.assert_close(blocked, full, rtol=1e-12, atol=1e-12)
        for mine, theirs in zip(torch.autograd.grad(blocked, (x, items)), grads, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)


def test_chunked_loss_under_bf16_autocast_is_fp32_and_matches_the_full_loss() -> None:
    x, items = _tensors(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full = FullSoftmax(None)(x, items, LABELS, DotScorer(), SEEN, 0.1)
        blocked = ChunkedSoftmax(None, chunk=5)(x, items, LABELS, DotScorer(), SEEN, 0.1)
    assert blocked.dtype == torch.float32
    torch.testing.assert_close(blocked, full, rtol=1e-4, atol=1e-4)
    for mine, theirs in zip(torch.autograd.grad(blocked, (x, items)), torch.autograd.grad(full, (x, items)), strict=True):
        assert mine.dtype == torch.float32  # blocks round their bf16 products apart, hence bf16 tolerances
        torch.testing.assert_close(mine, theirs, rtol=5e-2, atol=2e-3)


def test_keyed_draws_follow_the_proposal() -> None:
    q = torch.tensor([0.5, 0.1, 0.3, 0.1], dtype=torch.float64)
    candidates, counts = draw(q, 200_000, key=11)
    assert torch.equal(candidates, torch.arange(4)) and int(counts.sum()) == 200_000
    torch.testing.assert_close(counts.double() / 200_000, q, atol=5e-3, rtol=0)
    u = keyed_uniform(11, 1000)
    assert torch.equal(u, keyed_uniform(11, 1000)) and not torch.equal(u, keyed_uniform(12, 1000))
    assert bool(((u > 0) & (u < 1)).all())


def test_popularity_proposal_is_smoothed_counts_to_the_alpha() -> None:
    q = proposal("popularity", 3, torch.tensor([0, 3, 15]), alpha=0.5)
    torch.testing.assert_close(q, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64) / 7.0)
    torch.testing.assert_close(proposal("uniform", 4, None, 0.75), torch.full((4,), 0.25, dtype=torch.float64))


def test_sampled_loss_is_the_log_q_corrected_estimate_on_a_tiny_case() -> None:
    # 3 items, label 0 for the one row; draws: item 0 once (an accidental hit), item 2 three times, from q
    x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    items = torch.tensor([[0.2, 0.1], [0.7, -0.3], [-0.4, 0.9]], dtype=torch.float64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    candidates, counts, samples = torch.tensor([0, 2]), torch.tensor([1, 3]), 4
    log_expected = (samples * q[candidates]).log() - counts.double().log()
    loss = sampled_cross_entropy(x, items, torch.tensor([0]), DotScorer(), candidates, log_expected)
    s = (x @ items.T)[0]
    z_hat = math.exp(s[0]) + 3 * math.exp(s[2]) / (samples * 0.5)  # the hit of the label is dropped
    assert loss.item() == pytest.approx(math.log(z_hat) - s[0].item(), rel=1e-12)
    # a seen item leaves the estimate like an accidental hit
    masked = sampled_cross_entropy(x, items, torch.tensor([0]), DotScorer(), candidates, log_expected, torch.tensor([[2]]))
    assert masked.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
def test_sampled_loss_approaches_the_full_loss_as_samples_grow(kind: str) -> None:
    x, items = (t.detach() for t in _tensors())
    full = FullSoftmax(None)(x, items, LABELS, DotScorer(), SEEN).item()
    counts = torch.arange(ITEMS) % 5
    torch.manual_seed(3)
    errors = []
    for samples in (8, 200_000):
        loss = SampledSoftmax(counts, samples=samples, proposal=kind)
        estimates = torch.stack([loss(x, items, LABELS, DotScorer(), SEEN) for _ in range(4)])
        errors.append((estimates - full).abs().mean().item())
    assert errors[1] < 0.01 < errors[0]


def test_sampled_loss_repeats_under_a_seed_and_refuses_what_it_cannot_do() -> None:
    x, items = (t.detach() for t in _tensors(torch.float32))
    loss = SampledSoftmax(None, samples=5)
    torch.manual_seed(1)
    first = loss(x, items, LABELS, DotScorer())
    torch.manual_seed(1)
    assert torch.equal(loss(x, items, LABELS, DotScorer()), first)
    assert not torch.equal(loss(x, items, LABELS, DotScorer()), first)
    with pytest.raises(SpecError, match="label_smoothing is 0.1"):
        loss(x, items, LABELS, DotScorer(), None, 0.1)
    with pytest.raises(RunError, match="needs the training targets' item counts"):
        SampledSoftmax(None, proposal="popularity")(x, items, LABELS, DotScorer())


@pytest.mark.parametrize("architecture", ["diffusion", "sasrec"])
def test_a_model_with_the_chunked_loss_trains_exactly_as_with_the_full_loss(architecture: str) -> None:
    def loss_and_grad(loss: dict[str, object]) -> tuple[torch.Tensor, torch.Tensor]:
        spec = recdiff.load_spec({
            "data": {"max_len": 6},
            "model": {
                "architecture": {"name": architecture}, "hidden": 8, "steps": 4, "label_smoothing": 0.1,
                "mask_history_in_loss": True, "loss": loss,
                "backbone": {"name": "transformer", "params": {"blocks": 1, "heads": 2}},
            },
        })
        torch.manual_seed(0)
        model = recdiff.build_model(spec, num_items=30)
        history = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 29, 5], [0, 0, 0, 7, 7]])
        torch.manual_seed(1)
        value = model.loss(history, torch.tensor([6, 30, 8]))
        return value, torch.autograd.grad(value, model.item_embedding.weight)[0]

    full, full_grad = loss_and_grad({"name": "full"})
    blocked, blocked_grad = loss_and_grad({"name": "chunked", "params": {"chunk": 7}})
    torch.testing.assert_close(blocked, full)
    torch.testing.assert_close(blocked_grad, full_grad)
    with pytest.raises(recdiff.RecdiffError, match="chunk"):
        loss_and_grad({"name": "chunked", "params": {"chunk": 0}})


def test_a_prepared_run_gives_the_popularity_proposal_its_training_counts() -> None:
    spec = recdiff.load_spec({
        "data": {"max_len": 8, "synthetic": {"users": 60, "items": 40}},
        "model": {"hidden": 8, "steps": 4, "loss": {"name": "sampled", "params": {"proposal": "popularity", "samples": 16}}},
        "train": {"device": "cpu"},
    })
    prepared = prepare(spec)
    loss = prepared.model.objective
    assert isinstance(loss, SampledSoftmax) and loss.item_counts is not None
    train = prepared.splits.train
    assert torch.equal(loss.item_counts, torch.bincount(torch.from_numpy(prepared.data.items[train.end]) - 1,
                                                        minlength=prepared.data.num_items))
    history = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert torch.isfinite(prepared.model.loss(history, torch.tensor([6, 7])))
