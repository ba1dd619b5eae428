"""Keyed noise: a row's draws depend on its key alone, not on the batch, the padding or the order."""

from __future__ import annotations

import pytest
import torch

from recdiff.nn.layers import Dropout, dropout_mask
from recdiff.nn.randomness import NoiseStream, mix32


def test_same_keys_repeat_and_other_keys_differ() -> None:
    a, b = NoiseStream(torch.tensor([3, 7])), NoiseStream(torch.tensor([3, 7]))
    first, again = a.normal(16), b.normal(16)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])
    # successive draws of one stream differ
    assert not torch.equal(a.normal(16), first)


def test_a_row_does_not_depend_on_the_rest_of_the_batch() -> None:
    whole = NoiseStream(torch.tensor([5, 9, 11, 2]))
    alone = NoiseStream(torch.tensor([11]))
    other_order = NoiseStream(torch.tensor([2, 11]))
    for _ in range(3):  # holds draw after draw, vectors and sequences alike
        w, a, o = whole.normal(8), alone.normal(8), other_order.normal(8)
        assert torch.equal(w[2], a[0]) and torch.equal(w[2], o[1])
        w, a, o = whole.normal_sequence(4, 8), alone.normal_sequence(4, 8), other_order.normal_sequence(4, 8)
        assert torch.equal(w[2], a[0]) and torch.equal(w[2], o[1])


def test_sequence_draws_are_right_aligned() -> None:
    short = NoiseStream(torch.tensor([1, 2])).normal_sequence(3, 8)
    padded = NoiseStream(torch.tensor([1, 2])).normal_sequence(7, 8)
    assert torch.equal(padded[:, -3:], short)
    assert not torch.equal(short[:, -1], short[:, -2])


def test_draws_are_standard_normal_and_uncorrelated() -> None:
    draws = NoiseStream(torch.arange(20_000)).normal(64).double()
    assert draws.mean().item() == pytest.approx(0.0, abs=0.01)
    assert draws.var().item() == pytest.approx(1.0, rel=0.02)
    corr = torch.corrcoef(draws.T) - torch.eye(64, dtype=torch.float64)
    assert corr.abs().max().item() < 0.05
    # fourth moment of a normal is 3: the pair-of-rows construction keeps it Gaussian
    assert (draws**4).mean().item() == pytest.approx(3.0, rel=0.05)
    # successive draws of the same rows are uncorrelated too
    stream = NoiseStream(torch.arange(20_000))
    x, y = stream.normal(8).double().flatten(), stream.normal(8).double().flatten()
    assert abs(torch.corrcoef(torch.stack([x, y]))[0, 1].item()) < 0.02


def test_keyed_streams_depend_on_seed_and_id() -> None:
    ids = torch.tensor([10, 20, 30])
    assert torch.equal(NoiseStream.keyed(1, ids).normal(8), NoiseStream.keyed(1, ids).normal(8))
    assert not torch.equal(NoiseStream.keyed(1, ids).normal(8), NoiseStream.keyed(2, ids).normal(8))
    assert torch.equal(NoiseStream.keyed(1, ids).normal(8)[1], NoiseStream.keyed(1, ids[1:2]).normal(8)[0])


def test_fresh_streams_follow_the_global_seed() -> None:
    torch.manual_seed(0)
    a = NoiseStream.fresh(4, "cpu").normal(8)
    torch.manual_seed(0)
    b = NoiseStream.fresh(4, "cpu").normal(8)
    torch.manual_seed(1)
    c = NoiseStream.fresh(4, "cpu").normal(8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_repeat_gives_independent_copies() -> None:
    stream = NoiseStream(torch.tensor([4, 5, 6]))
    stacked = stream.repeat(3).normal(8).view(3, 3, 8)
    assert not torch.equal(stacked[0], stacked[1]) and not torch.equal(stacked[1], stacked[2])
    # repeating a sub-batch gives the same copies for its rows
    single = NoiseStream(torch.tensor([5])).repeat(3).normal(8).view(3, 1, 8)
    assert torch.equal(single[:, 0], stacked[:, 1])


def test_a_copy_repeats_the_coming_draws_and_leaves_the_original_alone() -> None:
    stream = NoiseStream(torch.arange(3))
    stream.normal(4)
    twin = stream.copy()
    first = stream.normal(4)
    assert torch.equal(twin.normal(4), first)
    assert torch.equal(twin.normal_sequence(2, 4), stream.normal_sequence(2, 4))
    assert not torch.equal(stream.normal(4), first)


def test_mix32_stays_in_32_bits_and_spreads_neighbours() -> None:
    mixed = mix32(torch.arange(10_000))
    assert mixed.min().item() >= 0 and mixed.max().item() < 2**32
    assert len(torch.unique(mixed)) == 10_000  # a bijection on 32-bit values
    # low bits of neighbouring keys look random: every residue mod 16 is used about equally
    counts = torch.bincount(mixed % 16, minlength=16).double()
    assert (counts / counts.mean() - 1).abs().max().item() < 0.15


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_dropout_mask_keeps_1_minus_p(p: float) -> None:
    torch.manual_seed(0)
    mask = dropout_mask((500, 1000), p, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (500, 1000)
    assert mask.double().mean().item() == pytest.approx(1 - p, abs=0.003)


def test_dropout_scales_kept_values_and_is_identity_in_eval() -> None:
    layer = Dropout(0.25)
    x = torch.full((100, 100), 2.0, requires_grad=True)
    out = layer(x)
    kept = out != 0
    assert torch.allclose(out[kept], torch.tensor(2.0 / 0.75))
    out.sum().backward()
    assert torch.allclose(x.grad[kept], torch.tensor(1 / 0.75)) and (x.grad[~kept] == 0).all()
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
