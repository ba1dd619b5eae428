"""Late fusion: every prefix from one causal pass, the diffusion in a head; loss, inference cost, CLI, composition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY, invoke, read_results, set_args, write_spec
from torch import nn
from torch.nn import functional as F

import recdiff
from recdiff.models.late_fusion import LateFusionRecommender
from recdiff.nn.denoisers import Denoiser
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import registry
from recdiff.testing import check_denoiser

HISTORY = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
TARGET = torch.tensor([6, 7, 10])


def build(sampler: str = "ddpm", denoiser: str = "mlp", **sampler_params: object) -> LateFusionRecommender:
    spec = recdiff.load_spec({
        "preset": "late-fusion",
        "data": {"max_len": 8},
        "model": {"hidden": 16, "steps": 8, "dropout": 0.0, "emb_dropout": 0.0,
                  "backbone": {"params": {"blocks": 2, "heads": 2}},
                  "denoiser": {"name": denoiser},
                  "sampler": {"name": sampler, "params": dict(sampler_params)}},
    })
    torch.manual_seed(0)
    model = recdiff.build_model(spec, 20)
    assert isinstance(model, LateFusionRecommender)
    return model


def test_loss_is_the_mean_over_real_positions_of_each_positions_own_noised_cross_entropy() -> None:
    model = build()
    torch.manual_seed(3)
    loss = model.loss(HISTORY, TARGET)
    states, mask = model.states(HISTORY)
    # each real position's label is the next item; the draws come one per real position, row-major
    labels = [(0, 2, 4), (0, 3, 5), (0, 4, 6), (1, 0, 2), (1, 1, 3), (1, 2, 4), (1, 3, 5), (1, 4, 7), (2, 4, 10)]
    torch.manual_seed(3)
    t = torch.randint(0, 8, (len(labels),))
    eps = torch.randn(len(labels), 16)
    terms = []
    for row, (b, i, item) in enumerate(labels):
        x0 = model.item_embedding.weight[item][None]
        x_t = model.process.q_sample(x0, t[row : row + 1], eps[row : row + 1])
        x0_hat = model.denoise(x_t, t[row : row + 1], states[b, i][None])
        terms.append(F.cross_entropy(x0_hat @ model.item_table.T, torch.tensor([item - 1])))
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    assert model.loss_terms(HISTORY) == len(labels)


def test_padding_positions_neither_count_nor_draw() -> None:
    model = build()
    torch.manual_seed(5)
    plain = model.loss(HISTORY, TARGET)
    torch.manual_seed(5)
    padded = model.loss(torch.cat([torch.zeros(3, 4, dtype=torch.long), HISTORY], dim=1), TARGET)
    torch.testing.assert_close(padded, plain)


class _Counted:
    """Counts the calls of a bound method it replaces."""

    def __init__(self, method: object) -> None:
        self.method, self.calls = method, 0

    def __call__(self, *args: object) -> object:
        self.calls += 1
        return self.method(*args)  # type: ignore[operator]


@pytest.mark.parametrize(("sampler", "params"), [("ddpm", {}), ("ddim", {"steps": 3}), ("x0", {})])
@pytest.mark.parametrize("ensemble", [1, 3])
def test_inference_encodes_once_and_runs_only_the_head_at_each_step(
    sampler: str, params: dict[str, object], ensemble: int
) -> None:
    model = build(sampler, **params).eval()
    last, head = _Counted(model.backbone.last), _Counted(model.denoiser.forward)
    model.backbone.last, model.denoiser.forward = last, head  # type: ignore[method-assign]
    forward = _Counted(model.backbone.forward)
    model.backbone.forward = forward  # type: ignore[method-assign]
    with torch.no_grad():
        out = model.represent(HISTORY, NoiseStream.keyed(0, torch.arange(3)), ensemble)
    assert out.shape == (ensemble, 3, 16) and out.dtype == torch.float32
    assert (last.calls, forward.calls) == (1, 0)
    assert head.calls == model.sampler.evaluations


def test_a_non_causal_backbone_is_refused_with_the_fix() -> None:
    with pytest.raises(recdiff.RecdiffError, match="causal: true"):
        recdiff.build_model(recdiff.load_spec({"preset": "late-fusion"}, ["model.backbone.params.causal=false"]), 20)


def test_an_unknown_denoiser_names_the_slot_and_the_alternatives() -> None:
    with pytest.raises(recdiff.RecdiffError, match=r"model.denoiser.name: Unknown denoiser component 'mpl'\. Did you mean 'mlp'"):
        recdiff.load_spec({"preset": "late-fusion"}, ["model.denoiser.name=mpl"])


class _Linear(Denoiser):
    """x0_hat = W [x_t, state]: a head written in a user's script."""

    def __init__(self, hidden: int, steps: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * hidden, hidden)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(torch.cat([x_t, state], dim=-1))
        return out


def test_a_head_composed_in_python_is_built_trained_and_checked() -> None:
    recdiff.register("denoiser", "test_linear_head")(_Linear)
    try:
        model = build(denoiser="test_linear_head")
        assert isinstance(model.denoiser, _Linear)
        model.loss(HISTORY, TARGET).backward()
        assert model.denoiser.linear.weight.grad is not None
        check_denoiser("test_linear_head")
    finally:
        registry("denoiser")._entries.pop("test_linear_head")


def test_late_fusion_preset_trains_evaluates_and_recommends_through_the_cli(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "late.yaml", "name: late\npreset: late-fusion\nseed: 1\n")
    result = invoke("train", spec, "--out", tmp_path / "run", *set_args(TINY))
    assert result.exit_code == 0, result.output
    results = read_results(tmp_path / "run")
    assert 0.0 <= results["test"]["hr@10"] <= 1.0
    epoch = next(json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
                 if '"epoch"' in line and '"loss"' in line)
    assert epoch["examples"] == 200  # as for SASRec: one row per user, its longest training sequence
    again = invoke("evaluate", tmp_path / "run", "--json", "--set", "model.sampler.name=x0")
    assert again.exit_code == 0, again.output
    items = list(json.loads((tmp_path / "run" / "vocab.json").read_text())["items"])[:3]
    histories = tmp_path / "users.jsonl"
    histories.write_text(json.dumps({"user": "u", "history": items}) + "\n")
    recs = invoke("recommend", tmp_path / "run", "--input", histories, "--k", 4, "--out", tmp_path / "recs.jsonl")
    assert recs.exit_code == 0, recs.output
    assert len(json.loads((tmp_path / "recs.jsonl").read_text())["items"]) == 4
