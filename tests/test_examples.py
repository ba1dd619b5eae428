"""The runnable examples run as documented."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from rich.console import Console

import recdiff
from recdiff import load_spec


def test_compose_variant_trains_and_evaluates(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "compose_variant.py"), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conditioning: ScaledAdditive" in done.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["test"]["hr@10"] >= 3 * results["popularity"]["test"]["hr@10"]
    spec = (out / "spec.yaml").read_text()
    assert "scaled_additive" in spec and "scale: 0.1" in spec


PAPER = sorted((REPO / "examples" / "paper").glob("*.yaml"))
LATE_FUSION_USERS = {"beauty-late-fusion": 175, "ml-1m-late-fusion": 10}


def test_paper_specs_cover_every_dataset_and_model() -> None:
    names = {path.stem for path in PAPER}
    papers = {f"{d}-{m}" for d in ("beauty", "toys", "ml-1m") for m in ("diffurec", "diffurecsys-v1", "diffurecsys", "sasrec")}
    assert names == papers | {"beauty-late-fusion", "ml-1m-late-fusion"}


@pytest.mark.parametrize("path", PAPER, ids=[p.stem for p in PAPER])
def test_paper_specs_follow_the_protocol(path: Path) -> None:
    spec = load_spec(path)
    dataset, model = path.stem.split("-", 1) if not path.stem.startswith("ml-1m") else ("ml-1m", path.stem[6:])
    assert spec.data.name == dataset and spec.preset == model
    # the protocol's batch of 1,024 prefixes; a late-fusion batch counts users, each about 5.9 (Beauty) or
    # 107 (ML-1M) training positions, so it is 1,024 positions a step translated into users
    batch = LATE_FUSION_USERS.get(path.stem, 1024)
    assert (spec.train.epochs, spec.train.batch_size, spec.train.lr, spec.train.lr_step) == (41, batch, 1e-3, 30)
    if model == "sasrec":
        assert spec.model.architecture.name == "sasrec" and spec.model.backbone.params["causal"] is True
    elif model == "late-fusion":
        assert spec.model.architecture.name == "late_fusion" and spec.model.backbone.params["causal"] is True
        assert (spec.model.steps, spec.model.schedule.name, spec.model.noise.name) == (32, "trunc_lin", "gaussian")
    else:
        assert spec.model.architecture.name == "diffusion" and spec.model.steps == 32
        assert spec.model.conditioning.name == ("additive" if model == "diffurec" else "cross_attention")
        assert spec.model.noise.name == ("offset" if model == "diffurecsys" else "gaussian")


@pytest.mark.parametrize("name", ["beauty-best", "beauty-refit"])
def test_best_beauty_specs_train_with_their_settings(tmp_path: Path, name: str) -> None:
    # the documented best configuration and its refit, on small synthetic data with a batch budget
    path = REPO / "examples" / f"{name}.yaml"
    spec = load_spec(path, [
        "data.name=null", "data.max_len=12", "data.synthetic.users=150", "data.synthetic.items=40",
        "model.hidden=16", "train.epochs=2", "train.max_batches=3", "train.precision=fp32",
    ])
    assert spec.model.exclude_history and spec.model.sampler.name == "x0"
    # the recipe keeps its first learning rate 20 epochs under embedding dropout 0.5, and waits 5
    # epochs for a better one; the refit's earlier recipe cut it at 6, under the preset's 0.3
    best_recipe = name == "beauty-best"
    assert spec.train.lr_step == (20 if best_recipe else 6)
    assert spec.model.emb_dropout == (0.5 if best_recipe else 0.3)
    assert load_spec(path).train.patience == (5 if best_recipe else None)
    # and never stops before the cut has had `patience` epochs to show its gain
    assert spec.train.min_epochs == (spec.train.lr_step + (spec.train.patience or 0) if best_recipe else 0)
    assert load_spec(path).model.backbone.params["blocks"] == (2 if best_recipe else 4)
    # the refit is the earlier best configuration (inner products, four blocks and embedding
    # dropout 0.3) trained on train+val for that configuration's best epoch
    earlier = ["model.scorer.name=dot", "model.loss_scorer=null", "model.backbone.params.blocks=4",
               "model.emb_dropout=0.3"]
    earlier = [] if best_recipe else earlier
    best = load_spec(REPO / "examples" / "beauty-best.yaml", earlier).model_dump(exclude={"name", "train", "eval"})
    assert load_spec(path).model_dump(exclude={"name", "train", "eval"}) == best
    assert spec.train.fit_on == ("train+val" if name == "beauty-refit" else "train")
    if name == "beauty-refit":
        assert load_spec(path).train.epochs == 13 and spec.train.patience is None
    result = recdiff.train(spec, tmp_path / "run", console=Console(file=io.StringIO()))
    assert result.epochs_run == 2 and 0.0 <= result.test["hr@10"] <= 1.0
    assert (result.val == {}) == (name == "beauty-refit")


@pytest.mark.parametrize("dataset", ["toys", "ml-1m"])
def test_the_best_recipe_is_the_same_on_every_dataset(dataset: str) -> None:
    # a recipe, not per-dataset tuning: only the data differ (ML-1M keeps the papers' max_len 200)
    best = load_spec(REPO / "examples" / "beauty-best.yaml")
    other = load_spec(REPO / "examples" / f"{dataset}-best.yaml")
    assert other.data.name == dataset and other.data.max_len == (200 if dataset == "ml-1m" else 50)
    assert other.model == best.model and other.train == best.train and other.eval == best.eval
    assert best.model.loss_scorer is not None and best.model.loss_scorer.params == {"temperature": 0.08}


REFERENCE = sorted((REPO / "examples" / "reference").glob("*-reference.yaml"))


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_reference_specs_are_the_preset_on_a_named_release(path: Path) -> None:
    spec = load_spec(path)
    dataset = "ml-1m" if path.stem.startswith("ml-1m") else path.stem.split("-")[0]
    preset = path.stem[len(dataset) + 1:]
    assert spec.data.name == dataset and spec.data.path is None and spec.preset == preset
    assert load_spec({"preset": preset, "name": spec.name, "data": {"name": dataset}}) == spec
    assert {p.stem for p in REFERENCE} == {f"{d}-{m}-reference" for d in ("beauty", "ml-1m") for m in ("diffurec", "diffurecsys")}
