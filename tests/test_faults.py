"""The fault matrix: every way a run can go wrong ends in one clear message, a non-zero exit and nothing lost.

Each test makes one fault happen for real (a missing file, a diverging loss, a second run on the
same directory, a signal), then checks the exit code, that the message names the cause without a
traceback, and that the runs and checkpoints already on disk are exactly as they were.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY, assert_clean_failure, flat, invoke, read_results, set_args

from recdiff import RecdiffError, jsontext, load_spec
from recdiff.models.diffusion import DiffusionRecommender
from recdiff.training.lock import RunLock
from recdiff.training.rundir import RunDir
from recdiff.training.trainer import Trainer

#: Seconds any subprocess of these tests may take (a tiny run trains in a few).
TIMEOUT = 120


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with the sha256 of its bytes: equal snapshots mean nothing changed."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def copy_run(trained_run: tuple[Path, object], to: Path) -> Path:
    """A copy of the shared trained run, to damage without touching the original."""
    return Path(shutil.copytree(trained_run[0], to))


def recdiff_process(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """`recdiff ARGS...` started in a fresh process (as a user's shell would), output captured.

    The child gets SIGINT's default disposition: a shell starts background jobs with SIGINT
    ignored, and a test run started that way would otherwise pass the ignoring on (Python then
    installs no Ctrl-C handler), whatever recdiff does.
    """
    command = [sys.executable, "-m", "recdiff", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}  # one thread: see conftest._one_torch_thread
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def strict_json(text: str) -> object:
    """Parse ``text`` as JSON proper: Python's json would also take the tokens NaN and Infinity."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def metric_records(run_dir: Path) -> list[dict]:
    """metrics.jsonl, each line checked to be strict JSON."""
    return [strict_json(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]  # type: ignore[misc]


def epochs_logged(run_dir: Path) -> list[int]:
    return [record["epoch"] for record in metric_records(run_dir) if record["event"] == "epoch"]


def write_interactions(path: Path) -> Path:
    """A small RecBole `.inter` file that survives the 5-core: 60 users with 8 interactions over 40 items."""
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"u{user}\ti{(user * 3 + k) % 40}\t{k}" for user in range(60) for k in range(8)]
    path.write_text("\n".join(rows) + "\n")
    return path


# 1. Two runs in one directory


def test_two_runs_with_one_out_one_trains_the_other_is_refused(tmp_path: Path, tiny_spec: Path) -> None:
    out = tmp_path / "shared"
    # a second of data loading, during which the other run starts: it used to check the directory then
    slow_data = [*set_args(TINY), "--set", "data.synthetic.users=50000"]
    runs = [recdiff_process("train", tiny_spec, "--out", out, *slow_data, cwd=tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=TIMEOUT)[0] for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], outputs
    refused = flat(outputs[[run.returncode for run in runs].index(1)])
    assert "Traceback" not in refused
    assert "is in use" in refused or "already exists and is not empty" in refused, refused
    # the run that trained is whole: one spec, each epoch logged once, its own results
    assert epochs_logged(out) == [1, 2]
    assert read_results(out)["epochs_run"] == 2
    assert load_spec(out / "spec.yaml").name == "tiny"


def test_default_names_never_collide_and_a_held_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("recdiff.training.rundir.time.strftime", lambda _: "20260101-000000")  # one second
    spec = load_spec({"name": "same"})
    claims = [RunDir.claim(spec, root=tmp_path) for _ in range(3)]
    assert [claim.run.path.name for claim in claims] == ["20260101-000000-same", "20260101-000000-same-2",
                                                         "20260101-000000-same-3"]
    held = claims[0].run.path
    with pytest.raises(RecdiffError, match="is in use"):
        RunDir.claim(spec, held)
    with pytest.raises(RecdiffError, match="is in use"):
        RunLock.acquire(held)
    claims[0].abandon()  # a run that never started leaves nothing behind
    assert not held.exists()
    RunDir.claim(spec, held).lock.release()  # and its directory is free again


def test_resume_refuses_a_run_another_process_holds(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "results.json").unlink()  # interrupted after its last epoch
    before = snapshot(run_dir)
    lock = RunLock.acquire(run_dir)
    output = assert_clean_failure(invoke("train", "--resume", run_dir))
    assert "is in use" in output and "another recdiff process" in output
    lock.release()
    assert snapshot(run_dir) == before
    assert invoke("train", "--resume", run_dir).exit_code == 0  # free again once the holder is gone


# 2. A loss that is not a number


def test_a_diverging_loss_stops_the_run_and_names_where(tmp_path: Path, tiny_spec: Path) -> None:
    run_dir = tmp_path / "run"
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", run_dir, *set_args(TINY), "--set", "train.lr=1e10"))
    assert "Training diverged: the loss was nan at epoch 1, batch" in output and "train.lr 1e+10" in output
    assert "No epoch finished" in output and "lower train.lr" in output
    assert not (run_dir / "results.json").exists() and not any((run_dir / "checkpoints").iterdir())
    diverged = metric_records(run_dir)[-1]
    assert diverged["event"] == "diverged" and diverged["epoch"] == 1 and diverged["loss"] == "nan"
    strict_json((run_dir / "env.json").read_text())


def test_a_loss_that_turns_nan_keeps_the_last_finite_checkpoints(
    tmp_path: Path, tiny_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, calls = DiffusionRecommender.loss, itertools.count(1)

    def nan_from_epoch_two_batch_three(self, history, target):  # type: ignore[no-untyped-def]
        loss = original(self, history, target)
        return loss * float("nan") if next(calls) == 8 + 3 else loss  # TINY: 8 batches an epoch

    monkeypatch.setattr(DiffusionRecommender, "loss", nan_from_epoch_two_batch_three)
    run_dir = tmp_path / "run"
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", run_dir, *set_args(TINY)))
    assert "the loss was nan at epoch 2, batch 3" in output
    assert "best.pt still holds epoch 1 and last.pt epoch 1" in output
    for name in ("best", "last"):
        state = torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=True)
        assert state["epoch"] == 1 and all(torch.isfinite(w).all() for w in state["model"].values())
    assert epochs_logged(run_dir) == [1] and not (run_dir / "results.json").exists()
    monkeypatch.undo()
    assert invoke("evaluate", run_dir).exit_code == 0  # what was kept still evaluates


@pytest.mark.parametrize("setting", ["train.lr=inf", "train.lr=.nan", "model.noise={name: offset, params: {strength: -.inf}}"])
def test_non_finite_spec_numbers_are_refused(tmp_path: Path, tiny_spec: Path, setting: str) -> None:
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", tmp_path / "run", "--set", setting))
    assert "Input should be a finite number" in output
    assert not (tmp_path / "run").exists()


def test_every_json_recdiff_writes_is_strict(trained_run: tuple[Path, object]) -> None:
    assert jsontext.dumps({"loss": float("nan"), "t": [float("inf"), 1.5]}) == '{"loss": null, "t": [null, 1.5]}'
    run_dir = trained_run[0]
    for name in ("env.json", "results.json"):
        strict_json((run_dir / name).read_text())
    assert metric_records(run_dir)


# 6. Everything else: an edited spec.yaml under --resume


def edit_spec(run_dir: Path, **changes: object) -> None:
    """Set ``section.field`` values in a run's spec.yaml (``train__lr=0.01`` sets train.lr)."""
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    for key, value in changes.items():
        section, field = key.split("__")
        spec[section][field] = value
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.mark.parametrize(
    ("edit", "named"),
    [({"train__lr": 0.01}, "train.lr: 0.001 -> 0.01"), ({"model__hidden": 24}, "model.hidden: 16 -> 24")],
)
def test_resume_refuses_an_edited_spec_naming_the_fields(
    tmp_path: Path, trained_run: tuple[Path, object], edit: dict, named: str
) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "results.json").unlink()
    edit_spec(run_dir, **edit)
    before = snapshot(run_dir)
    output = assert_clean_failure(invoke("train", "--resume", run_dir))
    assert "cannot be resumed" in output and named in output
    assert f"recdiff train {run_dir / 'spec.yaml'} --out NEW_DIR" in output
    assert snapshot(run_dir) == before


