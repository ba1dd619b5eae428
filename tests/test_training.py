"""Tests of training: the quickstart learns, runs repeat exactly, devices, early stopping, the LR schedule."""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, TINY, assert_clean_failure, flat, invoke, read_results, set_args, write_spec
from rich.console import Console

import recdiff
from recdiff import RecdiffError, load_spec
from recdiff.data import SequenceData, Split, latest_per_user
from recdiff.errors import SpecError
from recdiff.evaluation.prepared import prepare
from recdiff.spec.models import TrainSpec
from recdiff.training.rundir import read_metrics
from recdiff.training.trainer import TrainResult, make_scheduler, training_examples

QUICKSTART = REPO / "examples" / "quickstart.yaml"

#: A budget for the quickstart that still shows learning: 3 epochs of 20 batches, one validation,
#: 500 users, 300 evaluated. Measured HR@10 / popularity HR@10 over seeds 42, 1, 2: 8.9, 5.7, 12.6.
QUICKSTART_BUDGET = [
    "train.epochs=3",
    "train.max_batches=20",
    "train.eval_every=3",
    "data.synthetic.users=500",
    "eval.max_users=300",
]


def quiet_train(spec: recdiff.RunSpec, out: Path) -> tuple[TrainResult, str]:
    """Train through the library, capturing what the trainer prints."""
    buffer = io.StringIO()
    result = recdiff.train(spec, out, Console(file=buffer, width=200))
    return result, buffer.getvalue()


def metric_records(run_dir: Path) -> list[dict]:
    return read_metrics(run_dir)


def test_quickstart_beats_popularity(tmp_path: Path) -> None:
    assert load_spec(QUICKSTART).preset == "diffurec"
    result = invoke("train", QUICKSTART, "--out", tmp_path / "run", *set_args(QUICKSTART_BUDGET))
    assert result.exit_code == 0, result.output
    results = read_results(tmp_path / "run")
    model, popularity = results["test"]["hr@10"], results["popularity"]["test"]["hr@10"]
    assert popularity > 0
    assert model >= 3 * popularity, (model, popularity)
    assert results["test"]["ndcg@10"] > results["popularity"]["test"]["ndcg@10"]
    # Training lowered the loss.
    losses = [r["loss"] for r in metric_records(tmp_path / "run") if r["event"] == "epoch"]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_same_seed_same_results_other_seed_differs(tmp_path: Path) -> None:
    spec = load_spec({"name": "repro", "seed": 11}, TINY)
    first, _ = quiet_train(spec, tmp_path / "a")
    second, _ = quiet_train(spec, tmp_path / "b")
    keys = ("val", "test", "popularity", "best_epoch", "epochs_run")
    a, b = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert first.test == second.test
    weights_a = torch.load(tmp_path / "a" / "checkpoints" / "best.pt", weights_only=True)["model"]
    weights_b = torch.load(tmp_path / "b" / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    losses = lambda run: [r["loss"] for r in metric_records(run) if r["event"] == "epoch"]  # noqa: E731
    assert losses(tmp_path / "a") == losses(tmp_path / "b")

    other, _ = quiet_train(load_spec({"name": "repro", "seed": 12}, TINY), tmp_path / "c")
    assert other.test != first.test
    assert losses(tmp_path / "c") != losses(tmp_path / "a")


def test_cuda_without_cuda_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec = load_spec({}, [*TINY, "train.device=cuda"])
    with pytest.raises(RecdiffError) as info:
        quiet_train(spec, tmp_path / "run")
    assert "train.device" in str(info.value) and "cuda" in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing was created

    output = assert_clean_failure(
        invoke("train", QUICKSTART, "--out", tmp_path / "cli", "--set", "train.device=cuda:0", *set_args(TINY))
    )
    assert "train.device" in output and "cuda:0" in output
    assert not (tmp_path / "cli").exists()


def test_device_auto_picks_the_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    from recdiff.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


# Early stopping: with a learning rate of 1e-12 every Adam step (about lr in size) is lost in float32
# rounding, so the weights, and with them the seeded validation metric, stay exactly the same.
FROZEN = [*TINY, "train.lr=1e-12", "train.max_batches=2", "train.epochs=5", "eval.max_users=40"]


def test_early_stopping_when_the_metric_cannot_improve(tmp_path: Path) -> None:
    spec = load_spec({"name": "frozen"}, [*FROZEN, "train.patience=1"])
    result, printed = quiet_train(spec, tmp_path / "run")
    assert result.epochs_run == 2 < spec.train.epochs
    assert result.best_epoch == 1
    assert "early stop" in printed
    records = metric_records(tmp_path / "run")
    vals = [r for r in records if r["event"] == "eval" and r["split"] == "val"]
    assert [r["epoch"] for r in vals] == [1, 2]
    assert vals[0]["ndcg@10"] == vals[1]["ndcg@10"]  # not better, so stale
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2]
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert best["epoch"] == 1 and last["epoch"] == 2
    assert read_results(tmp_path / "run")["epochs_run"] == 2


