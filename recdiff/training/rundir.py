"""The run directory: resolved spec, environment, metrics log, checkpoints and final results."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recdiff.errors import RunError
from recdiff.spec.loading import dump_spec
from recdiff.spec.models import RunSpec


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's outputs (`runs/<time>-<name>/` by default)."""

    path: Path

    @classmethod
    def claim(cls, spec: RunSpec, out: str | Path | None = None, root: str | Path = "runs") -> RunDir:
        """The run directory to use, checked to be free (never an earlier run's); `create()` makes it."""
        if out is None:
            out = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}"
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunError(
                f"Output directory '{path}' already exists and is not empty; recdiff never overwrites an "
                f"earlier run. Pass another --out, or move the old run away first."
            )
        return cls(path)

    def create(self) -> None:
        """Make the directory and its checkpoints folder."""
        try:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunError(f"Could not create run directory '{self.path}': {error}. Pass a writable --out.") from None

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (it must hold spec.yaml)."""
        run = cls(Path(path))
        if not run.spec_path.is_file():
            raise RunError(
                f"'{path}' is not a recdiff run directory (no spec.yaml in it). Pass the directory that "
                f"`recdiff train` printed at the end of the run."
            )
        return run

    spec_path = property(lambda self: self.path / "spec.yaml")
    env_path = property(lambda self: self.path / "env.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    results_path = property(lambda self: self.path / "results.json")
    best_path = property(lambda self: self.path / "checkpoints" / "best.pt")
    last_path = property(lambda self: self.path / "checkpoints" / "last.pt")

    def write_spec(self, spec: RunSpec) -> None:
        _write_atomic(self.spec_path, dump_spec(spec))

    def write_env(self, device: torch.device, seed: int) -> None:
        """Versions, device and seed: what is needed to tell two runs' settings apart."""
        import numpy
        import pandas
        import pydantic

        import recdiff

        env = {
            "recdiff": recdiff.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "pandas": pandas.__version__,
            "pydantic": pydantic.__version__,
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "threads": torch.get_num_threads(),
            "seed": seed,
        }
        _write_atomic(self.env_path, json.dumps(env, indent=2))

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON object to metrics.jsonl."""
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def write_results(self, results: dict[str, Any]) -> None:
        _write_atomic(self.results_path, json.dumps(results, indent=2))