def test_resume_accepts_an_edit_of_where_it_runs(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "results.json").unlink()
    edit_spec(run_dir, train__threads=1, eval__batch_size=7)
    result = invoke("train", "--resume", run_dir)
    assert result.exit_code == 0, result.output
    assert read_results(run_dir)["test"] == read_results(trained_run[0])["test"]


def test_evaluate_refuses_an_edited_spec_naming_the_fields(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    edit_spec(run_dir, train__lr=0.01)  # the weights still fit: only the stored spec tells the edit apart
    before = snapshot(run_dir)
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "spec.yaml was edited after training (train.lr: 0.001 -> 0.01)" in output
    assert snapshot(run_dir) == before


def test_evaluate_follows_a_moved_data_file_and_other_inference_settings(tmp_path: Path, tiny_spec: Path) -> None:
    run_dir, data = tmp_path / "run", write_interactions(tmp_path / "data.inter")
    one_epoch = [*set_args(TINY), "--set", f"data.path={data}", "--set", "train.epochs=1"]
    assert invoke("train", tiny_spec, "--out", run_dir, *one_epoch).exit_code == 0
    edit_spec(run_dir, data__path=str(data.rename(tmp_path / "moved.inter")), eval__batch_size=3)
    result = invoke("evaluate", run_dir, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert {name: metrics[name] for name in read_results(run_dir)["test"]} == pytest.approx(read_results(run_dir)["test"])


def test_a_checkpoint_of_other_data_is_refused_by_evaluate_and_resume(
    tmp_path: Path, trained_run: tuple[Path, object]
) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "results.json").unlink()
    for name in ("best.pt", "last.pt"):  # as if the data file had changed since training
        path = run_dir / "checkpoints" / name
        state = torch.load(path, weights_only=True)
        state["data_fingerprint"] = "0" * 64
        torch.save(state, path)
    before = snapshot(run_dir)
    for args, action in ((("evaluate", run_dir), "evaluate"), (("train", "--resume", run_dir), "resume")):
        output = assert_clean_failure(invoke(*args))
        assert "was trained on other data than its spec's data now gives" in output
        assert f"Restore the original data file to {action} this run" in output
    assert snapshot(run_dir) == before


# 3. repeat into a group trained with another spec


def test_repeat_refuses_seeds_of_another_spec_and_summarises_only_the_requested(
    tmp_path: Path, tiny_spec: Path
) -> None:
    group, one_epoch = tmp_path / "group", [*set_args(TINY), "--set", "train.epochs=1"]
    assert invoke("repeat", tiny_spec, "--seeds", "2", "--out", group, *one_epoch).exit_code == 0
    first = strict_json((group / "summary.json").read_text())
    assert first["seeds"] == [7, 8] and first["runs"]["7"]["spec"] == first["runs"]["8"]["spec"]
    trained = {seed: snapshot(group / f"seed-{seed}") for seed in (7, 8)}

    changed = [*one_epoch, "--set", "model.hidden=8"]
    output = assert_clean_failure(invoke("repeat", tiny_spec, "--seeds", "1", "--out", group, *changed))
    assert "seeds 7, 8 (model.hidden: 16 -> 8)" in output and "--rerun-changed" in output
    assert {seed: snapshot(group / f"seed-{seed}") for seed in (7, 8)} == trained

    # the same spec over fewer seeds: the summary covers the seeds asked for, not the whole folder
    assert invoke("repeat", tiny_spec, "--seeds", "1", "--out", group, *one_epoch).exit_code == 0
    assert strict_json((group / "summary.json").read_text())["seeds"] == [7]

    result = invoke("repeat", tiny_spec, "--seeds", "1", "--out", group, *changed, "--rerun-changed")
    assert result.exit_code == 0, result.output
    summary = strict_json((group / "summary.json").read_text())
    assert summary["seeds"] == [7] and summary["runs"]["7"]["spec"] != first["runs"]["7"]["spec"]
    assert load_spec(group / "seed-7" / "spec.yaml").model.hidden == 8
    moved = {path.name.split(".")[0]: snapshot(path) for path in group.glob("seed-*.replaced-*")}
    assert moved == {f"seed-{seed}": trained[seed] for seed in (7, 8)}  # moved aside whole, never deleted


# 6. Everything else: signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_after_saving_and_says_how_to_resume(
    tmp_path: Path, tiny_spec: Path, signum: signal.Signals
) -> None:
    run_dir = tmp_path / "run"
    endless = [*set_args(TINY), "--set", "train.epochs=1000", "--set", "train.patience=null"]
    process = recdiff_process("train", tiny_spec, "--out", run_dir, *endless, cwd=tmp_path)
    deadline = time.monotonic() + TIMEOUT
    while not (run_dir / "checkpoints" / "last.pt").exists():  # an epoch finished
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before the signal"
        time.sleep(0.05)
    process.send_signal(signum)
    output = flat(process.communicate(timeout=TIMEOUT)[0])
    assert process.returncode == 128 + signum, output
    assert "Traceback" not in output
    stopped = re.search(r"interrupted after epoch (\d+); continue with `recdiff train --resume (\S+)`", output)
    assert stopped is not None, output
    assert Path(stopped.group(2)) == run_dir
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == int(stopped.group(1))
    assert epochs_logged(run_dir)[-1] >= int(stopped.group(1)) and not (run_dir / "results.json").exists()


