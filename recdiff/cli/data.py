"""`recdiff data ...`: fetch named datasets, describe interaction files, prepare a spec's data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from recdiff import jsontext
from recdiff.cli.common import FormatChoice, SetOption, console, friendly_errors

if TYPE_CHECKING:
    from recdiff.data.datasets import DatasetRecipe
    from recdiff.data.features import SideFeatures

data_app = typer.Typer(help="Fetch, describe and prepare interaction data.", no_args_is_help=True)


@data_app.command("fetch")
@friendly_errors
def fetch(
    name: str | None = typer.Argument(None, help="Dataset name, e.g. beauty (see --list)."),
    force: bool = typer.Option(False, "--force", help="Download and convert again even when present."),
    show_list: bool = typer.Option(False, "--list", help="List the named datasets and which are fetched."),
    source: Path | None = typer.Option(
        None, "--from", help="Take the download from this local file (verified by sha256) instead of the internet."
    ),
) -> None:
    """Download a named dataset into RECDIFF_HOME, verify its checksum and convert it to `.inter`.

    Without internet, `--from FILE` takes a copy of the published file (for beauty and ml-1m,
    the DiffuRec release pickle) and converts it exactly as a download.
    """
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
    path = dataset_file(name, force=force, console=console, source=source)
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


@data_app.command("stats")
@friendly_errors
def stats(
    source: str = typer.Argument(..., help="Interaction file (any format `data.path` reads) or a named dataset."),
    file_format: FormatChoice = typer.Option(
        FormatChoice.auto, "--format", help="File format, as data.format (auto: by extension)."
    ),
    user_field: str = typer.Option("user_id", "--user-field", help="Column holding user ids."),
    item_field: str = typer.Option("item_id", "--item-field", help="Column holding item ids."),
    time_field: str = typer.Option("timestamp", "--time-field", help="Column holding times."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as one JSON object."),
) -> None:
    """Describe the RAW interactions of a file or named dataset (before k-core or any other preprocessing).

    Users, items, interactions, sequence-length percentiles, density and item-popularity skew
    (Gini coefficient; share of interactions on the top 20% of items); for a `.inter` file
    with `.item` / `.user` siblings, their rows, typed columns and coverage of the raw ids.
    """

    from recdiff.data import read_interactions
    from recdiff.data.features import load_side_features
    from recdiff.data.stats import describe
    from recdiff.spec.models import DataSpec

    path = _stats_source(source)
    spec = DataSpec.model_validate(
        {"path": path, "format": file_format.value, "user_field": user_field, "item_field": item_field,
         "time_field": time_field}
    )
    frame = read_interactions(spec)
    summary = describe(frame)
    sides = load_side_features(spec, frame["item"].unique(), frame["user"].unique())
    if as_json:
        features = {
            f"{kind}_features": None if side is None else side.to_dict() for kind, side in zip(("item", "user"), sides)
        }
        console.print_json(jsontext.dumps({"source": str(path), **summary.to_dict(), **features}))
        return
    table = Table(title=str(path), caption="raw: before k-core or other preprocessing")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for name, count in (("users", summary.users), ("items", summary.items), ("interactions", summary.interactions)):
        table.add_row(name, f"{count:,}")
    for name, value in summary.lengths.items():
        table.add_row(f"sequence length {name}", f"{value:,.2f}" if name == "mean" else f"{value:,.0f}")
    table.add_row("density", f"{summary.density:.6f}")
    table.add_row("item popularity Gini", f"{summary.gini:.3f}")
    table.add_row("interactions on top 20% items", f"{summary.top_share:.1%}")
    for side in sides:
        if side is not None:
            _add_side_rows(table, side)
    console.print(table)


def _add_side_rows(table: Table, side: SideFeatures) -> None:
    """Rows describing one side file: where it is, its size and columns, and how many raw ids it covers."""
    table.add_row(f"{side.kind} file", str(side.path))
    table.add_row(f"{side.kind} file rows", f"{side.rows:,}")
    table.add_row(f"{side.kind} file columns", side.columns_text())
    table.add_row(f"{side.kind}s with a row", f"{side.coverage:.1%} ({side.matched:,} of {len(side.frame):,})")
    table.add_row(f"{side.kind} file rows for unknown {side.kind}s", f"{side.unknown:,}")


def _stats_source(source: str) -> Path:
    """An existing file as it is; else the `.inter` file of a named dataset (fetched when missing)."""
    from recdiff.data.fetch import dataset_file
    from recdiff.errors import DataError
    from recdiff.registry import available

    path = Path(source)
    if path.exists():
        return path
    names = available("dataset")
    if source in names:
        return dataset_file(source, console=console)
    raise DataError(
        f"'{source}' is neither an existing file (resolved to '{path.absolute()}') nor a named dataset "
        f"({', '.join(names)}). Give the path of an interaction file, or one of those names."
    )


@data_app.command("prepare")
@friendly_errors
def prepare(
    spec_file: Path = typer.Argument(..., help="YAML spec whose data section is prepared."),
    overrides: list[str] | None = SetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Run only the data part of a spec (read, preprocess, cache, split) and report what it did."""
    import time

    import numpy as np

    from recdiff.data import load_data, make_splits
    from recdiff.spec import load_spec

    spec = load_spec(spec_file, overrides or [])
    started = time.perf_counter()
    loaded = load_data(spec.data, spec.seed)
    splits = make_splits(loaded.data, spec.data)
    seconds = time.perf_counter() - started
    sizes = {name: len(getattr(splits, name)) for name in ("train", "val", "test")}
    cache = "off" if loaded.cache_file is None else ("read" if loaded.from_cache else "written")
    if as_json:
        console.print_json(jsontext.dumps({
            "source": loaded.source.label, "cache": cache,
            "cache_file": None if loaded.cache_file is None else str(loaded.cache_file),
            "preprocessing": loaded.report.to_dict(), "split": spec.data.split, "examples": sizes,
            "item_features": None if loaded.item_features is None else loaded.item_features.to_dict(),
            "user_features": None if loaded.user_features is None else loaded.user_features.to_dict(),
            "seconds": seconds,
        }))
        return
    console.print(f"source: {loaded.source.label}", highlight=False)
    console.print(f"preprocessing: {loaded.report.summary()}", highlight=False)
    for side in (loaded.item_features, loaded.user_features):
        if side is not None:
            console.print(f"{side.kind} features: {side.summary()} ({side.path})", highlight=False)
    location = "" if loaded.cache_file is None else f" ({loaded.cache_file})"
    console.print(f"cache: {cache}{location}", highlight=False)
    table = Table(title=f"{spec.data.split} (max_len {spec.data.max_len})")
    for column in ("split", "examples", "users"):
        table.add_column(column, justify="right" if column != "split" else "left")
    for name, split in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        users = np.unique(split.users(loaded.data)).size
        table.add_row(name, f"{len(split):,}", f"{users:,}")
    console.print(table)
    console.print(f"prepared in {seconds:.2f} s", highlight=False)
