"""`recdiff data ...`: fetch named datasets, describe interaction files, prepare a spec's data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from recdiff.cli.common import console, friendly_errors

if TYPE_CHECKING:
    from recdiff.data.datasets import DatasetRecipe

data_app = typer.Typer(help="Fetch, describe and prepare interaction data.", no_args_is_help=True)


@data_app.command("fetch")
@friendly_errors
def fetch(
    name: Optional[str] = typer.Argument(None, help="Dataset name, e.g. beauty (see --list)."),
    force: bool = typer.Option(False, "--force", help="Download and convert again even when present."),
    show_list: bool = typer.Option(False, "--list", help="List the named datasets and which are fetched."),
) -> None:
    """Download a named dataset into RECDIFF_HOME, verify its checksum and convert it to `.inter`."""
    from recdiff.data.datasets import get_recipe
    from recdiff.data.fetch import dataset_file
    from recdiff.data.home import recdiff_home
    from recdiff.errors import DataError
    from recdiff.registry import available

    if show_list:
        console.print(_datasets_table([get_recipe(n) for n in available("dataset")]))
        console.print(f"RECDIFF_HOME: {recdiff_home()}", highlight=False)
        return
    if name is None:
        raise DataError(
            "Name the dataset to fetch, e.g. `recdiff data fetch beauty`; `recdiff data fetch --list` shows them."
        )
    path = dataset_file(name, force=force, console=console)
    console.print(f"[green]ok[/]: dataset '{name}' is at {path}", highlight=False)
    console.print(f"use it in a spec with `data: {{name: {name}}}`", highlight=False, markup=False)


def _datasets_table(recipes: list[DatasetRecipe]) -> Table:
    """One row per recipe; `preprocessed: no` means k-core filtering applies, `sha256: -` that it is not pinned."""
    from recdiff.data.fetch import inter_path

    table = Table(title="named datasets (recdiff data fetch NAME)")
    for column in ("name", "fetched", "preprocessed", "bytes", "sha256", "description"):
        table.add_column(column)
    for recipe in recipes:
        table.add_row(
            recipe.name,
            "yes" if inter_path(recipe.name).is_file() else "no",
            "yes" if recipe.preprocessed else "no",
            f"{recipe.size:,}" if recipe.size is not None else "-",
            f"{recipe.sha256[:8]}" if recipe.sha256 else "-",
            recipe.description,
        )
    return table