# 4. A missing data file, with the cache on (the default)


def test_a_missing_data_file_is_named_before_the_cache_hashes_it(tmp_path: Path, tiny_spec: Path) -> None:
    data = write_interactions(tmp_path / "log.inter")
    run_dir = tmp_path / "run"
    on_file = [*set_args(TINY), "--set", f"data.path={data}"]
    assert invoke("train", tiny_spec, "--out", run_dir, *on_file).exit_code == 0
    before = snapshot(run_dir)
    data.rename(tmp_path / "moved.inter")

    for command in (["train", tiny_spec, "--out", tmp_path / "again", *on_file],
                    ["data", "prepare", tiny_spec, *on_file],
                    ["evaluate", run_dir]):
        output = assert_clean_failure(invoke(*command))
        assert f"Interaction file '{data}' does not exist" in output, command
    assert not (tmp_path / "again").exists()
    assert snapshot(run_dir) == before


# 5. An empty checkpoint


def test_an_empty_checkpoint_is_named_not_a_crash(tmp_path: Path, trained_run: tuple[Path, object]) -> None:
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"")
    before = snapshot(run_dir)
    output = assert_clean_failure(invoke("evaluate", run_dir))
    assert "best.pt" in output and "EOFError" in output and "corrupt, truncated" in output
    assert snapshot(run_dir) == before

    (run_dir / "results.json").unlink()  # an unfinished run whose last checkpoint is empty
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"")
    before = snapshot(run_dir)
    output = assert_clean_failure(invoke("train", "--resume", run_dir))
    assert "last.pt" in output and "could not be loaded" in output
    assert snapshot(run_dir) == before


