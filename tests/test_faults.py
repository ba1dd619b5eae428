"""The fault matrix: every way a run can go wrong ends in one clear message, a non-zero exit and nothing lost.

Each test makes one fault happen for real (a missing file, a diverging loss, a second run on the
same directory, a signal), then checks the exit code, that the message names the cause without a
traceback, and that the runs and checkpoints already on disk are exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, assert_clean_failure, flat, invoke, read_results, set_args

from recdiff import RecdiffError, load_spec
from recdiff.training.lock import RunLock
from recdiff.training.rundir import RunDir

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
    """`recdiff ARGS...` started in a fresh process (as a user's shell would), output captured."""
    command = [sys.executable, "-m", "recdiff", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}  # one thread: see conftest._one_torch_thread
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def epochs_logged(run_dir: Path) -> list[int]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [record["epoch"] for record in records if record["event"] == "epoch"]


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
