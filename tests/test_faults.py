"""The fault matrix: every way a run can go wrong ends in one clear message, a non-zero exit and nothing lost.

Each test makes one fault happen for real (a missing file, a diverging loss, a second run on the
same directory, a signal), then checks the exit code, that the message names the cause without a
traceback, and that the runs and checkpoints already on disk are exactly as they were.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from conftest import assert_clean_failure, invoke


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
