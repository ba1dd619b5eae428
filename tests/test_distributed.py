"""Data-parallel training under torchrun (two gloo processes on the CPU) against one process.

Each torchrun launch costs several seconds (two interpreters importing torch), so the launches are
shared: one two-process quickstart run is compared with one process and is also the
uninterrupted run that a killed and resumed run must end like.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TINY, assert_clean_failure, invoke, read_results, set_args, write_spec

from recdiff import distributed

TIMEOUT = 120.0
QUICKSTART = [*TINY, "train.epochs=3", "train.patience=null"]
"""The quickstart made tiny, over three epochs so that a run can be killed after the first."""
DETERMINISTIC = [
    *TINY, "preset=sasrec", "model.dropout=0", "model.emb_dropout=0", "train.batch_size=199", "train.max_batches=null",
]
"""SASRec without dropout trains without randomness. It trains on the 200 users' longest sequences:
a batch of 199 split 100/99 between two ranks, and a batch of 1 that leaves rank 1 nothing."""


def torchrun(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """`torchrun --standalone --nproc_per_node 2 -m recdiff ARGS...`, output captured."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "recdiff", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL torchrun's ranks, then torchrun: the ranks run in sessions of their own, so they are
    found as its children in /proc (Linux)."""
    for children in Path(f"/proc/{process.pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            os.kill(int(pid), signal.SIGKILL)
    process.kill()


def finished(process: subprocess.Popen[str]) -> str:
    output = process.communicate(timeout=TIMEOUT)[0]
    assert process.returncode == 0, output
    return output


def records(run_dir: Path, event: str, split: str | None = None) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if r["event"] == event and (split is None or r.get("split") == split)]


def losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in records(run_dir, "epoch")]


def metrics(run_dir: Path, split: str) -> list[dict[str, float]]:
    """Each evaluation's metrics on ``split`` (HR@K, NDCG@K, MRR only)."""
    return [{k: v for k, v in r.items() if k.startswith(("hr@", "ndcg@", "mrr"))} for r in records(run_dir, "eval", split)]


@pytest.fixture(scope="module")
def quickstart_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny quickstart trained by two processes and by one, each into its own folder of runs."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "two").mkdir()
    finished(torchrun("train", REPO / "examples" / "quickstart.yaml", "--out", "run", *set_args(QUICKSTART),
                      cwd=root / "two"))
    result = invoke("train", REPO / "examples" / "quickstart.yaml", "--out", root / "one", *set_args(QUICKSTART))
    assert result.exit_code == 0, result.output
    return root / "two" / "run", root / "one"


def test_two_processes_write_one_run_directory_that_records_them(quickstart_runs: tuple[Path, Path]) -> None:
    two, _ = quickstart_runs
    assert sorted(p.name for p in two.parent.iterdir()) == ["run"]  # no rank made a second directory
    assert json.loads((two / "env.json").read_text())["world_size"] == 2
    assert len(records(two, "epoch")) == 3 and read_results(two)["test"]["hr@10"] >= 0
    # every epoch saw every example of the global batches, not one rank's half
    assert [r["examples"] for r in records(two, "epoch")] == [8 * 64] * 3
    assert torch.load(two / "checkpoints" / "last.pt", weights_only=True)["world_size"] == 2


def test_two_processes_train_the_quickstart_as_one_does(quickstart_runs: tuple[Path, Path]) -> None:
    """Stated tolerance: each epoch's mean loss within 2% and each metric within 0.05 of one process's.

    The two ranks draw their own diffusion noise (timesteps and Gaussian noise), so the runs agree
    in distribution, not bit for bit; on these 120 users one hit more or less moves HR@K by 0.008
    (measured: losses within 0.7%, HR@10 within 0.017).
    """
    two, one = quickstart_runs
    assert losses(two) == pytest.approx(losses(one), rel=0.02)
    assert losses(two) != losses(one)  # the noise differs: equal losses would mean rank 1 copied rank 0
    for split in ("val", "test"):
        for ours, theirs in zip(metrics(two, split), metrics(one, split), strict=True):
            assert ours == pytest.approx(theirs, abs=0.05)


