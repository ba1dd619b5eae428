"""Plugins: entry-point discovery (fake dist-info folders), broken plugins, name clashes,
autoload switch, `--code`, and the example plugin installed for real into a target folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BLOCK, REPO, TINY, assert_clean_failure, fake_distribution, invoke, set_args, write_spec

import recdiff
from recdiff.registry import REGISTRIES, origins, plugins

GATED = REPO / "plugins" / "recdiff-gated-conditioning"


@pytest.fixture
def isolated_registries(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Let a test load plugins into the global registries and undo it afterwards."""
    recdiff.available("conditioning")  # built-ins first
    saved = {kind: (dict(r._entries), dict(r._conflicts)) for kind, r in REGISTRIES.items()}
    monkeypatch.setattr(origins, "BROKEN", [])
    monkeypatch.setattr(plugins, "STATUS", [])
    modules = set(sys.modules)
    yield
    for kind, (entries, conflicts) in saved.items():
        REGISTRIES[kind]._entries = entries
        REGISTRIES[kind]._conflicts = conflicts
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def load_from(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[plugins.PluginStatus]:
    monkeypatch.syspath_prepend(str(root))
    return plugins.load_plugins(path=[str(root)])


def test_working_plugin_registers_under_its_distribution(tmp_path, monkeypatch, isolated_registries) -> None:
    fake_distribution(tmp_path, "good_plugin", {"blocks": "good_blocks"}, {"good_blocks": BLOCK.format(name="fake_good")})
    (status,) = load_from(tmp_path, monkeypatch)
    assert status.ok and status.plugin.origin == "good-plugin 1.0" and status.plugin.target == "good_blocks"
    entry = recdiff.registry.registry("conditioning").get("fake_good")
    assert entry.origin == "good-plugin 1.0"
    spec = recdiff.load_spec({"model": {"hidden": 8, "conditioning": {"name": "fake_good"}}})
    assert recdiff.build_model(spec, 10).conditioning.__class__.__name__ == "Block"


def test_plugin_that_raises_is_broken_but_recdiff_works(tmp_path, monkeypatch, isolated_registries) -> None:
    fake_distribution(tmp_path, "bad_plugin", {"blocks": "bad_blocks"}, {"bad_blocks": "raise RuntimeError('boom')\n"})
    (status,) = load_from(tmp_path, monkeypatch)
    assert not status.ok and "RuntimeError: boom" in status.error
    assert "additive" in recdiff.available("conditioning")  # the rest still works
    recdiff.load_spec({"model": {"conditioning": {"name": "additive"}}})
    with pytest.raises(recdiff.RecdiffError) as info:
        recdiff.load_spec({"model": {"conditioning": {"name": "bad_block"}}})
    assert "bad-plugin 1.0" in str(info.value) and "boom" in str(info.value)


def test_plugin_naming_a_missing_object_is_broken(tmp_path, monkeypatch, isolated_registries) -> None:
    fake_distribution(tmp_path, "typo_plugin", {"blocks": "typo_blocks:registr"}, {"typo_blocks": "def register(): pass\n"})
    (status,) = load_from(tmp_path, monkeypatch)
    assert not status.ok and "registr" in status.error


def test_two_plugins_claiming_one_name_name_both(tmp_path, monkeypatch, isolated_registries) -> None:
    fake_distribution(tmp_path, "first_plugin", {"a": "first_blocks"}, {"first_blocks": BLOCK.format(name="clash")})
    fake_distribution(tmp_path, "second_plugin", {"b": "second_blocks"}, {"second_blocks": BLOCK.format(name="clash")})
    statuses = load_from(tmp_path, monkeypatch)
    assert all(status.ok for status in statuses)
    with pytest.raises(recdiff.RecdiffError) as info:
        recdiff.load_spec({"model": {"conditioning": {"name": "clash"}}})
    assert "first-plugin 1.0" in str(info.value) and "second-plugin 1.0" in str(info.value)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "300", **env}
    return subprocess.run([sys.executable, "-m", "recdiff", *args], capture_output=True, text=True, env=full_env, timeout=300)


def test_cli_shows_broken_plugin_and_check_fails(tmp_path: Path) -> None:
    fake_distribution(tmp_path, "bad_plugin", {"blocks": "bad_blocks"}, {"bad_blocks": "import no_such_module\n"})
    env = {"PYTHONPATH": str(tmp_path)}
    listing = run_cli("plugins", "conditioning", env=env)
    assert listing.returncode == 0 and "broken" in listing.stdout and "no_such_module" in listing.stdout
    check = run_cli("plugins", "--check", env=env)
    assert check.returncode == 1 and "bad-plugin 1.0" in check.stderr and "Traceback" not in check.stderr
    off = run_cli("plugins", "--check", env={**env, "RECDIFF_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert off.returncode == 0 and "autoloading is off" in off.stdout and "bad-plugin" not in off.stdout


def test_code_option_imports_a_users_file(tmp_path: Path) -> None:
    code = tmp_path / "my_blocks.py"
    code.write_text(BLOCK.format(name="my_block"))
    spec = write_spec(tmp_path / "spec.yaml", "model:\n  conditioning: {name: my_block}\n")
    result = invoke("train", spec, "--code", code, "--out", tmp_path / "run", *set_args(TINY))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "results.json").is_file()
    missing = invoke("spec", "validate", spec, "--code", tmp_path / "nope.py")
    assert "nope.py" in assert_clean_failure(missing)


def test_example_plugin_installs_lists_and_trains(tmp_path: Path) -> None:
    target = tmp_path / "site"
    isolation = ["--no-build-isolation"] if _has_setuptools() else []  # offline-friendly when possible
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation, "--target", str(target), str(GATED)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": str(target)}
    listing = run_cli("plugins", "conditioning", env=env)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if " gated " in line)
    assert "recdiff-gated-conditioning 0.1.0" in row
    spec = write_spec(tmp_path / "spec.yaml", "model:\n  conditioning: {name: gated}\n")
    trained = run_cli("train", str(spec), "--out", str(tmp_path / "run"), *set_args(TINY + ["train.epochs=1"]), env=env)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(GATED / "tests")],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    ours = subprocess.run(  # recdiff's own contract tests check every installed component too
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "-k", "gated", "tests/test_contracts.py"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300, cwd=REPO,
    )
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "PASSED tests/test_contracts.py::test_conditioning_contract[gated]" in ours.stdout, ours.stdout


def _has_setuptools() -> bool:
    try:
        import setuptools  # noqa: F401
    except ImportError:
        return False
    return True