# 6. Everything else


def test_a_seed_beyond_32_bits_is_refused_before_anything_runs(tmp_path: Path, tiny_spec: Path) -> None:
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", tmp_path / "run", "--set", f"seed={2**32}"))
    assert "seed: Input should be less than 4294967296" in output
    last = ["--set", f"seed={2**32 - 1}"]
    output = assert_clean_failure(invoke("repeat", tiny_spec, "--seeds", "2", "--out", tmp_path / "group", *last))
    assert "would reach seed 4294967296" in output and "below 2**32" in output
    assert not (tmp_path / "run").exists() and not (tmp_path / "group").exists()


def test_an_unwritable_recdiff_home_is_named(tmp_path: Path, tiny_spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("RECDIFF_HOME", str(tmp_path / "a-file" / "home"))
    for command in (["train", tiny_spec, "--out", tmp_path / "run", "--set", "data.name=beauty"],
                    ["data", "fetch", "beauty"]):
        output = assert_clean_failure(invoke(*command))
        assert f"RECDIFF_HOME ('{tmp_path / 'a-file' / 'home'}'), which must be a writable folder" in output
    assert not (tmp_path / "run").exists()


FULL = 32_000
"""Bytes a file may grow to once the disk is 'full': more than a log line, less than a TINY checkpoint (~110 kB)."""


def test_a_full_disk_stops_the_run_and_keeps_the_last_checkpoints(
    tmp_path: Path, tiny_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, limits = Trainer.train_epoch, resource.getrlimit(resource.RLIMIT_FSIZE)

    def disk_full_from_epoch_two(self, epoch):  # type: ignore[no-untyped-def]
        if epoch == 2:  # writes past FULL bytes now fail with EFBIG, as torch.save meets ENOSPC
            resource.setrlimit(resource.RLIMIT_FSIZE, (FULL, limits[1]))
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", disk_full_from_epoch_two)
    default = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of ending the process
    try:
        result = invoke("train", tiny_spec, "--out", tmp_path / "run", *set_args(TINY))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, default)
    output = assert_clean_failure(result)
    assert f"Could not write '{tmp_path / 'run' / 'checkpoints'}" in output
    assert "the disk is full" in output and "recdiff train --resume" in output
    assert not list((tmp_path / "run").rglob("*.tmp"))
    for name in ("best", "last"):
        assert torch.load(tmp_path / "run" / "checkpoints" / f"{name}.pt", weights_only=True)["epoch"] == 1


def test_a_key_given_twice_in_a_spec_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "twice.yaml"
    spec.write_text("name: twice\ntrain:\n  lr: 0.01\n  epochs: 2\n  lr: 0.1\n")
    for command in (["spec", "validate", spec], ["train", spec, "--out", tmp_path / "run"]):
        output = assert_clean_failure(invoke(*command))
        assert "the key 'lr' is given twice (line 3, then line 5)" in output
    assert not (tmp_path / "run").exists()


def test_infinite_timestamps_are_refused_naming_the_line(tmp_path: Path, tiny_spec: Path) -> None:
    data = write_interactions(tmp_path / "log.inter")
    data.write_text(data.read_text().replace("u0\ti0\t0\n", "u0\ti0\tinf\n"))
    for command in (["train", tiny_spec, "--out", tmp_path / "run", "--set", f"data.path={data}"],
                    ["data", "prepare", tiny_spec, "--set", f"data.path={data}"]):
        output = assert_clean_failure(invoke(*command))
        assert "column 'timestamp:float' holds 'inf' on line 2" in output and "not a finite time" in output
    assert not (tmp_path / "run").exists()


def test_code_that_is_a_directory_or_exits_is_named(tmp_path: Path, tiny_spec: Path) -> None:
    output = assert_clean_failure(invoke("spec", "validate", tiny_spec, "--code", tmp_path))
    assert "is a directory" in output and "does not exist" not in output
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    output = assert_clean_failure(invoke("train", tiny_spec, "--out", tmp_path / "run", "--code", exits))
    assert f"Importing --code file '{exits}' failed (SystemExit: 3)" in output
    assert not (tmp_path / "run").exists()
