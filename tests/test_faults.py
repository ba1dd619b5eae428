"""The fault matrix: every way a run can go wrong ends in one clear message, a non-zero exit and nothing lost.

Each test makes one fault happen for real (a missing file, a diverging loss, a second run on the
same directory, a signal), then checks the exit code, that the message names the cause without a
traceback, and that the runs and checkpoints already on disk are exactly as they were.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from conftest import TINY, assert_clean_failure, invoke, set_args


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


def write_interactions(path: Path) -> Path:
    """A small RecBole `.inter` file that survives the 5-core: 60 users with 8 interactions over 40 items."""
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"u{user}\ti{(user * 3 + k) % 40}\t{k}" for user in range(60) for k in range(8)]
    path.write_text("\n".join(rows) + "\n")
    return path


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
