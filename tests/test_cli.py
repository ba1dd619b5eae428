"""Tests of the `recdiff` command line: train, evaluate, spec validate/show/schema, plugins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY, assert_clean_failure, flat, invoke, read_results, set_args, write_spec

import recdiff
from recdiff import load_spec
from recdiff.registry import REGISTRIES
from recdiff.training.rundir import read_metrics

METRICS = {"hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr"}


def assert_complete_run(run_dir: Path) -> dict:
    """Every file a finished run must hold, each well-formed; returns results.json."""
    spec = load_spec(run_dir / "spec.yaml")

    env = json.loads((run_dir / "env.json").read_text())
    assert env["torch"] == torch.__version__
    assert env["device"] == "cpu"
    assert env["seed"] == spec.seed

    records = read_metrics(run_dir)
    events = [(r["event"], r.get("split"), r.get("name")) for r in records]
    assert ("baseline", "val", "popularity") in events
    assert ("baseline", "test", "popularity") in events
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == list(range(1, len(epochs) + 1))
    assert all(r["loss"] > 0 and r["examples"] > 0 for r in epochs)
    assert any(r["event"] == "eval" and r["split"] == "val" for r in records)
    tests = [r for r in records if r["event"] == "eval" and r["split"] == "test"]
    assert len(tests) == 1 and tests[0]["checkpoint"] == "best"

    for name in ("best", "last"):
        state = torch.load(run_dir / "checkpoints" / f"{name}.pt", map_location="cpu", weights_only=True)
        assert {"model", "spec", "epoch", "num_items"} <= set(state)
        assert state["spec"] == spec.model_dump(mode="json")
    assert not list(run_dir.rglob("*.tmp"))  # atomic writes left nothing behind

    results = read_results(run_dir)
    assert METRICS <= set(results["test"]) and METRICS <= set(results["val"])
    assert METRICS <= set(results["popularity"]["test"])
    assert 1 <= results["best_epoch"] <= results["epochs_run"] <= spec.train.epochs
    assert all(0.0 <= value <= 1.0 for value in results["test"].values())
    assert {k: v for k, v in tests[0].items() if k in METRICS} == results["test"]
    val_at_best = [r for r in records if r["event"] == "eval" and r["split"] == "val"
                   and r["epoch"] == results["best_epoch"]]
    assert {k: v for k, v in val_at_best[0].items() if k in METRICS} == results["val"]
    return results


# train


def test_train_end_to_end(trained_run: tuple[Path, object]) -> None:
    run_dir, result = trained_run
    output = result.output
    assert "HR@10" in output and "NDCG@10" in output
    assert "popularity" in output
    assert "run directory" in flat(output)
    results = assert_complete_run(run_dir)
    spec = load_spec(run_dir / "spec.yaml")
    assert spec.name == "tiny" and spec.seed == 7
    assert spec.model.hidden == 16 and spec.model.backbone.params["blocks"] == 1
    assert results["epochs_run"] == 2
    # The table shows the test metrics of results.json (rounded to 4 places).
    assert f"{results['test']['hr@10']:.4f}" in output
    assert f"{results['popularity']['test']['hr@10']:.4f}" in output


def test_evaluate_reproduces_the_test_metrics_exactly(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    result = invoke("evaluate", run_dir, "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics.pop("seconds") > 0
    assert metrics == read_results(run_dir)["test"]


def test_evaluate_val_split_reproduces_the_best_val_metrics(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    result = invoke("evaluate", run_dir, "--split", "val", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    metrics.pop("seconds")
    assert metrics == read_results(run_dir)["val"]


def test_evaluate_with_other_inference_settings(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    runs = {}
    for name, settings in {
        "ddim": ["model.sampler.name=ddim", "model.sampler.params.steps=2"],
        "x0": ["model.sampler.name=x0"],
        "ensemble": ["eval.ensemble=3", "eval.item_chunk=7"],
        "bf16": ["train.precision=bf16"],
        "exclude": ["model.exclude_history=true"],
    }.items():
        result = invoke("evaluate", run_dir, "--json", *set_args(settings))
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(result.stdout)
        runs[name].pop("seconds")
    assert all(0.0 <= metrics["hr@10"] <= 1.0 for metrics in runs.values())
    # another sampler is really used: one call from noise gives other ranks than the trained 8-step chain
    assert runs["x0"] != read_results(run_dir)["test"]
    assert runs["ddim"] != runs["x0"]
    assert runs["exclude"] != read_results(run_dir)["test"]


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory, trained_run: tuple[Path, object]) -> Path:
    """Another model on the trained run's data (its seed draws the same synthetic data): more dropout,
    and trained to rank seen items last."""
    run_dir = tmp_path_factory.mktemp("other") / "run"
    spec = write_spec(run_dir.parent / "tiny.yaml", "name: other\nseed: 7\n")
    settings = [*TINY, "model.dropout=0.4", "model.exclude_history=true"]
    result = invoke("train", spec, "--out", run_dir, *set_args(settings))
    assert result.exit_code == 0, result.output
    return run_dir


def test_evaluate_an_ensemble_of_runs(trained_run: tuple[Path, object], other_model: Path) -> None:
    run_dir, _ = trained_run

    def metrics(*args: object) -> dict[str, float]:
        result = invoke("evaluate", *args, "--json")
        assert result.exit_code == 0, result.output
        found = json.loads(result.stdout)
        found.pop("seconds")
        return found

    # a run averaged with itself ranks as the run alone
    assert metrics(run_dir, run_dir) == read_results(run_dir)["test"]
    exclude = set_args(["model.exclude_history=true"])
    alone, other = metrics(run_dir, *exclude), metrics(other_model)
    both = metrics(run_dir, other_model, *exclude)
    assert both != alone and both != other
    assert 0.0 < both["hr@10"] <= 1.0
    table = invoke("evaluate", run_dir, other_model, *exclude)
    assert table.exit_code == 0 and "ensemble of 2 runs" in table.output


def test_an_ensemble_must_agree_on_data_and_exclusion(
    tmp_path: Path, trained_run: tuple[Path, object], other_model: Path
) -> None:
    run_dir, _ = trained_run
    output = assert_clean_failure(invoke("evaluate", run_dir, other_model))
    assert "model.exclude_history" in output and "--set model.exclude_history=true" in output
    spec = write_spec(tmp_path / "tiny.yaml", "name: short\nseed: 7\n")
    assert invoke("train", spec, "--out", tmp_path / "short", *set_args([*TINY, "data.max_len=10"])).exit_code == 0
    output = assert_clean_failure(invoke("evaluate", run_dir, tmp_path / "short"))
    assert "data.max_len" in output and "same data" in output


def test_error_messages_keep_their_brackets(tiny_spec: Path) -> None:
    # rich would read "[such]" (or "recdiff[plot]") as markup and drop it; errors are printed escaped
    output = assert_clean_failure(invoke("data", "stats", "missing[such]file.inter"))
    assert "missing[such]file.inter" in output


def test_evaluate_refuses_to_change_the_model(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    output = assert_clean_failure(invoke("evaluate", run_dir, "--set", "model.hidden=32"))
    assert "model.hidden=32" in output and "model.sampler" in output and "Train a new run" in output


def test_evaluate_table_and_last_checkpoint(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    result = invoke("evaluate", run_dir, "--checkpoint", "last")
    assert result.exit_code == 0, result.output
    assert "HR@10" in result.output and "test" in result.output and "last" in result.output


def test_evaluate_rejects_a_bad_split_and_checkpoint_naming_the_choices(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    for option, value, choices in (("--split", "train", "'val', 'test'"), ("--checkpoint", "first", "'best', 'last'")):
        result = invoke("evaluate", run_dir, option, value)
        assert result.exit_code == 2, result.output  # click's usage error, before any work
        output = flat(result.output)
        assert option in output and value in output and choices in output
        assert "Traceback" not in output


@pytest.mark.parametrize("command", ["evaluate", "analyze"])
def test_help_lists_the_split_and_checkpoint_choices(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "val|test" in result.output and "best|last" in result.output


def test_metric_callback_always_returns_a_list() -> None:
    # typer 0.15 (the floor) hands an unused list option to its callback as None and fails on a None returned
    from recdiff.cli.common import metric_names

    assert metric_names(None) == [] and metric_names(["Hit@10", "MRR"]) == ["hr@10", "mrr"]


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output == f"recdiff {recdiff.__version__}\n"


def test_device_option_is_short_for_set_train_device(trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    result = invoke("evaluate", run_dir, "--device", "cpu", "--set", "train.device=cpu", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hr@10"] == read_results(run_dir)["test"]["hr@10"]
    output = assert_clean_failure(invoke("evaluate", run_dir, "--device", "cuda:1", "--set", "train.device=cpu"))
    assert "--device cuda:1" in output and "train.device=cpu" in output and "only one" in output
    assert "train.device" in assert_clean_failure(invoke("evaluate", run_dir, "--device", "gpu"))


def test_train_device_option(tmp_path: Path, tiny_spec: Path) -> None:
    output = assert_clean_failure(invoke("train", tiny_spec, "--device", "tpu", *set_args(TINY)))
    assert "train.device" in output and "cuda:N" in output
    output = assert_clean_failure(invoke("train", "--resume", tmp_path, "--device", "cpu"))
    assert "--device" in output and "drop" in output


def test_train_refuses_a_non_empty_out_and_leaves_it_untouched(tmp_path: Path, tiny_spec: Path) -> None:
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text('{"keep": true}')
    (out / "notes.txt").write_text("mine")
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", out, *set_args(TINY)))
    assert "already exists" in output and "old" in output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json"]
    assert (out / "results.json").read_text() == '{"keep": true}'
    assert (out / "notes.txt").read_text() == "mine"


def test_train_into_an_existing_empty_directory(tmp_path: Path, tiny_spec: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    tiny = [o for o in TINY if not o.startswith(("train.epochs", "train.max_batches", "eval.max_users"))]
    result = invoke("train", tiny_spec, "--out", out, *set_args(tiny),
                    "--set", "train.epochs=1", "--set", "train.max_batches=2", "--set", "eval.max_users=20")
    assert result.exit_code == 0, result.output
    assert (out / "results.json").is_file()


def test_train_with_a_bad_override_names_the_field(tmp_path: Path, tiny_spec: Path) -> None:
    out = tmp_path / "never"
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", out, "--set", "train.epochs=notanumber"))
    assert "train.epochs" in output
    assert not out.exists()


def test_train_with_a_missing_spec_file(tmp_path: Path) -> None:
    output = assert_clean_failure(invoke("train", tmp_path / "missing.yaml", "--out", tmp_path / "run"))
    assert "missing.yaml" in output and "does not exist" in output


# spec


def test_spec_validate_ok(tiny_spec: Path) -> None:
    result = invoke("spec", "validate", tiny_spec)
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "tiny.yaml" in result.output


def test_spec_validate_bad(tmp_path: Path) -> None:
    bad = write_spec(tmp_path / "bad.yaml", "model:\n  hiden: 64\n")
    output = assert_clean_failure(invoke("spec", "validate", bad))
    assert "model.hiden" in output and "bad.yaml" in output
    bad = write_spec(tmp_path / "bad2.yaml", "model:\n  conditioning: {name: cross_atention}\n")
    output = assert_clean_failure(invoke("spec", "validate", bad))
    assert "model.conditioning.name" in output and "Did you mean 'cross_attention'?" in output
    assert "bad2.yaml" in output


def test_spec_validate_with_set(tiny_spec: Path) -> None:
    output = assert_clean_failure(invoke("spec", "validate", tiny_spec, "--set", "model.dropout=1.5"))
    assert "model.dropout" in output
    assert invoke("spec", "validate", tiny_spec, "--set", "model.dropout=0.5").exit_code == 0


def test_spec_validate_malformed_yaml(tmp_path: Path) -> None:
    broken = write_spec(tmp_path / "broken.yaml", "model: [unclosed\n")
    assert "broken.yaml" in assert_clean_failure(invoke("spec", "validate", broken))


def test_spec_show_expands_the_preset(tmp_path: Path) -> None:
    path = write_spec(tmp_path / "sys.yaml", "preset: diffurecsys\nmodel:\n  hidden: 48\n")
    result = invoke("spec", "show", path, "--set", "train.epochs=3")
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["model"]["conditioning"]["name"] == "cross_attention"
    assert shown["model"]["noise"]["name"] == "offset"
    assert shown["model"]["hidden"] == 48 and shown["train"]["epochs"] == 3
    assert load_spec(shown) == load_spec(path, ["train.epochs=3"])


def test_spec_schema_prints_json() -> None:
    result = invoke("spec", "schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"data", "model", "train", "eval"} <= set(schema["properties"])


# plugins


def test_plugins_lists_every_kind() -> None:
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    for column in ("name", "kind", "origin", "description"):
        assert column in result.output
    for kind, registry in REGISTRIES.items():
        assert kind in result.output
        for name in registry.names():
            assert name in result.output


def test_plugins_of_one_kind() -> None:
    result = invoke("plugins", "conditioning")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "conditioning" in line and "recdiff" in line]
    names = {line.strip("│┃ ").split()[0] for line in rows}
    assert names == {"additive", "cross_attention", "linear_cross_attention", "token"}
    assert "origin" in result.output
    assert "trunc_lin" not in result.output  # other kinds are left out


def test_plugins_unknown_kind() -> None:
    output = assert_clean_failure(invoke("plugins", "nosuchkind"))
    assert "nosuchkind" in output and "conditioning" in output


# evaluate errors


def test_evaluate_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    output = assert_clean_failure(invoke("evaluate", tmp_path))
    assert "not a recdiff run directory" in output


def test_evaluate_a_missing_directory(tmp_path: Path) -> None:
    assert "not a recdiff run directory" in assert_clean_failure(invoke("evaluate", tmp_path / "gone"))


def test_evaluate_a_run_with_a_corrupt_checkpoint(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    best = run_dir / "checkpoints" / "best.pt"
    best.write_bytes(best.read_bytes()[:100])  # truncated
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "best.pt" in output and "corrupt" in output
    best.write_bytes(b"this is not a checkpoint at all" * 10)  # garbage
    output = assert_clean_failure(invoke("evaluate", run_dir, "--json"))
    assert "best.pt" in output and "corrupt" in output
    # The other checkpoint still works.
    assert invoke("evaluate", run_dir, "--checkpoint", "last").exit_code == 0


def test_evaluate_a_run_with_a_missing_checkpoint(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    (run_dir / "checkpoints" / "best.pt").unlink()
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "best.pt" in output and "does not exist" in output


def test_evaluate_a_run_whose_spec_was_edited(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    spec["model"]["hidden"] = 24
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "spec.yaml was edited after training (model.hidden: 16 -> 24)" in output
    # a checkpoint from an older recdiff, whose stored spec no longer validates: the weights' shapes still tell
    path = run_dir / "checkpoints" / "best.pt"
    state = torch.load(path, weights_only=True)
    state["spec"] = {"model": {"field_of_an_old_version": 1}}
    torch.save(state, path)
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "does not fit the model its spec.yaml builds" in output


def test_evaluate_a_torch_file_that_is_no_recdiff_checkpoint(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    torch.save({"weights": torch.zeros(2)}, run_dir / "checkpoints" / "best.pt")
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "not a recdiff checkpoint" in output


# The installed command


def recdiff_command() -> list[str]:
    exe = shutil.which("recdiff") or str(Path(sys.executable).parent / "recdiff")
    assert Path(exe).exists(), "the recdiff console script is not installed"
    return [exe]


def test_console_script_help() -> None:
    done = subprocess.run([*recdiff_command(), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("train", "evaluate", "spec", "plugins"):
        assert command in done.stdout


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    bad = write_spec(tmp_path / "bad.yaml", "train:\n  epochs: many\n")
    done = subprocess.run([*recdiff_command(), "spec", "validate", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "train.epochs" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_figures_without_matplotlib_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from recdiff.errors import RecdiffError
    from recdiff.evaluation.plots import plot_groups

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RecdiffError, match=r'`pip install matplotlib` \(in a recdiff source checkout: `pip install -e "\.\[plot'):
        plot_groups({}, [], Path("groups.png"), "title")


def test_analyze_writes_group_metrics_and_figures(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir, _ = trained_run
    result = invoke("analyze", run_dir, "--out", tmp_path / "analysis", "--points", "100", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    items, lengths = report["groups"]["items"], report["groups"]["lengths"]
    total = sum(row["count"] for row in items)
    assert total == sum(row["count"] for row in lengths) == 120  # eval.max_users of the TINY budget
    # the groups partition the evaluated examples: their hit counts add up to the overall HR@10
    overall = read_results(run_dir)["test"]["hr@10"]
    assert sum(row["hr@10"] * row["count"] for row in items) / total == pytest.approx(overall)
    for name in ("analysis.json", "groups.png", "representations.png"):
        assert (tmp_path / "analysis" / name).stat().st_size > 0
    assert report["projection"] in ("t-SNE", "PCA")
    table = invoke("analyze", run_dir, "--out", tmp_path / "again", "--no-plots")
    assert table.exit_code == 0 and "long tail" in table.output and not (tmp_path / "again" / "groups.png").exists()
