"""The `recdiff` command: thin typer commands over library functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from recdiff.cli.common import SetOption, console, friendly_errors, metrics_table
from recdiff.cli.data import data_app
from recdiff.registry import REGISTRIES, registry
from recdiff.spec import RunSpec, dump_spec, load_spec

app = typer.Typer(
    help="Diffusion-based sequential recommendation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
spec_app = typer.Typer(help="Check, show and describe specs.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(data_app, name="data")

@app.command()
@friendly_errors
def train(
    spec_file: Path = typer.Argument(..., help="YAML spec, e.g. examples/quickstart.yaml."),
    overrides: Optional[list[str]] = SetOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<time>-<name>/)."),
) -> None:
    """Train the model a spec describes and report test metrics of its best checkpoint."""
    from recdiff.training.trainer import train as run_training

    spec = load_spec(spec_file, overrides or [])
    result = run_training(spec, out, console)
    rows = {spec.name: result.test, "popularity": result.popularity["test"]}
    console.print(metrics_table(f"test metrics, full ranking (best epoch {result.best_epoch})", rows))
    console.print(f"run directory: {result.run_dir}")


@app.command()
@friendly_errors
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `recdiff train`."),
    split: str = typer.Option("test", "--split", help="`val` or `test`."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="`best` or `last`."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
) -> None:
    """Re-evaluate a saved run on the validation or test split."""
    from recdiff.errors import RunError
    from recdiff.training.restore import evaluate_run

    if split not in ("val", "test") or checkpoint not in ("best", "last"):
        raise RunError(f"--split must be 'val' or 'test' and --checkpoint 'best' or 'last' (got {split!r}, {checkpoint!r}).")
    metrics = evaluate_run(run_dir, split, checkpoint)
    if as_json:
        console.print_json(json.dumps(metrics))
    else:
        console.print(metrics_table(f"{run_dir} ({checkpoint} checkpoint)", {split: metrics}))


@app.command()
@friendly_errors
def plugins(kind: Optional[str] = typer.Argument(None, help="Only this component kind.")) -> None:
    """List registered components: name, kind, origin and a one-line description."""
    kinds = [registry(kind).kind] if kind else list(REGISTRIES)
    table = Table(title="recdiff components")
    for column in ("name", "kind", "origin", "description"):
        table.add_column(column)
    for k in kinds:
        for entry in registry(k).entries():
            table.add_row(entry.name, entry.kind, entry.origin, entry.summary)
    console.print(table)


@spec_app.command("validate")
@friendly_errors
def spec_validate(spec_file: Path, overrides: Optional[list[str]] = SetOption) -> None:
    """Check a spec (fields, types, component names and params) without running anything."""
    load_spec(spec_file, overrides or [])
    console.print(f"[green]ok[/]: {spec_file} is a valid spec")


@spec_app.command("show")
@friendly_errors
def spec_show(spec_file: Path, overrides: Optional[list[str]] = SetOption) -> None:
    """Print the fully resolved spec: preset expanded, defaults filled in."""
    console.print(dump_spec(load_spec(spec_file, overrides or [])), end="", highlight=False, markup=False)


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON Schema of the spec."""
    console.print_json(json.dumps(RunSpec.model_json_schema()))


def main() -> None:
    """Console-script entry point."""
    app()
