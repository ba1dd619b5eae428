"""The result tables in the docs are generated from the run files under benchmarks/results, so they cannot drift apart."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from recdiff.training.environment import environment

LATER_KEYS = {"git", "command", "plugins", "code"}
"""env.json keys added after most kept runs were recorded."""
NEWER_KEYS = {"world_size"}
"""env.json keys added after the kept runs were recorded, which all trained in one process."""

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKED_DOCS = [doc for doc in DOCS if "<!-- table: " in doc.read_text(encoding="utf-8")]


@pytest.fixture(scope="module")
def table() -> ModuleType:
    """benchmarks/table.py, a script that imports curves.py beside it, as it is run: with benchmarks/ on the path."""
    spec = importlib.util.spec_from_file_location("benchmarks_table", ROOT / "benchmarks" / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_the_results_page_has_generated_tables() -> None:
    assert ROOT / "docs" / "results.md" in MARKED_DOCS


@pytest.mark.parametrize("doc", MARKED_DOCS, ids=lambda doc: doc.name)
def test_every_marked_table_agrees_with_its_files(table: ModuleType, doc: Path) -> None:
    differences = table.check_docs(doc)
    assert not differences, "regenerate with `python benchmarks/table.py --docs PAGE --write`:\n" + "\n".join(differences)


def test_an_altered_number_is_found_and_named(table: ModuleType, tmp_path: Path) -> None:
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    row = "| recdiff `diffurec`, seed 43 | 0.0490 | 0.0700 |"
    altered = page.replace(row, row.replace("0.0700", "0.0701"), 1)
    assert altered != page
    doc = tmp_path / "results.md"
    doc.write_text(altered, encoding="utf-8")
    differences = table.check_docs(doc)
    assert len(differences) == 1
    assert "the table under 'Paper protocol'" in differences[0]
    assert row.replace("0.0700", "0.0701") in differences[0] and row in differences[0]
    table.check_docs(doc, write=True)
    assert doc.read_text(encoding="utf-8") == page


def test_a_missing_row_is_found(table: ModuleType, tmp_path: Path) -> None:
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    doc = tmp_path / "results.md"
    doc.write_text(re.sub(r"\| popularity baseline .*\n", "", page, count=1), encoding="utf-8")
    differences = table.check_docs(doc)
    assert len(differences) == 1 and "the page has (nothing)" in differences[0] and "| popularity baseline |" in differences[0]



def test_every_kept_run_has_its_environment(tmp_path: Path) -> None:
    """Each run's env.json has the keys recdiff writes; one rebuilt later says so and where its fields came from."""
    keys = set(environment(torch.device("cpu"), seed=0))
    core = keys - LATER_KEYS - NEWER_KEYS  # runs recorded before env.json had these keys lack them
    runs = sorted(spec.parent for spec in (ROOT / "benchmarks" / "results").rglob("spec.yaml"))
    assert runs and [run for run in runs if not (run / "env.json").is_file()] == []
    for run in runs:
        env = json.loads((run / "env.json").read_text())
        rebuilt = env.get("reconstructed") is True and bool(env.get("note"))
        assert set(env) - keys <= ({"reconstructed", "note", "added_in_commit"} if rebuilt else set()), run
        assert core <= set(env) and set(env) & LATER_KEYS in (set(), LATER_KEYS), run


def test_every_kept_folder_is_cited() -> None:
    """benchmarks/results holds the evidence behind the docs and nothing else: each folder of files is named on a page,
    as `name` or parent/name."""
    text = "".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    results = ROOT / "benchmarks" / "results"
    folders = {path.parent for path in results.rglob("*") if path.is_file()}
    cited = {folder for folder in folders if f"`{folder.name}`" in text or f"{folder.parent.name}/{folder.name}" in text}
    assert sorted(folders - cited) == []
