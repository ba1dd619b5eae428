"""Tests of what a run tells while and after it runs: progress lines, metric loggers, env.json."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import Result
from conftest import TINY, assert_clean_failure, flat, invoke, set_args, write_spec
from rich.console import Console

import recdiff
from recdiff import RecdiffError
from recdiff.progress import Reporter, task
from recdiff.registry import plugins, registry
from recdiff.registry.plugins import Plugin, PluginStatus
from recdiff.training import environment
from recdiff.training.loggers import CsvLogger, scalars
from recdiff.training.rundir import read_metrics

CLOCK = r"\d+:\d\d:\d\d"

#: A logger registered from a --code file, as a plugin would add one: it writes how many records it got.
COUNTING_LOGGER = """
from recdiff import register
from recdiff.training.loggers import MetricLogger

@register("logger", "test_counting")
class Counting(MetricLogger):
    '''Counts records into counted.txt.'''
    def __init__(self, spec):
        self.count, self.path = 0, None
    def open(self, run_dir, history):
        self.path, self.count = run_dir / "counted.txt", len(history)
    def log(self, record):
        self.count += 1
        self.path.write_text(str(self.count))
"""


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Result, Path]]:
    """A tiny run trained through the CLI with small progress steps, every built-in text logger and a --code logger."""
    root = tmp_path_factory.mktemp("logged")
    code = write_spec(root / "counting.py", COUNTING_LOGGER)
    settings = [*TINY, "train.log_every=3", "eval.batch_size=16", "train.loggers=[jsonl, csv, test_counting]"]
    result = invoke("train", write_spec(root / "tiny.yaml", "name: tiny\nseed: 7\n"), "--out", root / "run",
                    "--code", code, *set_args(settings))
    yield root / "run", result, code
    registry("logger")._entries.pop("test_counting")


def csv_records(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def as_cells(record: dict[str, Any]) -> dict[str, str]:
    """A metrics.jsonl record as metrics.csv writes its cells (null as an empty cell)."""
    return {key: "" if value is None else str(value) for key, value in record.items()}


def assert_csv_matches_jsonl(run_dir: Path) -> None:
    rows, records = csv_records(run_dir), read_metrics(run_dir)
    assert len(rows) == len(records)
    for row, record in zip(rows, records):
        assert {key: cell for key, cell in row.items() if cell} == {k: v for k, v in as_cells(record).items() if v}


# Progress


def test_output_that_is_not_a_terminal_gets_progress_lines_with_the_time_left(logged_run: tuple[Path, Result, Path]) -> None:
    _, result, _ = logged_run
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    training = [line for line in lines if re.fullmatch(
        rf"epoch [12]  batch [36]/8  loss \d+\.\d{{4}}  [\d,]+ ex/s  elapsed {CLOCK}  eta {CLOCK}", line)]
    assert len(training) == 4, result.output  # batches 3 and 6 of 8 in each of the two epochs
    for split, count in (("val", 4), ("test", 2)):  # 120 users in batches of 16: 8 batches per evaluation
        shown = [line for line in lines if re.fullmatch(rf"{split}  batch [36]/8  elapsed {CLOCK}  eta {CLOCK}", line)]
        assert len(shown) == count, result.output
    assert lines.index(training[1]) < lines.index(next(line for line in lines if line.startswith("epoch   1  loss")))


def test_a_terminal_gets_a_live_bar_with_the_time_left_instead_of_lines() -> None:
    out = io.StringIO()
    reporter = Reporter(Console(file=out, force_terminal=True, width=120), every=1)
    with reporter.task("epoch 1", 3) as progress:
        for _ in range(3):
            progress.advance("loss 1.0000")
    assert "eta" in out.getvalue() and "epoch 1" in out.getvalue()
    assert "batch 1/3" not in out.getvalue()


def test_plain_lines_come_every_few_steps_or_seconds_and_never_without_a_reporter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    with Reporter(Console(file=out, width=200), every=1000, seconds=0.0).task("val", 4) as progress:
        for _ in range(4):
            progress.advance()
    assert [line.split("  ")[:2] for line in out.getvalue().splitlines()] == [["val", f"batch {n}/4"] for n in (1, 2, 3)]
    with task(None, "val", 4) as silent:
        for _ in range(4):
            silent.advance()
    assert silent.done == 4 and capsys.readouterr().out == ""


def test_evaluate_and_analyze_show_progress_and_json_output_stays_clean(
    tmp_path: Path, trained_run: tuple[Path, Result]
) -> None:
    run_dir, _ = trained_run
    small = set_args(["eval.batch_size=16", "train.log_every=2"])
    result = invoke("evaluate", run_dir, "--json", *small)
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= {"hr@10", "seconds"}  # progress went to stderr
    assert re.search(rf"test  batch 2/8  elapsed {CLOCK}  eta {CLOCK}", result.stderr), result.stderr
    result = invoke("analyze", run_dir, "--no-plots", "--out", tmp_path / "analysis", *small)
    assert result.exit_code == 0, result.output
    assert re.search(rf"test  batch 6/8  elapsed {CLOCK}  eta {CLOCK}", result.output), result.output


# Loggers


def test_csv_rows_are_the_jsonl_records_and_a_code_logger_gets_them_too(logged_run: tuple[Path, Result, Path]) -> None:
    run_dir, _, _ = logged_run
    records = read_metrics(run_dir)
    assert [r["event"] for r in records] == ["baseline", "baseline", "epoch", "eval", "epoch", "eval", "eval"]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("event,epoch,split,") and header.endswith(",hr@20,ndcg@20,mrr")
    assert_csv_matches_jsonl(run_dir)
    assert float(csv_records(run_dir)[2]["loss"]) == records[2]["loss"]  # full precision
    assert (run_dir / "counted.txt").read_text() == str(len(records))


def test_csv_after_a_kill_and_a_resume_has_each_record_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = recdiff.load_spec({"name": "cut", "train": {"loggers": ["csv"]}}, [*TINY, "train.epochs=3", "train.patience=null"])
    save = recdiff.training.trainer.save_checkpoint

    def killed_before_saving_epoch_two(path: Path, state: dict[str, Any]) -> None:
        if state["epoch"] == 2 and path.name == "last.pt":  # epoch 2 is logged but its last.pt never written
            raise KeyboardInterrupt
        save(path, state)

    monkeypatch.setattr(recdiff.training.trainer, "save_checkpoint", killed_before_saving_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        recdiff.train(spec, tmp_path / "run", Console(file=io.StringIO()))
    monkeypatch.setattr(recdiff.training.trainer, "save_checkpoint", save)
    assert [r.get("epoch") for r in read_metrics(tmp_path / "run") if r["event"] == "epoch"] == [1, 2]
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    (tmp_path / "run" / "metrics.csv").write_text("\n".join(lines[:-1]) + "\n")  # killed between the two logs
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    (tmp_path / "run" / "metrics.jsonl").write_text(logged + '{"event": "ep')  # and while writing a line
    output = assert_clean_failure(invoke("train", "--resume", tmp_path / "run"))
    torn = len(logged.splitlines()) + 1
    assert f"metrics.jsonl has a line that is not JSON (line {torn}: " in output and "Delete that line" in output
    (tmp_path / "run" / "metrics.jsonl").write_text(logged)

    result = invoke("train", "--resume", tmp_path / "run")
    assert result.exit_code == 0, result.output
    records = read_metrics(tmp_path / "run")
    assert [(r["event"], r.get("split"), r.get("epoch")) for r in records] == [
        ("baseline", "val", None), ("baseline", "test", None), ("epoch", None, 1), ("eval", "val", 1),
        ("resume", None, None), ("epoch", None, 2), ("eval", "val", 2), ("epoch", None, 3), ("eval", "val", 3),
        ("eval", "test", records[-1]["epoch"]),
    ]
    assert_csv_matches_jsonl(tmp_path / "run")
    assert (tmp_path / "run" / "metrics.csv").read_text().count("event,epoch,") == 1


def test_a_missing_tensorboard_is_named_with_its_extra_before_anything_is_written(
    tmp_path: Path, tiny_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # importing it now raises ImportError
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", tmp_path / "run",
                                         *set_args([*TINY, "train.loggers=[tensorboard]"])))
    assert "TensorBoard is not installed" in output and 'pip install "recdiff[tensorboard]"' in output
    assert not (tmp_path / "run").exists()


def test_logger_names_are_checked_with_the_spec(tmp_path: Path, tiny_spec: Path) -> None:
    output = assert_clean_failure(invoke("spec", "validate", tiny_spec, "--set", "train.loggers=[jsonl, cvs]"))
    assert "train.loggers.1: Unknown logger component 'cvs'. Did you mean 'csv'?" in output
    output = assert_clean_failure(invoke("spec", "validate", tiny_spec, "--set", "train.loggers=[csv, csv]"))
    assert "names csv more than once" in flat(output)


def test_a_record_with_a_field_the_csv_header_lacks_is_a_clear_error(tmp_path: Path) -> None:
    logger = CsvLogger(recdiff.load_spec({}))
    logger.open(tmp_path, [])
    with pytest.raises(RecdiffError, match="'epoch' record has grad_norm, which metrics.csv has no column for"):
        logger.log({"event": "epoch", "epoch": 1, "grad_norm": 2.0})


def test_tensorboard_gets_the_metrics_jsonl_values_at_their_epochs(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = recdiff.load_spec({"name": "tb", "train": {"loggers": ["tensorboard"]}}, TINY)
    recdiff.train(spec, tmp_path / "run", Console(file=io.StringIO()))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    val = [r for r in read_metrics(tmp_path / "run") if r["event"] == "eval" and r["split"] == "val"]
    assert [(e.step, e.value) for e in events.Scalars("val/ndcg@10")] == [
        (r["epoch"], pytest.approx(r["ndcg@10"])) for r in val]
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert len(events.Scalars("popularity/test/hr@10")) == 1


def test_records_become_tensorboard_scalars_by_split_at_their_epoch() -> None:
    assert scalars({"event": "eval", "split": "val", "epoch": 3, "elapsed": 1.5, "hr@10": 0.25}) == (
        "val", 3, {"elapsed": 1.5, "hr@10": 0.25})
    assert scalars({"event": "epoch", "epoch": 2, "loss": 4.0, "examples": 64}) == ("train", 2, {"loss": 4.0, "examples": 64.0})
    assert scalars({"event": "baseline", "name": "popularity", "split": "test", "mrr": 0.1}) == (
        "popularity/test", 0, {"mrr": 0.1})
    assert scalars({"event": "resume", "after_epoch": 2})[0] == ""  # nothing to plot


# env.json


def test_env_json_names_the_commit_command_code_and_hardware(logged_run: tuple[Path, Result, Path]) -> None:
    run_dir, _, code = logged_run
    env = json.loads((run_dir / "env.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    assert env["git"]["commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert isinstance(env["git"]["dirty"], bool) == (head.returncode == 0)
    assert env["code"][str(code.resolve())] == hashlib.sha256(code.read_bytes()).hexdigest()
    assert isinstance(env["command"], list) and isinstance(env["plugins"], dict)
    assert env["device"] == "cpu" and env["device_name"] == environment.cpu_name()


def test_git_and_cpu_facts_that_cannot_be_found_are_null_not_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside any repository
    assert environment.git_state() == {"commit": None, "dirty": None}

    def no_git(*args: Any, **kwargs: Any) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert environment.git_state() == {"commit": None, "dirty": None}
    monkeypatch.setattr(environment.platform, "processor", lambda: "x86_64")
    assert environment.cpu_name(tmp_path / "no-cpuinfo") == "x86_64"
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Some CPU @ 2.00GHz\nflags\t\t: fpu\n")
    assert environment.cpu_name(tmp_path / "cpuinfo") == "Some CPU @ 2.00GHz"


def test_env_json_lists_the_plugins_that_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = PluginStatus(Plugin("recdiff-gated", "0.1.0", "gated", "recdiff_gated"))
    broken = PluginStatus(Plugin("recdiff-broken", "2.0", "broken", "recdiff_broken"), "ImportError: no")
    monkeypatch.setattr(plugins, "STATUS", [loaded, broken])
    assert environment.environment(torch.device("cpu"), 0)["plugins"] == {"recdiff-gated": "0.1.0"}
