"""Speed never changes what the model computes: batching, chunking, the last-query block, precision."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import recdiff
from recdiff.data import Split
from recdiff.evaluation.evaluate import evaluate_model, evaluate_ranks, model_ranker, rank_examples
from recdiff.evaluation.metrics import target_ranks
from recdiff.evaluation.prepared import prepare
from recdiff.evaluation.ranking import Scored, chunked_target_ranks, chunked_top_k, top_k_items
from recdiff.nn.randomness import NoiseStream
from recdiff.runtime import autocast

SPEC = {
    "data": {"max_len": 12, "synthetic": {"users": 120, "items": 40}},
    "model": {"hidden": 16, "steps": 6, "backbone": {"name": "transformer", "params": {"blocks": 2, "heads": 2}}},
}


@pytest.fixture(scope="module")
def prepared():  # type: ignore[no-untyped-def]
    return prepare(recdiff.load_spec(SPEC))


def ranks_by_example(p, split: Split, batch_size: int, seed: int = 0, **model_kwargs) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Each example's target rank, keyed by the example (its target's position in the data)."""
    found: dict[int, int] = {}
    model = p.model.eval()

    def rank(batch, noise):  # type: ignore[no-untyped-def]
        reps = model.represent(batch.history, noise, model_kwargs.get("ensemble", 1))
        scored = [Scored(model.scorer, reps, model.item_table)]
        ranks = chunked_target_ranks(scored, batch.target - 1, model_kwargs.get("chunk", 7))
        found.update(zip(batch.example.tolist(), ranks.tolist()))
        return ranks

    evaluate_ranks(rank, p.data, split, [10], batch_size=batch_size, seed=seed)
    return found


@pytest.mark.parametrize("ensemble", [1, 3])
def test_ranks_do_not_depend_on_batch_size_order_or_padding(prepared, ensemble: int) -> None:  # type: ignore[no-untyped-def]
    split = prepared.splits.test
    reference = ranks_by_example(prepared, split, batch_size=len(split), ensemble=ensemble)
    assert len(reference) == len(split)
    for batch_size in (1, 7, 32):  # other batches, other padding, other neighbours
        assert ranks_by_example(prepared, split, batch_size, ensemble=ensemble) == reference
    order = np.random.default_rng(0).permutation(len(split))
    shuffled = Split(start=split.start[order], end=split.end[order])
    assert ranks_by_example(prepared, shuffled, batch_size=16, ensemble=ensemble) == reference
    # the check has teeth: another seed draws other noise and moves some ranks
    assert ranks_by_example(prepared, split, batch_size=len(split), seed=1, ensemble=ensemble) != reference


def test_evaluate_model_metrics_do_not_depend_on_batch_size(prepared) -> None:  # type: ignore[no-untyped-def]
    p = prepared
    metrics = [evaluate_model(p.model, p.data, p.splits.val, [5, 10], batch_size=b, seed=3) for b in (5, 64, 1000)]
    assert metrics[0] == metrics[1] == metrics[2]


@pytest.mark.parametrize("scorer", ["dot", "neg_l2", "cosine"])
@pytest.mark.parametrize("chunk", [1, 5, 40, 100])
def test_chunked_ranks_equal_full_ranks(scorer: str, chunk: int) -> None:
    torch.manual_seed(0)
    score = recdiff.create("scorer", scorer)
    reps, table = torch.randn(1, 9, 8), torch.randn(40, 8)
    target = torch.randint(0, 40, (9,))
    full = target_ranks(score(reps[0], table), target)
    assert torch.equal(chunked_target_ranks([Scored(score, reps, table)], target, chunk), full)


def test_chunked_ranks_count_ties_against_the_target() -> None:
    # integer embeddings make many exact ties; a target tied with k others ranks below all of them
    torch.manual_seed(1)
    score = recdiff.create("scorer", "dot")
    reps, table = torch.randint(-1, 2, (1, 12, 3)).float(), torch.randint(-1, 2, (30, 3)).float()
    target = torch.randint(0, 30, (12,))
    full = target_ranks(score(reps[0], table), target)
    for chunk in (1, 4, 30):
        assert torch.equal(chunked_target_ranks([Scored(score, reps, table)], target, chunk), full)


@pytest.mark.parametrize("chunk", [3, 50])
def test_ensemble_ranks_by_mean_probability(chunk: int) -> None:
    torch.manual_seed(2)
    score = recdiff.create("scorer", "dot")
    reps, table = torch.randn(4, 6, 8), torch.randn(50, 8)
    target = torch.randint(0, 50, (6,))
    mean_probability = torch.stack([score(rep, table).softmax(-1) for rep in reps]).mean(0)
    expected = target_ranks(mean_probability.log(), target)
    assert torch.equal(chunked_target_ranks([Scored(score, reps, table)], target, chunk), expected)


