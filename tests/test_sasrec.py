"""SASRec: full cross-entropy at every real position, causal, trained from the same spec and CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, invoke, read_results, set_args, write_spec
from torch.nn import functional as F

import recdiff
from recdiff.data import SequenceData, Split, longest_per_user
from recdiff.models.sasrec import SASRec


def build(dropout: float = 0.0) -> SASRec:
    spec = recdiff.load_spec({
        "preset": "sasrec",
        "data": {"max_len": 8},
        "model": {"hidden": 16, "dropout": dropout, "emb_dropout": dropout,
                  "backbone": {"name": "transformer", "params": {"blocks": 2, "heads": 2, "causal": True}}},
    })
    torch.manual_seed(0)
    model = recdiff.build_model(spec, 20)
    assert isinstance(model, SASRec)
    return model


HISTORY = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
TARGET = torch.tensor([6, 7, 10])


def test_loss_is_cross_entropy_at_every_real_position() -> None:
    model = build()
    h, mask = model.encode(HISTORY)
    out = model.out_norm(model.backbone(h, mask, lambda index, hidden: hidden))
    logits = out @ model.item_table.T
    # labels: each real item's successor; the last position's label is the target
    labels = {(0, 2): 4, (0, 3): 5, (0, 4): 6, (1, 0): 2, (1, 1): 3, (1, 2): 4, (1, 3): 5, (1, 4): 7, (2, 4): 10}
    expected = torch.stack(
        [F.cross_entropy(logits[b, i][None], torch.tensor([item - 1])) for (b, i), item in labels.items()]
    ).mean()
    torch.testing.assert_close(model.loss(HISTORY, TARGET), expected)


def test_label_smoothing_mixes_in_the_mean_log_probability_over_all_items() -> None:
    model = build()
    model.label_smoothing = 0.2
    h, mask = model.encode(HISTORY)
    out = model.out_norm(model.backbone(h, mask, lambda index, hidden: hidden))
    log_p = torch.log_softmax((out @ model.item_table.T)[mask], dim=-1)
    labels = torch.cat([HISTORY[:, 1:], TARGET[:, None]], dim=1)[mask] - 1
    picked = -log_p.gather(1, labels[:, None]).squeeze(1)
    expected = (0.8 * picked - 0.2 * log_p.mean(dim=1)).mean()  # (1 - e) CE + e * uniform-target CE
    torch.testing.assert_close(model.loss(HISTORY, TARGET), expected)


def test_masking_history_leaves_each_positions_seen_items_out_of_its_softmax() -> None:
    model = build()
    model.mask_history_in_loss = True
    history = torch.tensor([[0, 3, 4, 3, 5]])  # item 3 comes back as the label of position 2
    target = torch.tensor([4])
    h, mask = model.encode(history)
    logits = model.out_norm(model.backbone(h, mask, lambda index, hidden: hidden))[0] @ model.item_table.T
    expected = []
    for position, label in ((1, 4), (2, 3), (3, 5), (4, 4)):
        row = logits[position].clone()
        seen = {int(i) for i in history[0, 1 : position + 1]} - {label}
        row[[i - 1 for i in seen]] = -torch.inf
        expected.append(F.cross_entropy(row[None], torch.tensor([label - 1])))
    torch.testing.assert_close(model.loss(history, target), torch.stack(expected).mean())


def test_outputs_are_causal_and_padding_free() -> None:
    model = build().eval()
    with torch.no_grad():
        h, mask = model.encode(HISTORY)
        before = model.backbone(h, mask, lambda index, hidden: hidden)
        changed = HISTORY.clone()
        changed[1, 4] = 11
        h2, mask2 = model.encode(changed)
        after = model.backbone(h2, mask2, lambda index, hidden: hidden)
        torch.testing.assert_close(after[1, :4], before[1, :4])  # earlier positions do not see the change
        assert not torch.allclose(after[1, 4], before[1, 4])
        padded = torch.cat([torch.zeros(3, 2, dtype=torch.long), HISTORY], dim=1)
        torch.testing.assert_close(model.represent(padded), model.represent(HISTORY), rtol=1e-5, atol=1e-5)
        assert model.represent(HISTORY, ensemble=4).shape == (1, 3, 16)


def test_longest_example_per_user() -> None:
    # users own items[0:4] and items[4:7]; examples end at various positions, in any order
    data = SequenceData(items=np.arange(1, 8), offsets=np.array([0, 4, 7]), num_items=7,
                        item_ids=np.arange(1, 8).astype(str).astype(object), user_ids=np.array(["a", "b"], dtype=object))
    split = Split(start=np.array([0, 4, 0, 4, 0]), end=np.array([2, 6, 1, 5, 3]))
    longest = longest_per_user(data, split)
    assert sorted(longest.end.tolist()) == [3, 6]
    assert sorted(longest.start.tolist()) == [0, 4]


def test_sasrec_trains_from_a_spec_through_the_cli(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "sasrec.yaml", "name: sasrec\npreset: sasrec\nseed: 1\n")
    result = invoke("train", spec, "--out", tmp_path / "run", *set_args([*TINY, "model.backbone.params.causal=true"]))
    assert result.exit_code == 0, result.output
    results = read_results(tmp_path / "run")
    assert set(results["test"]) >= {"hr@10", "ndcg@10"} and 0.0 <= results["test"]["hr@10"] <= 1.0
    # one training example per user: 200 synthetic users, batch 64 -> at most 4 batches an epoch
    records = [line for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if '"epoch"' in line]
    assert '"examples": 200' in records[0]
    again = invoke("evaluate", tmp_path / "run", "--json")
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("field", ["model.architecture.name=sasrc"])
def test_unknown_architecture_is_a_spec_error(field: str) -> None:
    with pytest.raises(recdiff.RecdiffError, match="model.architecture.name"):
        recdiff.load_spec({}, [field])
