"""Smoke runs of both paper presets on the real Amazon Beauty data (skipped where it is not mounted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import BEAUTY, invoke, read_results, set_args, write_spec

from recdiff import load_spec
from recdiff.training.rundir import read_metrics

METRICS = {"hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr"}
BUDGET = [
    "train.epochs=1",
    "train.max_batches=3",
    "train.batch_size=256",
    "eval.max_users=300",
    "model.hidden=32",
]


@pytest.fixture
def beauty() -> Path:
    if not BEAUTY.is_file():
        pytest.skip(f"real data not present at {BEAUTY}")
    return BEAUTY


@pytest.mark.parametrize(
    "preset, conditioning, noise",
    [("diffurec", "additive", "gaussian"), ("diffurecsys", "cross_attention", "offset")],
)
def test_preset_trains_on_beauty(tmp_path: Path, beauty: Path, preset: str, conditioning: str, noise: str) -> None:
    spec_file = write_spec(tmp_path / f"{preset}.yaml", f"name: beauty-{preset}\npreset: {preset}\n")
    run_dir = tmp_path / "run"
    result = invoke("train", spec_file, "--out", run_dir, "--set", f"data.path={beauty}", *set_args(BUDGET))
    assert result.exit_code == 0, result.output
    assert "HR@10" in result.output and "popularity" in result.output
    assert "22,363 users" in result.output and "12,101 items" in result.output

    spec = load_spec(run_dir / "spec.yaml")
    assert spec.data.path == beauty
    assert spec.preset == preset
    assert (spec.model.conditioning.name, spec.model.noise.name) == (conditioning, noise)
    assert spec.model.hidden == 32 and spec.eval.max_users == 300

    env = json.loads((run_dir / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["seed"] == spec.seed

    records = read_metrics(run_dir)
    events = {(r["event"], r.get("split")) for r in records}
    assert {("baseline", "val"), ("baseline", "test"), ("epoch", None), ("eval", "val"), ("eval", "test")} <= events
    epoch = next(r for r in records if r["event"] == "epoch")
    assert 0 < epoch["examples"] <= 3 * 256 and epoch["loss"] > 0

    for name in ("best", "last"):
        state = torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=True)
        assert state["num_items"] == 12101
        assert state["spec"]["data"]["path"] == str(beauty)

    results = read_results(run_dir)
    for section in (results["test"], results["val"], results["popularity"]["test"], results["popularity"]["val"]):
        assert set(section) == METRICS
        assert all(0.0 <= value <= 1.0 for value in section.values())
    assert results["best_epoch"] == 1 and results["epochs_run"] == 1
    assert results["test"]["hr@5"] <= results["test"]["hr@10"] <= results["test"]["hr@20"]