@pytest.mark.parametrize("chunk", [3, 50])
def test_model_ensembles_rank_by_the_mean_probability_of_every_run(chunk: int) -> None:
    # two trained models with their own scorers, widths and tables over one catalogue; two runs of the first
    torch.manual_seed(4)
    dot, cosine = recdiff.create("scorer", "dot"), recdiff.create("scorer", "cosine")
    first = Scored(dot, torch.randn(2, 6, 8), torch.randn(50, 8))
    second = Scored(cosine, torch.randn(1, 6, 4), torch.randn(50, 4))
    target = torch.randint(0, 50, (6,))
    exclude = torch.randint(-1, 50, (6, 3))
    runs = [dot(rep, first.table) for rep in first.reps] + [cosine(second.reps[0], second.table)]
    mean_probability = torch.stack([scores.softmax(-1) for scores in runs]).mean(0)
    for row, items in enumerate(exclude):
        mean_probability[row, items[items >= 0]] = 0.0
    expected = mean_probability.log()
    assert torch.equal(chunked_target_ranks([first, second], target, chunk, exclude), target_ranks(expected, target))
    values, rows = chunked_top_k([first, second], 5, chunk, exclude)
    assert torch.equal(rows, expected.topk(5, dim=1).indices)
    torch.testing.assert_close(values, expected.topk(5, dim=1).values)
    # the second model counts: without it the ranks change
    assert not torch.equal(chunked_target_ranks([first], target, chunk), chunked_target_ranks([first, second], target, chunk))


def test_model_ensembles_need_one_catalogue() -> None:
    dot = recdiff.create("scorer", "dot")
    members = [Scored(dot, torch.randn(1, 2, 4), torch.randn(10, 4)), Scored(dot, torch.randn(1, 2, 4), torch.randn(11, 4))]
    with pytest.raises(ValueError, match="same catalogue"):
        chunked_target_ranks(members, torch.tensor([0, 1]))


