"""The docs name real things: every command has an example on the Commands page, and every spec field the
RecBole page maps to exists."""

from __future__ import annotations

import re
from typing import Any

import typer
import yaml
from conftest import REPO

from recdiff import load_spec
from recdiff.cli.main import app
from recdiff.spec import dump_spec

DOCS = REPO / "docs"


def command_paths(group: Any, prefix: str = "recdiff") -> list[str]:
    """`recdiff train`, `recdiff data stats`, ...: every command that runs something (groups are walked).

    Groups are told by their `commands` (recent typer builds on its own copy of click's classes)."""
    paths = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            paths += command_paths(command, f"{prefix} {name}")
        else:
            paths.append(f"{prefix} {name}")
    return paths


def test_commands_page_has_an_example_of_every_command() -> None:
    paths = command_paths(typer.main.get_command(app))
    assert {"recdiff train", "recdiff spec schema", "recdiff data fetch"} <= set(paths)
    page = (DOCS / "commands.md").read_text()
    for path in [*paths, "recdiff --version"]:
        assert f"\n{path} " in page or f"\n{path}\n" in page, f"docs/commands.md has no example line of `{path}`"


def test_recbole_page_names_only_spec_fields_that_exist() -> None:
    resolved = yaml.safe_load(dump_spec(load_spec({"preset": "sasrec"})))
    page = (DOCS / "recbole.md").read_text()
    named = set(re.findall(r"`((?:data|model|train|eval)\.[a-z_.]+)", page))
    assert {"data.max_len", "train.patience", "eval.metric", "model.backbone.params.blocks"} <= named
    for path in sorted(named):
        node = resolved
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"docs/recbole.md names `{path}`, which is no spec field"
            node = node[key]
