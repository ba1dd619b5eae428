"""The original code's choices as spec fields: visible padding, block dropout, reference init, unchained
blocks, the DiffuRecSys code's linear attention, the validation schedule and selection rules, presets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import TINY, flat, invoke, read_results, set_args
from einops import rearrange

import recdiff
from recdiff.nn.backbones import Transformer, TransformerBlock
from recdiff.nn.conditioning import LinearCrossAttention
from recdiff.nn.randomness import NoiseStream
from recdiff.spec.models import TrainSpec
from recdiff.training.rundir import read_metrics
from recdiff.training.trainer import improves, validates

NUM_ITEMS = 30
HIDDEN = 16
HISTORY = torch.tensor([[0, 0, 0, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]])


def build(backbone: dict | None = None, conditioning: dict | None = None, **model: object) -> recdiff.DiffusionRecommender:
    spec = recdiff.load_spec(
        {
            "data": {"max_len": 8},
            "model": {
                "hidden": HIDDEN,
                "steps": 4,
                "dropout": 0.0,
                "emb_dropout": 0.0,
                "backbone": {"name": "transformer", "params": {"blocks": 2, "heads": 2, **(backbone or {})}},
                "conditioning": conditioning or {"name": "additive"},
                **model,
            },
        }
    )
    torch.manual_seed(0)
    return recdiff.build_model(spec, NUM_ITEMS)


def scores_with_pad_row(model: recdiff.DiffusionRecommender, row: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        model.item_embedding.weight[0] = row
        torch.manual_seed(1)
        return model(HISTORY)


@pytest.mark.parametrize(
    ("backbone", "conditioning"),
    [
        ({"padding": "visible"}, None),
        (None, {"name": "linear_cross_attention", "params": {"heads": 2}}),
    ],
    ids=["visible-backbone", "linear-attention"],
)
def test_visible_padding_makes_outputs_depend_on_the_pad_row(backbone: dict | None, conditioning: dict | None) -> None:
    model = build(backbone, conditioning).eval()
    assert model.fixed_width and model.item_embedding.padding_idx is None
    first = scores_with_pad_row(model, torch.randn(HIDDEN))
    second = scores_with_pad_row(model, torch.randn(HIDDEN))
    assert (first - second).abs().amax(dim=1).min() > 1e-4, "every row, even the full one, sees padding at max_len"


@pytest.mark.parametrize(
    ("backbone", "conditioning"),
    [(None, None), (None, {"name": "linear_cross_attention", "params": {"heads": 2, "padding": "masked"}})],
    ids=["masked-backbone", "masked-linear-attention"],
)
def test_masked_padding_ignores_the_pad_row(backbone: dict | None, conditioning: dict | None) -> None:
    model = build(backbone, conditioning).eval()
    assert not model.fixed_width and model.item_embedding.padding_idx == 0
    first = scores_with_pad_row(model, torch.randn(HIDDEN))
    torch.testing.assert_close(scores_with_pad_row(model, torch.randn(HIDDEN)), first)


def test_visible_padding_learns_the_pad_row_and_pads_to_max_len() -> None:
    model = build({"padding": "visible"}).train()
    model.loss(HISTORY, torch.tensor([7, 8, 9])).backward()
    assert model.item_embedding.weight.grad[0].abs().sum() > 0
    h, mask = model.encode_history(HISTORY)
    assert h.shape[1] == 8 and mask.sum().item() == int((HISTORY > 0).sum())
    assert model.encode_history(torch.arange(1, 11)[None])[1].shape == (1, 8), "longer histories keep their newest items"


def test_visible_padding_queries_attend_uniformly() -> None:
    """A padding query's attention output is the mean of the values, as the original's filled score row gives."""
    block = TransformerBlock(HIDDEN, 2, 0.0, 4).eval()
    attention = block.attention
    torch.manual_seed(2)
    x = torch.randn(2, 5, HIDDEN)
    blank = torch.tensor([[True, True, False, False, False], [False] * 5])
    out = attention(x, x, None, blank)
    values = rearrange(attention.key_value(x), "b l (two h d) -> two b h l d", two=2, h=2)[1]
    uniform = attention.out(rearrange(values.mean(dim=2, keepdim=True).expand(-1, -1, 5, -1), "b h l d -> b l (h d)"))
    torch.testing.assert_close(out[0, :2], uniform[0, :2])
    assert not torch.allclose(out[0, 2:], uniform[0, 2:]) and not torch.allclose(out[1], uniform[1])
    with torch.no_grad():  # the unfused path (training with dropout) gives the same rows
        attention.train()
        attention.dropout.p = 1e-9
        torch.testing.assert_close(attention(x, x, None, blank), out, atol=1e-5, rtol=1e-5)


def test_visible_padding_needs_a_non_causal_transformer() -> None:
    with pytest.raises(recdiff.RecdiffError, match="causal"):
        build({"padding": "visible", "causal": True})


def test_block_dropout_is_active_in_training_only() -> None:
    torch.manual_seed(3)
    plain, dropped = TransformerBlock(HIDDEN, 2, 0.5, 4), TransformerBlock(HIDDEN, 2, 0.5, 4, block_dropout=True)
    dropped.load_state_dict(plain.state_dict())
    h = torch.randn(64, 6, HIDDEN)
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(h, None), plain(h, None))
    plain.train(), dropped.train()
    assert (plain(h, None) == 0).float().mean() < 0.01
    assert (dropped(h, None) == 0).float().mean().item() == pytest.approx(0.5, abs=0.03)


def test_reference_init_gives_the_original_codes_distributions() -> None:
    model = build({"padding": "visible"}, hidden=64, init="reference")
    table = model.item_embedding.weight.detach()
    assert table.std().item() == pytest.approx(1.0, rel=0.1) and table[0].abs().sum() > 0
    for block in model.backbone.blocks:
        for weight in (block.ff[0].weight, block.ff[3].weight, block.attention.out.weight):
            xavier = math.sqrt(2.0 / sum(weight.shape))
            assert weight.std().item() == pytest.approx(xavier, rel=0.1)
        for linear in (block.attention.query, block.attention.key_value, block.ff[0]):
            bound = 1 / math.sqrt(linear.in_features)
            assert 0 < linear.bias.abs().max() <= bound, "biases keep PyTorch's uniform default"
        query = block.attention.query.weight
        assert query.abs().max() <= 1 / math.sqrt(query.shape[1])
        assert query.std().item() == pytest.approx(1 / math.sqrt(3 * query.shape[1]), rel=0.1)
        assert torch.equal(block.attention_norm.weight, torch.ones(64))
    step = model.step_embedding.mlp[0]
    assert step.weight.std().item() == pytest.approx(1 / math.sqrt(3 * step.in_features), rel=0.1)
    masked = build(hidden=64, init="reference")
    assert torch.equal(masked.item_embedding.weight[0], torch.zeros(64)), "a masked model's pad row stays zero"


def test_unchained_blocks_read_the_input_so_only_the_last_counts() -> None:
    torch.manual_seed(4)
    backbone = Transformer(HIDDEN, 0.0, blocks=3, heads=2, chained=False).eval()
    h, mask = torch.randn(2, 5, HIDDEN), torch.ones(2, 5, dtype=torch.bool)
    calls: list[int] = []

    def condition(index: int, hidden: torch.Tensor) -> torch.Tensor:
        calls.append(index)
        return hidden

    out = backbone(h, mask, condition)
    torch.testing.assert_close(out, backbone.blocks[2](h, mask[:, None, None, :]))
    assert calls == [2]
    torch.testing.assert_close(backbone.last(h, mask, condition), out[:, -1])
    with torch.no_grad():
        backbone.blocks[0].ff[0].weight.mul_(3.0)
    torch.testing.assert_close(backbone(h, mask, condition), out)


def test_linear_cross_attention_closed_form() -> None:
    """Per head: softmax(q) over features times softmax(K over heads)^T V; padding rows -1e9 before the output."""
    torch.manual_seed(5)
    block = LinearCrossAttention(HIDDEN, 1, 0.0, delta=0.5, heads=2).eval()
    hidden, target = torch.randn(2, 4, HIDDEN), torch.randn(2, HIDDEN)
    mask = torch.tensor([[False, True, True, True], [True] * 4])
    noise = NoiseStream(torch.arange(2))
    out = block.before_block(0, hidden, target, mask, noise.copy())
    lam = 0.5 + 0.5 * noise.copy().normal_sequence(4, HIDDEN, torch.float32)
    q = block.query[0](lam * target[:, None]).view(2, 4, 2, 8)
    k, v = block.key_value[0](block.norms[0](hidden)).view(2, 4, 2, 2, 8).unbind(dim=2)
    k = k.softmax(dim=2)  # over the two heads
    expected = torch.empty(2, 4, 2, 8)
    for b in range(2):
        for head in range(2):
            context = sum(torch.outer(k[b, pos, head], v[b, pos, head]) for pos in range(4))
            expected[b, :, head] = q[b, :, head].softmax(dim=-1) @ context
    expected[0, 0] = -1e9
    torch.testing.assert_close(out, hidden + block.out[0](expected.reshape(2, 4, HIDDEN)), rtol=1e-4, atol=1e-2)


def test_validation_schedule_of_the_original_code() -> None:
    original = TrainSpec(epochs=100, eval_every=20, eval_first=21)
    assert [e for e in range(1, 101) if validates(original, e)] == [21, 41, 61, 81, 100]
    assert [e for e in range(1, 8) if validates(TrainSpec(epochs=7, eval_every=3), e)] == [3, 6, 7]


def test_any_rule_improves_when_any_metric_beats_its_own_best() -> None:
    best: dict = {"epoch": 0, "value": float("-inf"), "metrics": {}}
    first = {"hr@10": 0.10, "ndcg@10": 0.05, "mrr": 0.04}
    improved, each = improves("any", "ndcg@10", first, best)
    assert improved and each == {"hr@10": 0.10, "ndcg@10": 0.05}
    best = {"epoch": 1, "value": 0.05, "metrics": first, "each": each}
    second = {"hr@10": 0.11, "ndcg@10": 0.04, "mrr": 0.05}
    assert improves("any", "ndcg@10", second, best) == (True, {"hr@10": 0.11, "ndcg@10": 0.05})
    assert improves("metric", "ndcg@10", second, best)[0] is False
    third = {"hr@10": 0.105, "ndcg@10": 0.049, "mrr": 0.09}  # beats the previous run's values, not the bests
    assert improves("any", "ndcg@10", third, {**best, "each": {"hr@10": 0.11, "ndcg@10": 0.05}})[0] is False


def test_last_checkpoint_is_tested_and_eval_first_is_followed(tmp_path: Path) -> None:
    spec = recdiff.load_spec(
        None,
        [*TINY, "train.epochs=4", "train.eval_every=2", "train.eval_first=1", "eval.select=any",
         "eval.test_checkpoint=last", "train.patience=null"],
    )
    result = recdiff.train(spec, tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    assert [r["epoch"] for r in records if r["event"] == "eval" and r["split"] == "val"] == [1, 3, 4]
    assert result.tested == {"checkpoint": "last", "epoch": 4}
    assert recdiff.evaluate_run(tmp_path / "run", "test", checkpoint="last") == result.test
    assert read_results(tmp_path / "run")["tested"]["epoch"] == 4


@pytest.mark.parametrize("preset", ["diffurec-reference", "diffurecsys-reference"])
def test_reference_presets_train(preset: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(f"preset: {preset}\n")
    result = invoke("train", spec_file, *set_args([*TINY, "train.eval_first=1"]), "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    tested = "last epoch 2" if preset == "diffurecsys-reference" else "best epoch"
    assert tested in result.output


def test_spec_show_of_diffurec_reference_has_the_original_regime(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("preset: diffurec-reference\n")
    shown = flat(invoke("spec", "show", spec_file).output)
    for expected in (
        "batch_size: 512 lr: 0.001 weight_decay: 0.0 lr_step: 100",
        "epochs: 500",
        "max_len: 50",
        "eval_every: 20 eval_first: 21 patience: 5",
        "select: any test_checkpoint: best",
        "init: reference",
        "padding: visible block_dropout: true chained: true",
        "bucket: false",
    ):
        assert expected in shown, expected


def test_each_ablation_changes_one_field_toward_recdiffs_default() -> None:
    """examples/reference/ablations.yaml: every variant is a valid override of diffurec-reference that
    moves exactly its field, to the value recdiff's own default spec has."""
    import yaml
    from conftest import REPO

    variants = yaml.safe_load((REPO / "examples" / "reference" / "ablations.yaml").read_text())
    spec_file = REPO / "examples" / "reference" / "beauty-diffurec-reference.yaml"
    base = recdiff.load_spec(spec_file).model_dump()
    default = recdiff.load_spec({}).model_dump()

    def lookup(tree: dict, dotted: str) -> object:
        for key in dotted.split("."):
            tree = tree[key]
        return tree

    for name, overrides in variants.items():
        changed = recdiff.load_spec(spec_file, [f"{k}={v}" for k, v in overrides.items()]).model_dump()
        for field, value in overrides.items():
            assert lookup(changed, field) == value == lookup(default, field) != lookup(base, field), name
        changed_fields = [f for f in ("model", "train", "eval", "data") if changed[f] != base[f]]
        assert len(changed_fields) == 1, (name, changed_fields)