def test_patience_counts_validations_and_none_never_stops(tmp_path: Path) -> None:
    spec = load_spec({"name": "frozen"}, [*FROZEN, "train.epochs=4", "train.patience=2"])
    assert quiet_train(spec, tmp_path / "two")[0].epochs_run == 3  # stale at epochs 2 and 3
    spec = load_spec({"name": "frozen"}, [*FROZEN, "train.epochs=3", "train.patience=null"])
    result, printed = quiet_train(spec, tmp_path / "never")
    assert result.epochs_run == 3 and result.best_epoch == 1
    assert "early stop" not in printed


def test_min_epochs_holds_off_early_stopping_until_that_epoch(tmp_path: Path) -> None:
    # stale from epoch 2 with patience 1: the stop waits for epoch 4, then ends the run there, not at 5
    spec = load_spec({"name": "frozen"}, [*FROZEN, "train.patience=1", "train.min_epochs=4"])
    result, printed = quiet_train(spec, tmp_path / "run")
    assert result.epochs_run == 4 < spec.train.epochs and result.best_epoch == 1
    assert "early stop: no better val ndcg@10 for 3 validations" in printed


def test_step_lr_schedule_and_eval_every(tmp_path: Path) -> None:
    spec = load_spec(
        {"name": "sched"},
        [*TINY, "train.epochs=3", "train.max_batches=1", "train.lr_step=1", "train.lr_gamma=0.5",
         "train.eval_every=2", "train.patience=null", "eval.max_users=30"],
    )
    quiet_train(spec, tmp_path / "run")
    records = metric_records(tmp_path / "run")
    assert [r["lr"] for r in records if r["event"] == "epoch"] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert all(0 < r["examples"] <= 64 for r in records if r["event"] == "epoch")  # max_batches=1
    # Validated on epoch 2 (eval_every) and on the last epoch.
    assert [r["epoch"] for r in records if r["event"] == "eval" and r["split"] == "val"] == [2, 3]