def test_without_randomness_two_processes_compute_what_one_does(tmp_path: Path) -> None:
    """Tolerance 1e-5 (float sums in another order): the weighted gradient of two uneven shards is the
    batch's, and the sharded, gathered evaluation ranks every example as one process does."""
    spec = write_spec(tmp_path / "tiny.yaml", "name: tiny\nseed: 7\n")
    finished(torchrun("train", spec, "--out", tmp_path / "two", *set_args(DETERMINISTIC), cwd=tmp_path))
    result = invoke("train", spec, "--out", tmp_path / "one", *set_args(DETERMINISTIC))
    assert result.exit_code == 0, result.output
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-5)
    for split in ("val", "test"):
        for ours, theirs in zip(metrics(tmp_path / "two", split), metrics(tmp_path / "one", split), strict=True):
            assert ours == pytest.approx(theirs, abs=1e-5)


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_end(
    tmp_path: Path, quickstart_runs: tuple[Path, Path]
) -> None:
    uninterrupted, _ = quickstart_runs
    run_dir = tmp_path / "run"
    process = torchrun("train", REPO / "examples" / "quickstart.yaml", "--out", run_dir, *set_args(QUICKSTART),
                       cwd=tmp_path)
    deadline = time.monotonic() + TIMEOUT
    while not (run_dir / "checkpoints" / "last.pt").exists():  # an epoch finished
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.02)
    kill(process)  # both ranks and torchrun, in the middle of the run
    process.communicate(timeout=TIMEOUT)
    assert not (run_dir / "results.json").exists()
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] < 3
    finished(torchrun("train", "--resume", run_dir, cwd=tmp_path))
    assert losses(run_dir) == losses(uninterrupted)
    assert metrics(run_dir, "val") == metrics(uninterrupted, "val")
    assert read_results(run_dir)["test"] == read_results(uninterrupted)["test"]


def test_a_run_resumed_with_another_number_of_processes_is_refused(quickstart_runs: tuple[Path, Path]) -> None:
    two, _ = quickstart_runs
    (two / "results.json").rename(two / "results.kept")  # as if it had stopped after its last epoch
    try:
        result = invoke("train", "--resume", two)
    finally:
        (two / "results.kept").rename(two / "results.json")
    output = assert_clean_failure(result)
    assert "trained with 2 process(es) and is resumed with 1" in output
    assert f"torchrun --standalone --nproc_per_node 2 -m recdiff train --resume {two}" in output


def test_two_processes_evaluate_a_run_as_one_does(quickstart_runs: tuple[Path, Path]) -> None:
    """`torchrun ... recdiff evaluate` shares the batches; each example's noise is keyed, so the metrics
    are one process's exactly, and only rank 0 prints them."""
    two, _ = quickstart_runs
    output = finished(torchrun("evaluate", two, "--split", "val", "--json", cwd=two.parent))
    assert output.count("{") == 1, output
    shared = json.loads(output[output.index("{"): output.rindex("}") + 1])
    alone = invoke("evaluate", two, "--split", "val", "--json")
    assert alone.exit_code == 0, alone.output
    expected = json.loads(alone.stdout[alone.stdout.index("{"):])
    assert {k: shared[k] for k in shared if k != "seconds"} == {k: expected[k] for k in expected if k != "seconds"}


@pytest.mark.parametrize("command", [["recommend", "RUN", "--input", "x.jsonl"], ["repeat", "spec.yaml"]])
def test_commands_that_do_not_share_work_refuse_torchrun(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = invoke(*command)
    assert result.exit_code == 2
    assert f"`recdiff {command[0]}` was started by torchrun as one of several processes" in result.output
    assert "Run `recdiff" in result.output and "as one process" in result.output


def test_alone_each_collective_is_the_value_itself() -> None:
    """Without torchrun recdiff is one process: no process group, and no helper changes anything."""
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    value = {"a": 1}
    assert distributed.broadcast(value) is value and distributed.gather(value) == [value]
    assert distributed.shard(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    assert distributed.sum_all([1.5, 2.0], torch.device("cpu")) == [1.5, 2.0]