def full_scores(score, reps: torch.Tensor, table: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Unchunked reference: the raw scores for one run, else the log of the summed softmax over runs."""
    if len(reps) == 1:
        return score(reps[0], table)
    return torch.stack([score(rep, table).log_softmax(-1) for rep in reps]).logsumexp(0)


@pytest.mark.parametrize("ensemble", [1, 3])
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunked_top_k_equals_full_top_k(ensemble: int, chunk: int) -> None:
    torch.manual_seed(3)
    score = recdiff.create("scorer", "dot")
    reps, table = torch.randn(ensemble, 5, 8), torch.randn(64, 8)
    values, rows = chunked_top_k([Scored(score, reps, table)], 10, chunk)
    expected_values, expected_rows = full_scores(score, reps, table).topk(10, dim=1)
    assert torch.equal(rows, expected_rows)
    torch.testing.assert_close(values, expected_values - (np.log(ensemble) if ensemble > 1 else 0.0))


@pytest.mark.parametrize("ensemble", [1, 3])
@pytest.mark.parametrize("chunk", [1, 6, 40])
def test_excluded_items_rank_last(ensemble: int, chunk: int) -> None:
    torch.manual_seed(5)
    score = recdiff.create("scorer", "dot")
    reps, table = torch.randn(ensemble, 8, 6), torch.randn(40, 6)
    target = torch.randint(0, 40, (8,))
    exclude = torch.randint(-1, 40, (8, 5))
    exclude[0, 2] = target[0]  # an excluded target ranks last
    exclude[1] = -1  # a row that excludes nothing
    masked = full_scores(score, reps, table)
    for row, items in enumerate(exclude):
        masked[row, items[items >= 0]] = -torch.inf
    expected = target_ranks(masked, target)
    assert expected[0] == 40
    assert torch.equal(chunked_target_ranks([Scored(score, reps, table)], target, chunk, exclude), expected)
    assert torch.equal(chunked_target_ranks([Scored(score, reps, table)], target, chunk, exclude)[1],
                       chunked_target_ranks([Scored(score, reps, table)], target, chunk)[1])
    values, rows = chunked_top_k([Scored(score, reps, table)], 10, chunk, exclude)
    for row, items in enumerate(exclude):
        assert not set(rows[row].tolist()) & set(items[items >= 0].tolist())
    assert torch.equal(rows, masked.topk(10, dim=1).indices)


def test_a_model_that_excludes_its_history_never_recommends_it(prepared) -> None:  # type: ignore[no-untyped-def]
    p = prepared
    batch = recdiff.data.make_batch(p.data, p.splits.test, np.arange(16))
    noise = NoiseStream.keyed(0, batch.example)
    ids, _ = top_k_items(p.model, batch.history, k=30, noise=noise)
    assert any(set(r.tolist()) & set(h.tolist()) for r, h in zip(ids, batch.history))  # the check has teeth
    p.model.eval()
    try:
        plain = rank_examples(model_ranker([p.model]), p.data, p.splits.test, seed=3)
        ids, _ = top_k_items(p.model, batch.history, k=30, noise=noise, exclude_history=True)
        excluding = rank_examples(model_ranker([p.model], exclude_history=True), p.data, p.splits.test, seed=3)
    finally:
        p.model.train()
    assert all(not set(r.tolist()) & set(h.tolist()) for r, h in zip(ids, batch.history))
    # the synthetic users revisit items: a target seen in the history now ranks last, any other one no lower
    seen = np.array([p.data.items[end] in p.data.items[start:end]
                     for start, end in zip(p.splits.test.start, p.splits.test.end)])
    assert seen.any() and (~seen).any()
    assert (excluding[seen] == p.data.num_items).all()
    assert (excluding[~seen] <= plain[~seen]).all() and (excluding[~seen] < plain[~seen]).any()


@pytest.mark.parametrize("scorer", ["dot", "neg_l2", "cosine"])
def test_paired_scores_are_the_diagonal(scorer: str) -> None:
    torch.manual_seed(4)
    score = recdiff.create("scorer", scorer)
    x, items = torch.randn(6, 8), torch.randn(6, 8)
    torch.testing.assert_close(score.paired(x, items), score(x, items).diagonal())
    # the generic default (used by plugin scorers) gives the same
    generic = type(score).__mro__[1].paired(score, x, items)
    torch.testing.assert_close(generic, score(x, items).diagonal())


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("conditioning", ["additive", "cross_attention"])
def test_last_query_block_equals_the_full_output(causal: bool, conditioning: str) -> None:
    spec = recdiff.load_spec({
        "data": {"max_len": 10},
        "model": {"hidden": 16, "conditioning": {"name": conditioning, "params": {"delta": 0.5}},
                  "backbone": {"name": "transformer", "params": {"blocks": 3, "heads": 2, "causal": causal}}},
    })
    torch.manual_seed(5)
    model = recdiff.build_model(spec, 30).eval()
    history = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
    h, mask = model.encode_history(history)
    target = torch.randn(3, 16)
    backbone, block = model.backbone, model.conditioning

    def run(method):  # type: ignore[no-untyped-def]
        noise = NoiseStream(torch.arange(3))
        z = block(h, target, mask, noise)
        return method(z, mask, lambda index, hidden: block.before_block(index, hidden, target, mask, noise))

    torch.testing.assert_close(run(backbone.last), run(backbone.forward)[:, -1], rtol=1e-5, atol=1e-5)


def test_bf16_autocast_keeps_loss_and_scores_in_fp32(prepared) -> None:  # type: ignore[no-untyped-def]
    model = prepared.model
    history = torch.tensor([[0, 3, 4], [5, 6, 7]])
    model.train()
    with autocast("cpu", "bf16"):
        loss = model.loss(history, torch.tensor([8, 9]))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.zero_grad()
    model.eval()
    with torch.no_grad(), autocast("cpu", "bf16"):
        reps = model.represent(history, NoiseStream(torch.arange(2)))
    assert reps.dtype == torch.float32
    fp32 = model.represent(history, NoiseStream(torch.arange(2))).detach()
    # bf16 keeps about three significant digits
    torch.testing.assert_close(reps, fp32, rtol=0.1, atol=0.1)
    metrics = evaluate_model(model, prepared.data, prepared.splits.val, [10], precision="bf16", seed=0)
    assert 0.0 <= metrics["hr@10"] <= 1.0


def test_top_k_items_returns_the_best_item_ids(prepared) -> None:  # type: ignore[no-untyped-def]
    model = prepared.model.train()
    history = torch.tensor([[0, 3, 4], [5, 6, 7]])
    ids, scores = top_k_items(model, history, k=5, noise=NoiseStream(torch.arange(2)), chunk=7)
    assert model.training  # the caller's mode is restored
    with torch.no_grad():
        full = model.eval()(history, NoiseStream(torch.arange(2)))
    expected_scores, expected_columns = full.topk(5, dim=1)
    assert torch.equal(ids, expected_columns + 1)
    torch.testing.assert_close(scores, expected_scores)


def test_top_k_items_from_an_ensemble_of_models(prepared) -> None:  # type: ignore[no-untyped-def]
    first = prepared.model.train()
    second = copy.deepcopy(first)
    with torch.no_grad():
        second.item_embedding.weight.add_(torch.randn_like(second.item_embedding.weight))
    history = torch.tensor([[0, 3, 4], [5, 6, 7]])
    ids, scores = top_k_items([first, second], history, k=5, noise=NoiseStream(torch.arange(2)), chunk=7)
    assert first.training and second.training  # both callers' modes are restored
    with torch.no_grad():
        distributions = [m.eval()(history, NoiseStream(torch.arange(2))).softmax(-1) for m in (first, second)]
    expected_scores, expected_columns = torch.stack(distributions).mean(0).log().topk(5, dim=1)
    assert torch.equal(ids, expected_columns + 1)
    torch.testing.assert_close(scores, expected_scores)
