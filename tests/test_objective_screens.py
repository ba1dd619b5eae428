"""The training-objective screens: benchmarks/ahead_screen.py (the item after next as a second target,
training targets only) and benchmarks/rdrop_screen.py (two dropout views held to one distribution)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pandas as pd
import pytest
import torch
from conftest import REPO, TINY

from recdiff.data import SequenceData, leave_one_out
from recdiff.evaluation.prepared import prepare
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.spec import load_spec


def load_screen(name: str = "ahead_screen") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    screen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screen)
    return screen


def test_the_item_after_next_is_a_training_target_or_nothing() -> None:
    screen = load_screen()
    data = SequenceData.from_frame(
        pd.DataFrame({"user": [1] * 6 + [2] * 4, "item": [1, 2, 3, 4, 5, 6, 7, 8, 9, 1], "time": range(10)})
    )
    train = leave_one_out(data, 3).train
    # user 1 trains on targets 2 3 4 (5 is validation, 6 test); user 2 on 8 (9 validation)
    assert data.items[train.end].tolist() == [2, 3, 4, 8]
    assert screen.after_next(data, train, train.end).tolist() == [3, 4, 0, 0]


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_screened_loss_adds_the_weighted_cross_entropy_of_the_item_after_next(weight: float) -> None:
    screen = load_screen()
    screen.WEIGHT = weight
    model = prepare(load_spec(None, [*TINY, "data.name=null", "train.precision=fp32"])).model
    assert isinstance(model, DiffusionRecommender)
    model.eval()  # no dropout: the same seed gives the same x0_hat in every call
    history = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 0, 6]])
    target, after = torch.tensor([7, 8, 9]), torch.tensor([10, 0, 11])
    captured: list[torch.Tensor] = []
    approximate = model.approximate

    def keep(*args: torch.Tensor) -> torch.Tensor:
        captured.append(approximate(*args))
        return captured[-1]

    model.approximate = keep  # type: ignore[method-assign]
    torch.manual_seed(0)
    plain = DiffusionRecommender.loss(model, history, target)
    screen._after[:] = [after]
    torch.manual_seed(0)
    screened = screen.loss(model, history, target)
    rows = after > 0
    ahead = torch.nn.functional.cross_entropy(
        model.training_scorer(captured[-1][rows], model.item_table), after[rows] - 1
    )
    assert torch.allclose(captured[0], captured[1])
    assert torch.allclose(screened, plain + weight * ahead * 2 / 3, atol=1e-6)
    # a batch without the item after next (or of another size) trains as the plain loss
    screen._after[:] = [torch.zeros(3, dtype=torch.int64)]
    torch.manual_seed(0)
    assert torch.allclose(screen.loss(model, history, target), plain, atol=1e-6)
    assert bool(screened > plain) == (weight > 0)


def test_the_symmetric_kl_is_the_mean_of_both_directions() -> None:
    screen = load_screen("rdrop_screen")
    log_p = torch.randn(4, 7, dtype=torch.float64).log_softmax(-1)
    log_q = torch.randn(4, 7, dtype=torch.float64).log_softmax(-1)
    def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # KL(p || q) as torch writes it
        return torch.nn.functional.kl_div(q, p, log_target=True, reduction="batchmean")

    both = 0.5 * (kl(log_p, log_q) + kl(log_q, log_p))
    assert torch.allclose(screen.symmetric_kl(log_p, log_q), both)
    assert float(screen.symmetric_kl(log_p, log_p)) == 0.0


def test_rdrop_without_dropout_is_the_plain_loss_and_with_it_adds_a_positive_penalty() -> None:
    screen = load_screen("rdrop_screen")
    model = prepare(load_spec(None, [*TINY, "data.name=null", "train.precision=fp32"])).model
    assert isinstance(model, DiffusionRecommender)
    history, target = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 0, 6]]), torch.tensor([7, 8, 9])
    model.eval()  # both views identical: the mean cross-entropy is the plain one, the divergence 0
    torch.manual_seed(0)
    plain = DiffusionRecommender.loss(model, history, target)
    torch.manual_seed(0)
    assert torch.allclose(screen.loss(model, history, target), plain, atol=1e-6)
    model.train()
    with torch.no_grad():
        screen.ALPHA = 0.0
        torch.manual_seed(1)
        without = screen.loss(model, history, target)
        screen.ALPHA = 1.0
        torch.manual_seed(1)
        assert float(screen.loss(model, history, target)) > float(without)


def test_the_mixture_of_logits_is_its_closed_form_and_scores_each_item_alone() -> None:
    screen = load_screen("mixture_screen")
    torch.manual_seed(0)
    mixture = screen.MixtureOfLogits(8, 3, 0.1)
    x0, items = torch.randn(5, 8), torch.randn(11, 8)
    queries = torch.nn.functional.normalize(mixture.queries(x0).view(5, 3, 8), dim=-1)
    gate = torch.softmax(mixture.gate(x0), -1)
    cosines = queries @ torch.nn.functional.normalize(items, dim=-1).T
    closed = torch.log((gate[:, :, None] * torch.exp(cosines / 0.1)).sum(1))
    scores = mixture(x0, items)
    assert torch.allclose(scores, closed, atol=1e-4)
    assert torch.allclose(mixture(x0, items[3:7]), scores[:, 3:7], atol=1e-5)  # a slice of items, the same columns
    assert torch.allclose(mixture.paired(x0, items[:5]), scores.diagonal(), atol=1e-5)


def test_the_mixture_screen_trains_and_ranks_with_one_shared_scorer() -> None:
    screen = load_screen("mixture_screen")
    spec = load_spec(None, [*TINY, "data.name=null", "model.loss_scorer.name=cosine",
                            "model.loss_scorer.params.temperature=0.2"])
    prepared = prepare(spec)
    model = screen.build_model(spec, prepared.data.num_items)
    assert model.scorer is model.loss_scorer is model.training_scorer
    assert isinstance(model.scorer, screen.MixtureOfLogits) and model.scorer.temperature == 0.2
    # the optimiser sees the mixture's weights once, though two attributes hold them
    mixture_params = {id(p) for p in model.scorer.parameters()}
    assert mixture_params <= {id(p) for p in model.parameters()}
    assert len(list(model.parameters())) == len({id(p) for p in model.parameters()})


def test_the_margin_lowers_only_the_label_logit_by_margin_over_temperature() -> None:
    screen = load_screen("margin_screen")
    screen.MARGIN, screen.TEMPERATURE = 0.1, 0.1
    logits, labels = torch.randn(4, 9, dtype=torch.float64), torch.tensor([0, 3, 8, 3])
    lowered = logits.clone()
    lowered[torch.arange(4), labels] -= 1.0
    expected = torch.nn.functional.cross_entropy(lowered, labels)
    assert torch.allclose(screen.cross_entropy(logits, labels), expected)
    assert float(screen.cross_entropy(logits, labels)) > float(torch.nn.functional.cross_entropy(logits, labels))
    screen.MARGIN = 0.0
    assert torch.allclose(screen.cross_entropy(logits, labels), torch.nn.functional.cross_entropy(logits, labels))
