"""Shared fixtures and helpers: repository paths, a tiny fast spec, a CLI runner and one trained run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

#: Root of the repository (holds examples/ and recdiff/).
REPO = Path(__file__).resolve().parents[1]
#: The real Amazon Beauty interactions, present only where ../shared/data is mounted.
BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty" / "beauty.inter"

#: Overrides that make any spec train in seconds on a CPU: a tiny model on tiny synthetic data.
TINY: list[str] = [
    "model.hidden=16",
    "model.backbone.params.blocks=1",
    "model.backbone.params.heads=2",
    "model.steps=8",
    "data.max_len=20",
    "data.synthetic.users=200",
    "data.synthetic.items=60",
    "train.epochs=2",
    "train.batch_size=64",
    "train.max_batches=8",
    "eval.max_users=120",
]


def set_args(overrides: list[str]) -> list[str]:
    """`--set a=b` command-line arguments for each override."""
    return [arg for override in overrides for arg in ("--set", override)]


def invoke(*args: str | Path) -> Result:
    """Run `recdiff ARGS...` in-process (stdout and stderr together in `result.output`).

    A wide terminal keeps rich from wrapping paths and messages in the middle of a word.
    """
    from recdiff.cli.main import app

    runner = CliRunner(env={"COLUMNS": "400"})
    return runner.invoke(app, [str(arg) for arg in args])


def flat(text: str) -> str:
    """`text` with every run of whitespace turned into one space (rich may still wrap lines)."""
    return " ".join(text.split())


def assert_clean_failure(result: Result) -> str:
    """The command failed with exit code 1 through recdiff's error reporting, not a crash; returns its output."""
    assert result.exit_code == 1, result.output
    # An exception escaping the command would also give exit code 1, but be stored here as itself.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "error:" in result.output
    return flat(result.output)


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(autouse=True, scope="session")
def _recdiff_home(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Point RECDIFF_HOME (downloads, caches) at a temporary folder, so no test writes to the real one.

    Tests that need an empty home of their own set it again with `monkeypatch.setenv`.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDIFF_HOME", str(tmp_path_factory.mktemp("recdiff-home")))
        yield


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():  # type: ignore[no-untyped-def]
    """Run the whole suite on one intra-op thread.

    The suite's models are tiny and gain nothing from threads, while on a busy 2-core machine
    PyTorch's default threads wait on each other: the budgeted quickstart trained in 79 s with 2
    threads and 5 s with 1 (results identical).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    """A minimal spec file (everything else comes from defaults and TINY overrides)."""
    return write_spec(tmp_path / "tiny.yaml", "name: tiny\nseed: 7\n")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One tiny run trained through the CLI, shared by tests that only read it (copy it before changing it)."""
    root = tmp_path_factory.mktemp("trained")
    spec = write_spec(root / "tiny.yaml", "name: tiny\nseed: 7\n")
    run_dir = root / "run"
    result = invoke("train", spec, "--out", run_dir, *set_args(TINY))
    assert result.exit_code == 0, result.output
    return run_dir, result


def fake_distribution(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A `<name>-1.0.dist-info/entry_points.txt` plus module files, as an installed plugin would leave."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[recdiff.plugins]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)


BLOCK = """
import recdiff
from recdiff.nn.conditioning import ConditioningBlock

@recdiff.register("conditioning", "{name}")
class Block(ConditioningBlock):
    '''A test block that adds the target to every position.'''
    def __init__(self, hidden, num_blocks, dropout):
        super().__init__()
    def forward(self, history, target, mask, noise):
        return history + target[:, None, :]
"""
