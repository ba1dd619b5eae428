"""Guidance (kind `guidance`): `none` is the unguided model exactly; `cfg` drops histories in training and guides inference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY, assert_clean_failure, invoke, read_results, set_args, write_spec

import recdiff
from recdiff.errors import SpecError
from recdiff.nn.guidance import ClassifierFree
from recdiff.nn.randomness import NoiseStream
from recdiff.training.restore import inference_overrides

NUM_ITEMS = 30
HIDDEN = 16
HISTORY = torch.tensor([[0, 0, 0, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7], [0, 9, 8, 7, 6, 5]])
CFG = {"name": "cfg", "params": {"drop": 0.2, "weight": 1.5}}


BACKBONES = {
    "transformer": {"name": "transformer", "params": {"blocks": 2, "heads": 2}},
    "gru": {"name": "gru"},
    "visible": {"name": "transformer", "params": {"blocks": 2, "heads": 2, "padding": "visible"}},
}


def build(
    guidance: dict | None = None, backbone: str = "transformer", sampler: str = "ddpm", conditioning: str = "additive"
) -> recdiff.DiffusionRecommender:
    model: dict = {
        "hidden": HIDDEN, "steps": 4, "dropout": 0.0, "emb_dropout": 0.0,
        "backbone": BACKBONES[backbone], "sampler": {"name": sampler}, "conditioning": {"name": conditioning},
    }
    if guidance is not None:
        model["guidance"] = guidance
    torch.manual_seed(0)
    built = recdiff.build_model(recdiff.load_spec({"data": {"max_len": 12}, "model": model}), NUM_ITEMS)
    assert isinstance(built, recdiff.DiffusionRecommender)
    return built.eval()


def unguided(model: recdiff.DiffusionRecommender, history: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
    """The reverse chain as it was before guidance existed: the sampler calls the conditional approximator."""
    h, mask = model.encode_history(history)
    x_T = noise.normal(h.shape[2], h.dtype)
    return model.sampler(lambda x_t, t: model.approximate(h, mask, x_t, t, noise), x_T, noise)


def test_none_is_the_unguided_model_exactly() -> None:
    model = build({"name": "none"})
    assert not [name for name in model.state_dict() if name.startswith("guidance")]
    assert model.state_dict().keys() == build().state_dict().keys()
    with torch.no_grad():
        generated = model.generate(HISTORY, NoiseStream(torch.arange(4)))
        assert torch.equal(generated, unguided(model, HISTORY, NoiseStream(torch.arange(4))))
    model.train()
    torch.manual_seed(3)
    loss = model.loss(HISTORY, torch.tensor([7, 8, 9, 30]))
    torch.manual_seed(3)
    h, mask = model.encode_history(HISTORY)
    x0 = model.item_embedding(torch.tensor([7, 8, 9, 30]))
    t = model.timesteps(4, x0.device)
    x_t = model.process.q_sample(x0, t, model.noise(x0))
    x0_hat = model.approximate(h, mask, x_t, t, NoiseStream.fresh(4, x0.device))
    plain = model.objective(x0_hat, model.item_table, torch.tensor([7, 8, 9, 30]) - 1, model.training_scorer, None, 0.0)
    assert torch.equal(loss, plain)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_weight_zero_is_the_conditional_model(backbone: str) -> None:
    model = build({"name": "cfg", "params": {"weight": 0.0}}, backbone)
    with torch.no_grad():
        guided = model.generate(HISTORY, NoiseStream(torch.arange(4)))
        assert torch.equal(guided, unguided(model, HISTORY, NoiseStream(torch.arange(4))))


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
@pytest.mark.parametrize("weight", [1.0, 2.5, -0.5])
def test_guided_reconstruction_closed_form(backbone: str, weight: float) -> None:
    """x0 = x0(cond) + w (x0(cond) - x0(uncond)), each half computed by its own approximate() call."""
    model = build({"name": "cfg", "params": {"weight": weight}}, backbone)
    guidance = model.guidance
    assert isinstance(guidance, ClassifierFree)
    with torch.no_grad():
        h, mask = model.encode_history(HISTORY)
        empty, empty_mask = guidance.empty(h)
        x_t, t = torch.randn(4, HIDDEN), torch.tensor([0, 1, 2, 3])
        noise = NoiseStream(torch.arange(4))
        noise.normal(HIDDEN)  # a stream part-way through, as in a reverse chain
        cond = model.approximate(h, mask, x_t, t, noise.copy())
        uncond = model.approximate(empty, empty_mask, x_t, t, noise.copy())
        alone = noise.copy()
        model.approximate(h, mask, x_t, t, alone)
        guided = guidance.denoiser(model.approximate, h, mask, noise)(x_t, t)
    torch.testing.assert_close(guided, cond + weight * (cond - uncond))
    assert not torch.allclose(cond, uncond)
    # the stream moves on as an unguided step's would, so the sampler draws the same step noise
    assert noise.draws == alone.draws
    assert empty_mask.sum(1).tolist() == [1, 1, 1, 1] and empty_mask[:, -1].all()


def test_guided_chain_calls_the_guided_reconstruction_at_every_step() -> None:
    model = build(CFG)
    guidance = model.guidance
    assert isinstance(guidance, ClassifierFree)
    with torch.no_grad():
        h, mask = model.encode_history(HISTORY)
        empty, empty_mask = guidance.empty(h)
        noise = NoiseStream(torch.arange(4))
        x_T = noise.normal(HIDDEN)

        def by_hand(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            cond = model.approximate(h, mask, x_t, t, noise.copy())
            uncond = model.approximate(empty, empty_mask, x_t, t, noise)
            return cond + 1.5 * (cond - uncond)

        expected = model.sampler(by_hand, x_T, noise)
        guided = model.generate(HISTORY, NoiseStream(torch.arange(4)))
        conditional = unguided(model, HISTORY, NoiseStream(torch.arange(4)))
    torch.testing.assert_close(guided, expected)
    assert not torch.allclose(guided, conditional)


@pytest.mark.parametrize("conditioning", ["additive", "token"])
@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_guided_scores_do_not_depend_on_the_batch_or_its_padding(backbone: str, conditioning: str) -> None:
    model = build(CFG, backbone, conditioning=conditioning)
    keys = torch.tensor([11, 12, 13, 14])
    padded = torch.cat([torch.zeros(4, 3, dtype=torch.long), HISTORY], dim=1)
    with torch.no_grad():
        together = model.represent(HISTORY, NoiseStream.keyed(5, keys), ensemble=2)
        alone = model.represent(HISTORY[[2, 0]], NoiseStream.keyed(5, keys[[2, 0]]), ensemble=2)
        wider = model.represent(padded, NoiseStream.keyed(5, keys), ensemble=2)
    assert torch.isfinite(together).all()
    torch.testing.assert_close(alone, together[:, [2, 0]], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(wider, together, atol=1e-5, rtol=1e-5)


def test_training_drops_the_share_asked_for_reproducibly() -> None:
    guidance = ClassifierFree(HIDDEN, drop=0.1)
    h = torch.randn(20000, 5, HIDDEN)
    mask = torch.ones(20000, 5, dtype=torch.bool)

    def dropped(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        out, out_mask = guidance.forget(h, mask, NoiseStream.fresh(len(h), "cpu"))
        gone = ~out_mask[:, 0]
        assert torch.equal(out[gone][:, -1], guidance.null.weight[0].expand(int(gone.sum()), -1))
        assert torch.equal(out[~gone], h[~gone]) and (out[gone][:, :-1] == 0).all()
        return gone

    first = dropped(1)
    assert first.float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert torch.equal(dropped(1), first)
    assert not torch.equal(dropped(2), first)


def test_cfg_model_trains_with_a_finite_loss() -> None:
    model = build(CFG, "gru").train()
    torch.manual_seed(4)
    loss = model.loss(HISTORY.repeat(8, 1), torch.tensor([7, 8, 9, 30]).repeat(8))
    loss.backward()
    assert torch.isfinite(loss)
    null = model.guidance.get_parameter("null.weight")
    assert null.grad is not None and null.grad.abs().sum() > 0


def test_spec_fills_in_the_defaults_and_names_unknown_guidance() -> None:
    assert recdiff.load_spec({}).model.guidance.name == "none"
    spec = recdiff.load_spec({"model": {"guidance": {"name": "cfg"}}}, ["model.guidance.params.weight=2"])
    assert spec.model.guidance.params == {"drop": 0.1, "weight": 2.0}
    with pytest.raises(SpecError, match=r"Unknown guidance component 'cgf'. Did you mean 'cfg'\?"):
        recdiff.load_spec({"model": {"guidance": {"name": "cgf"}}})
    with pytest.raises(SpecError, match="model.guidance.params.drop"):
        recdiff.load_spec({"model": {"guidance": {"name": "cfg", "params": {"drop": 1.0}}}})


def test_only_the_weight_is_an_inference_setting() -> None:
    assert inference_overrides(["model.guidance.params.weight=2"]) == ["model.guidance.params.weight=2"]
    for field in ("model.guidance.params.drop=0.5", "model.guidance.name=none"):
        with pytest.raises(SpecError, match="inference settings"):
            inference_overrides([field])


def test_evaluate_a_cfg_run_with_another_weight(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "cfg.yaml", "name: cfg\nseed: 7\n")
    run_dir = tmp_path / "run"
    settings = [*TINY, "train.epochs=1", "train.max_batches=4", "model.guidance.name=cfg"]  # params: the defaults
    trained = invoke("train", spec, "--out", run_dir, *set_args(settings))
    assert trained.exit_code == 0, trained.output
    result = invoke("evaluate", run_dir, "--json", "--set", "model.guidance.params.weight=3")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    metrics.pop("seconds")
    assert metrics != read_results(run_dir)["test"]
    output = assert_clean_failure(invoke("evaluate", run_dir, "--set", "model.guidance.params.drop=0.5"))
    assert "model.guidance.params.drop" in output
    # spec.yaml edited by hand: the weight may change, the drop rate may not
    edited = shutil.copytree(run_dir, tmp_path / "edited")
    stored = yaml.safe_load((edited / "spec.yaml").read_text())
    stored["model"]["guidance"]["params"]["weight"] = 0.0
    (edited / "spec.yaml").write_text(yaml.safe_dump(stored))
    assert invoke("evaluate", edited, "--json").exit_code == 0
    stored["model"]["guidance"]["params"]["drop"] = 0.3
    (edited / "spec.yaml").write_text(yaml.safe_dump(stored))
    output = assert_clean_failure(invoke("evaluate", edited))
    assert "model.guidance.params.drop: 0.1 -> 0.3" in output