def test_relative_data_path_is_saved_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run trained with a relative data.path can be re-evaluated from any working directory."""
    data_dir = tmp_path / "work"
    data_dir.mkdir()
    rows = ["user,item,ts"] + [f"u{u},i{(u * 3 + k) % 40},{k}" for u in range(60) for k in range(8)]
    (data_dir / "log.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(data_dir)
    overrides = TINY + ["data.path=log.csv", "data.time_field=ts", "data.user_field=user", "data.item_field=item"]
    result, _ = quiet_train(load_spec({"name": "relative"}, overrides), tmp_path / "run")
    saved = load_spec(tmp_path / "run" / "spec.yaml")
    assert saved.data.path == data_dir / "log.csv"
    monkeypatch.chdir(tmp_path)
    assert recdiff.evaluate_run(tmp_path / "run", "test") == result.test


# Exact resume

RESUMABLE = [*TINY, "train.epochs=4", "train.patience=null", "train.lr_step=2", "model.dropout=0.2"]


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


@pytest.mark.parametrize("ema", [None, 0.9])
def test_resume_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ema: float | None
) -> None:
    spec = load_spec({"name": "resumable", "seed": 3, "train": {"ema": ema}}, RESUMABLE)
    whole, _ = quiet_train(spec, tmp_path / "whole")

    original = recdiff.training.trainer.Trainer.train_epoch

    def interrupted(self, epoch):  # type: ignore[no-untyped-def]
        if epoch == 3:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(recdiff.training.trainer.Trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quiet_train(spec, tmp_path / "cut")
    assert not (tmp_path / "cut" / "results.json").exists()
    monkeypatch.setattr(recdiff.training.trainer.Trainer, "train_epoch", original)

    result = invoke("train", "--resume", tmp_path / "cut")
    assert result.exit_code == 0, result.output
    assert "resuming after epoch 2" in result.output
    resumed = read_results(tmp_path / "cut")
    assert resumed["test"] == whole.test and resumed["val"] == whole.val
    assert resumed["best_epoch"] == whole.best_epoch and resumed["epochs_run"] == 4
    for name, tensor in model_tensors(tmp_path / "whole" / "checkpoints" / "last.pt").items():
        assert torch.equal(tensor, model_tensors(tmp_path / "cut" / "checkpoints" / "last.pt")[name]), name
    losses = {r["epoch"]: r["loss"] for r in metric_records(tmp_path / "whole") if r["event"] == "epoch"}
    cut = {r["epoch"]: r["loss"] for r in metric_records(tmp_path / "cut") if r["event"] == "epoch"}
    assert cut == losses
    assert {"event": "resume", "after_epoch": 2} in metric_records(tmp_path / "cut")
    # validations log the wall-clock spent so far (training and validation), carried across the resume
    for run in ("whole", "cut"):
        elapsed = [r["elapsed"] for r in metric_records(tmp_path / run) if r["event"] == "eval" and r["split"] == "val"]
        assert len(elapsed) == 4 and all(b > a > 0 for a, b in zip(elapsed, elapsed[1:]))


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_weights_follow_the_recursion_and_are_what_is_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warmup: bool
) -> None:
    spec = load_spec(
        {"name": "ema", "seed": 1, "train": {"ema": 0.5, "ema_warmup": warmup}},
        [*TINY, "train.epochs=1", "train.max_batches=3"],
    )
    after_steps: list[dict[str, torch.Tensor]] = []
    original = recdiff.training.trainer.make_optimizer

    def recording(model, train):  # type: ignore[no-untyped-def]
        optimizer = original(model, train)
        optimizer.register_step_post_hook(
            lambda *_: after_steps.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        )
        return optimizer

    monkeypatch.setattr(recdiff.training.trainer, "make_optimizer", recording)
    quiet_train(spec, tmp_path / "run")
    assert len(after_steps) == 3
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    name = "item_embedding.weight"
    expected = after_steps[0][name]  # the first update copies, then ema = rate ema + (1 - rate) weights
    for n, weights in enumerate(after_steps[1:], start=1):
        rate = min(0.5, (1 + n) / (10 + n)) if warmup else 0.5  # warm-up: 2/11, then 3/12
        expected = rate * expected + (1 - rate) * weights[name]
    torch.testing.assert_close(state["model"][name], expected)
    torch.testing.assert_close(state["trained"][name], after_steps[-1][name])
    assert not torch.equal(state["model"][name], state["trained"][name])


def test_ema_copy_does_not_call_the_trained_models_compiled_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.compile leaves on the instance a function closing over the instance's own method;
    # deepcopy keeps functions as they are, so a copy would run the trained model's weights
    def fake_compile(model: torch.nn.Module) -> None:
        original = model.approximate  # type: ignore[attr-defined]
        model.approximate = lambda *args, **kwargs: original(*args, **kwargs)  # type: ignore[attr-defined]

    monkeypatch.setattr(recdiff.evaluation.prepared, "compile_model", fake_compile)
    spec = load_spec({"name": "ema-compiled", "train": {"ema": 0.9, "compile": True}}, TINY)
    trainer = recdiff.training.trainer.Trainer.start(spec, tmp_path / "run", Console(file=io.StringIO()))
    assert "approximate" in vars(trainer.model)
    assert getattr(trainer.evaluated.approximate, "__self__", None) is trainer.evaluated


def test_resume_refuses_finished_and_unstarted_runs(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    output = assert_clean_failure(invoke("train", "--resume", run_dir))
    assert "already finished" in output and "nothing to resume" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "spec.yaml").write_text((run_dir / "spec.yaml").read_text())
    output = assert_clean_failure(invoke("train", "--resume", empty))
    assert "no checkpoints/last.pt" in output
    output = assert_clean_failure(invoke("train", run_dir / "spec.yaml", "--resume", empty))
    assert "drop SPEC" in output
    assert "Give a spec" in assert_clean_failure(invoke("train"))


# Seed groups

def test_repeat_summarises_seeds_resumes_and_compares(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "tiny.yaml", "name: tiny\nseed: 5\n")
    budget = [*set_args(TINY), "--set", "train.epochs=1"]
    result = invoke("repeat", spec, "--seeds", "2", "--out", tmp_path / "a", *budget)
    assert result.exit_code == 0, result.output
    assert "mean ± std" in result.output
    a5, a6 = read_results(tmp_path / "a" / "seed-5"), read_results(tmp_path / "a" / "seed-6")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["seeds"] == [5, 6]
    expected = (a5["test"]["hr@10"] + a6["test"]["hr@10"]) / 2
    assert summary["test"]["hr@10"]["mean"] == pytest.approx(expected)
    # a third seed later: the two finished seeds are read, not trained again
    before = (tmp_path / "a" / "seed-5" / "results.json").stat().st_mtime_ns
    result = invoke("repeat", spec, "--seeds", "3", "--out", tmp_path / "a", *budget)
    assert result.exit_code == 0, result.output
    assert "seed 5: finished earlier" in result.output
    assert (tmp_path / "a" / "seed-5" / "results.json").stat().st_mtime_ns == before
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["seeds"] == [5, 6, 7]
    # another model over the same seeds, compared run by run
    result = invoke("repeat", spec, "--seeds", "3", "--out", tmp_path / "b", *budget, "--set", "model.hidden=8")
    assert result.exit_code == 0, result.output
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    row = comparison["metrics"]["hr@10"]
    assert row["df"] == 2 and 0.0 <= row["p"] <= 1.0
    b_runs = [read_results(tmp_path / "b" / f"seed-{s}")["test"]["hr@10"] for s in (5, 6, 7)]
    a_runs = [read_results(tmp_path / "a" / f"seed-{s}")["test"]["hr@10"] for s in (5, 6, 7)]
    assert row["difference"] == pytest.approx(sum(b_runs) / 3 - sum(a_runs) / 3)
    table = invoke("compare", tmp_path / "a", tmp_path / "b")
    assert table.exit_code == 0 and "paired t-test" in table.output


def test_compare_needs_shared_seeds(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    import shutil

    for group in ("a", "b"):
        shutil.copytree(run_dir, tmp_path / group / "seed-7")
    output = assert_clean_failure(invoke("compare", tmp_path / "a", tmp_path / "b"))
    assert "share 1 seed" in output and "at least two" in output
    assert "no finished run" in assert_clean_failure(invoke("compare", tmp_path / "a", tmp_path))


def _two_seed_groups(root: Path, run_dir: Path, shift: float) -> tuple[Path, Path]:
    """Groups a and b of seeds 7 and 8, copies of one run with seed-dependent metrics; b's are a's plus `shift`."""
    import shutil

    for group, offset in (("a", 0.0), ("b", shift)):
        for seed in (7, 8):
            copy = shutil.copytree(run_dir, root / group / f"seed-{seed}")
            spec = yaml.safe_load((copy / "spec.yaml").read_text())
            (copy / "spec.yaml").write_text(yaml.safe_dump({**spec, "seed": seed}))
            results = json.loads((copy / "results.json").read_text())
            results["test"] = {name: value + offset + seed * 1e-3 for name, value in results["test"].items()}
            (copy / "results.json").write_text(json.dumps(results))
    return root / "a", root / "b"


def test_compare_reports_n_a_below_three_seeds(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    a, b = _two_seed_groups(tmp_path, trained_run[0], shift=-0.001)
    result = invoke("compare", a, b)
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "n/a" in output and "e+14" not in output and "0.0000 " not in output.split("B - A")[1]
    assert "warning: t and p are n/a for hr@5" in output and "at least 3" in output
    row = json.loads(invoke("compare", a, b, "--json").stdout)["metrics"]["ndcg@10"]
    assert row["t"] is None and row["p"] is None and row["difference"] == pytest.approx(-0.001)


def test_compare_metric_option_reads_any_spelling(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    a, b = _two_seed_groups(tmp_path, trained_run[0], shift=0.002)
    result = invoke("compare", a, b, "--metric", "HIT@10", "--metric", "NDCG@5", "--json")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["metrics"]) == ["hr@10", "ndcg@5"]
    result = invoke("compare", a, b, "--metric", "recall@10")
    assert result.exit_code == 2 and "'hit@K'" in flat(result.output)
    output = assert_clean_failure(invoke("compare", a, b, "--metric", "hr@50"))
    assert "hr@50" in output and "hr@10" in output


# Final refit on training and validation targets

REFIT = [*TINY, "train.patience=null", "train.fit_on=train+val"]


def example_pairs(split: Split) -> set[tuple[int, int]]:
    return set(zip(split.start.tolist(), split.end.tolist()))


@pytest.mark.parametrize("preset", ["diffurec", "sasrec"])
def test_refit_trains_on_the_validation_targets_too(preset: str) -> None:
    plain = prepare(load_spec({"name": "plain", "preset": preset}, TINY))
    refit = prepare(load_spec({"name": "refit", "preset": preset}, REFIT))
    before, after = example_pairs(training_examples(plain)), example_pairs(training_examples(refit))
    validation = example_pairs(refit.splits.val)
    assert validation and not validation & before
    if preset == "diffurec":  # every prefix: the training examples plus each validation example
        assert after == before | validation
    else:  # one example per user, the longest: now the validation history with its target
        assert after == validation


def test_latest_examples_per_user() -> None:
    # users own items[0:5] and items[5:8]; examples end at various positions, in any order
    data = SequenceData(items=np.arange(1, 9), offsets=np.array([0, 5, 8]), num_items=8,
                        item_ids=np.arange(1, 9).astype(str).astype(object), user_ids=np.array(["a", "b"], dtype=object))
    split = Split(start=np.array([0, 5, 0, 0, 5]), end=np.array([2, 7, 4, 3, 6]))
    assert sorted(latest_per_user(data, split, 2).end.tolist()) == [3, 4, 6, 7]
    assert sorted(latest_per_user(data, split, 1).end.tolist()) == [4, 7]
    assert sorted(latest_per_user(data, split, 9).end.tolist()) == [2, 3, 4, 6, 7]  # a user with fewer keeps all
    assert len(latest_per_user(data, split, 0)) == 0


def test_recent_examples_are_seen_recent_weight_times_an_epoch() -> None:
    plain = prepare(load_spec({"name": "plain"}, TINY))
    recent = prepare(load_spec({"name": "recent"}, [*TINY, "train.recent=2", "train.recent_weight=3"]))
    before, after = training_examples(plain), training_examples(recent)
    counts = Counter(zip(after.start.tolist(), after.end.tolist()))
    assert set(counts) == example_pairs(before)  # nothing new, only repeats
    latest = example_pairs(latest_per_user(plain.data, before, 2))
    assert latest and {pair for pair, n in counts.items() if n == 3} == latest
    assert set(counts.values()) == {1, 3} and len(after) == len(before) + 2 * len(latest)


def test_recent_is_refused_for_a_model_trained_on_every_position() -> None:
    prepared = prepare(load_spec({"name": "sasrec", "preset": "sasrec"}, [*TINY, "train.recent=1"]))
    with pytest.raises(SpecError, match="train.recent is 1.*every position"):
        training_examples(prepared)


def test_recent_on_a_model_trained_on_every_position_fails_cleanly_and_leaves_no_run(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "sasrec.yaml", "name: sasrec\npreset: sasrec\n")
    output = assert_clean_failure(invoke("train", spec, "--out", tmp_path / "run", *set_args([*TINY, "train.recent=1"])))
    assert "train.recent" in output and not (tmp_path / "run").exists()


def test_refit_never_validates_and_tests_its_last_epoch(tmp_path: Path) -> None:
    result, printed = quiet_train(load_spec({"name": "refit"}, REFIT), tmp_path / "run")
    assert "no validation" in printed
    assert result.best_epoch == result.epochs_run == 2 and result.val == {}
    records = metric_records(tmp_path / "run")
    assert [r["split"] for r in records if r["event"] == "eval"] == ["test"]
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert best["epoch"] == last["epoch"] == 2
    assert recdiff.evaluate_run(tmp_path / "run", "test") == result.test
    with pytest.raises(RecdiffError, match="trained on the validation targets"):
        recdiff.evaluate_run(tmp_path / "run", "val")
    output = assert_clean_failure(invoke("analyze", tmp_path / "run", "--split", "val", "--no-plots"))
    assert "train.fit_on: train+val" in output


def test_refit_with_early_stopping_is_a_spec_error() -> None:
    with pytest.raises(RecdiffError, match="patience: null"):
        load_spec({"name": "refit"}, [*TINY, "train.fit_on=train+val", "train.patience=3"])


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_learning_rate_schedules_follow_their_closed_forms(schedule: str) -> None:
    train = TrainSpec(lr=0.002, epochs=7, lr_schedule=schedule, lr_step=3, lr_gamma=0.5)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=train.lr)
    scheduler = make_scheduler(optimizer, train)
    rates = []
    for _ in range(train.epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    if schedule == "step":
        expected = [0.002 * 0.5 ** (epoch // 3) for epoch in range(7)]
    else:  # half a cosine from lr at the first epoch towards 0 after the last
        expected = [0.002 * (1 + math.cos(math.pi * epoch / 7)) / 2 for epoch in range(7)]
    np.testing.assert_allclose(rates, expected, rtol=1e-9)
