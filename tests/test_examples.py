"""The runnable examples run as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


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
