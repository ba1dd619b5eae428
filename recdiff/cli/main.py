"""The `recdiff` command: thin typer commands over library functions."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from recdiff import jsontext
from recdiff.cli.common import (
    CheckpointChoice,
    CodeOption,
    DeviceOption,
    InferenceSetOption,
    SetOption,
    SplitChoice,
    console,
    error_console,
    friendly_errors,
    import_code_files,
    metric_names,
    metrics_table,
    with_device,
)
from recdiff.cli.data import data_app
from recdiff.cli.recommend import recommend
from recdiff.cli.serve import serve
from recdiff.errors import RecdiffError
from recdiff.registry import REGISTRIES, registry
from recdiff.spec import RunSpec, dump_spec, load_spec
from recdiff.version import __version__

app = typer.Typer(
    help="Diffusion-based sequential recommendation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
spec_app = typer.Typer(help="Check, show and describe specs.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    """Eager `--version`: print and stop before any command is looked for."""
    if value:
        typer.echo(f"recdiff {__version__}")
        raise typer.Exit()


DATA_PARALLEL = ("train", "evaluate")
"""The commands that torchrun may start as several processes (they shard their work and rank 0 reports)."""


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print recdiff's version and exit."
    ),
) -> None:
    """Diffusion-based sequential recommendation."""
    from recdiff.distributed import launched, launched_rank

    console.quiet = launched_rank() != 0  # under torchrun rank 0 alone reports
    if launched() and ctx.invoked_subcommand not in DATA_PARALLEL:
        error_console.print(
            f"[bold red]error:[/] `recdiff {ctx.invoked_subcommand}` was started by torchrun as one of several "
            f"processes, but only {' and '.join(f'`{name}`' for name in DATA_PARALLEL)} share their work across "
            f"processes; the others would each do all of it. Run `recdiff {ctx.invoked_subcommand}` as one process "
            f"(without torchrun).",
            highlight=False,
        )
        raise typer.Exit(2)


@app.command()
@friendly_errors
def train(
    spec_file: Path | None = typer.Argument(None, help="YAML spec, e.g. examples/quickstart.yaml."),
    overrides: list[str] | None = SetOption,
    out: Path | None = typer.Option(None, "--out", help="Run directory (default runs/<time>-<name>/)."),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue this interrupted run directory from its last finished epoch (no SPEC)."
    ),
    code: list[Path] | None = CodeOption,
    device: str | None = DeviceOption,
) -> None:
    """Train the model a spec describes and report test metrics of its best checkpoint (or resume a run)."""
    from recdiff.errors import RunError
    from recdiff.training.trainer import resume as resume_training
    from recdiff.training.trainer import train as run_training

    import_code_files(code)
    if resume is not None:
        if spec_file is not None or overrides or out is not None or device is not None:
            raise RunError(
                "--resume continues a run with the spec saved in its directory, on the device it names; drop SPEC, "
                "--set, --out and --device (or train a new run without --resume)."
            )
        result = resume_training(resume, console)
        name = result.run_dir.name
    else:
        if spec_file is None:
            raise RunError("Give a spec to train (`recdiff train SPEC`) or a run to resume (`recdiff train --resume RUN_DIR`).")
        spec = load_spec(spec_file, with_device(overrides, device))
        result = run_training(spec, out, console)
        name = spec.name
    rows = {name: result.test, "popularity": result.popularity["test"]}
    tested = result.tested
    console.print(metrics_table(f"test metrics, full ranking ({tested['checkpoint']} epoch {tested['epoch']})", rows))
    console.print(f"run directory: {result.run_dir}")




@app.command()
@friendly_errors
def evaluate(
    run_dirs: list[Path] = typer.Argument(
        ..., help="A run directory written by `recdiff train`; several are evaluated as one ensemble."
    ),
    split: SplitChoice = typer.Option(SplitChoice.test, "--split", help="The held-out targets to rank."),
    checkpoint: CheckpointChoice = typer.Option(CheckpointChoice.best, "--checkpoint", help="Which saved weights."),
    overrides: list[str] | None = InferenceSetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics (and the seconds taken) as one JSON object."),
    code: list[Path] | None = CodeOption,
    device: str | None = DeviceOption,
) -> None:
    """Re-evaluate a saved run on the validation or test split, optionally with another sampler or precision.

    Given several runs trained on the same data (say, other seeds), users get the mean of the
    models' softmax distributions over all items: an ensemble. Under torchrun the processes
    share the batches and rank 0 prints the metrics."""
    from recdiff.training.restore import evaluate_run

    import_code_files(code)
    started = time.perf_counter()
    progress = None if console.quiet else error_console if as_json else console
    metrics = evaluate_run(run_dirs, split.value, checkpoint.value, with_device(overrides, device), progress)
    seconds = time.perf_counter() - started
    if as_json:
        console.print_json(jsontext.dumps({**metrics, "seconds": seconds}))
    else:
        title = str(run_dirs[0]) if len(run_dirs) == 1 else f"ensemble of {len(run_dirs)} runs"
        console.print(metrics_table(f"{title} ({checkpoint.value} checkpoint)", {split.value: metrics}))
        console.print(f"evaluated in {seconds:.1f} s (data loading included)", highlight=False)


app.command()(recommend)
app.command()(serve)


@app.command()
@friendly_errors
def repeat(
    spec_file: Path = typer.Argument(..., help="YAML spec to train with several seeds."),
    seeds: int = typer.Option(5, "--seeds", help="Number of seeds: spec.seed, spec.seed + 1, ..."),
    overrides: list[str] | None = SetOption,
    out: Path | None = typer.Option(None, "--out", help="Group directory (default runs/<name>-seeds/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    rerun_changed: bool = typer.Option(
        False, "--rerun-changed", help="Move aside runs in --out trained with another spec and train those seeds again."
    ),
    code: list[Path] | None = CodeOption,
) -> None:
    """Train a spec over several seeds (finished seeds are kept, interrupted ones resumed); report mean ± std.

    Runs in the group directory trained with another spec are refused (or, with
    --rerun-changed, moved aside), so a group never mixes two configurations."""
    from recdiff.training.repeat import run_group, summary_record

    import_code_files(code)
    spec = load_spec(spec_file, overrides or [])
    group = run_group(spec, seeds, out, console, rerun_changed)
    if as_json:
        console.print_json(jsontext.dumps(summary_record(group)))
        return
    table = Table(title=f"{group.name}: test metrics over seeds {sorted(group.runs)} (mean ± std)")
    table.add_column("metric")
    table.add_column("mean ± std", justify="right")
    for metric, (mean, std) in group.summary().items():
        table.add_row(metric.upper(), f"{mean:.4f} ± {std:.4f}")
    console.print(table)
    console.print(f"group directory: {group.path}", highlight=False)


@app.command()
@friendly_errors
def compare(
    group_a: Path = typer.Argument(..., help="Group directory written by `recdiff repeat` (the baseline)."),
    group_b: Path = typer.Argument(..., help="Group directory to compare with it."),
    metric: list[str] | None = typer.Option(
        None, "--metric", callback=metric_names, help="Only this metric, in any case (hit@10 = hr@10; repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as one JSON object."),
) -> None:
    """Mean ± std of two run groups per test metric, with paired t-test p-values (runs paired by seed).

    t and p are shown as n/a, with a warning, for fewer than three shared seeds or differences
    that do not vary from seed to seed."""
    from recdiff.training.repeat import compare_groups, load_group

    a, b = load_group(group_a), load_group(group_b)
    tests = compare_groups(a, b, metrics=metric or None)
    summary_a, summary_b = a.summary(), b.summary()
    if as_json:
        console.print_json(jsontext.dumps({
            "a": {"path": str(a.path), "name": a.name, "seeds": sorted(a.runs)},
            "b": {"path": str(b.path), "name": b.name, "seeds": sorted(b.runs)},
            "metrics": {m: {"a_mean": summary_a[m][0], "a_std": summary_a[m][1], "b_mean": summary_b[m][0],
                            "b_std": summary_b[m][1], "difference": t.mean_difference, "t": t.t, "df": t.df,
                            "p": t.p, "undefined": t.undefined} for m, t in tests.items()},
        }))
    else:
        table = Table(title=f"{b.name} against {a.name}: paired t-test over shared seeds")
        for column in ("metric", f"A: {a.name}", f"B: {b.name}", "B - A", "t", "p"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for name, t in tests.items():
            table.add_row(
                name.upper(), f"{summary_a[name][0]:.4f} ± {summary_a[name][1]:.4f}",
                f"{summary_b[name][0]:.4f} ± {summary_b[name][1]:.4f}", f"{t.mean_difference:+.4f}",
                "n/a" if t.t is None else f"{t.t:.2f}", "n/a" if t.p is None else f"{t.p:.4f}",
            )
        console.print(table)
    reasons = {t.undefined: [m for m, u in tests.items() if u.undefined == t.undefined] for t in tests.values() if t.undefined}
    for reason, names in reasons.items():
        error_console.print(
            f"[bold yellow]warning:[/] t and p are n/a for {escape(', '.join(names))}: {escape(reason)}. Train more "
            f"seeds of both (`recdiff repeat SPEC --seeds 5 --out GROUP` keeps the finished ones).", highlight=False
        )


@app.command()
@friendly_errors
def analyze(
    run_dir: Path = typer.Argument(..., help="A run directory written by `recdiff train`."),
    split: SplitChoice = typer.Option(SplitChoice.test, "--split", help="The held-out targets to rank."),
    checkpoint: CheckpointChoice = typer.Option(CheckpointChoice.best, "--checkpoint", help="Which saved weights."),
    out: Path | None = typer.Option(None, "--out", help="Folder for analysis.json and the PNGs (default RUN_DIR/analysis)."),
    points: int = typer.Option(3000, "--points", help="Representations drawn in the projection (a seeded sample)."),
    plots: bool = typer.Option(
        True, "--plots/--no-plots",
        help="Write the PNG figures (needs matplotlib: pip install -e \".\\[plot]\" in a source checkout).",
    ),
    overrides: list[str] | None = InferenceSetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the group metrics as one JSON object."),
    code: list[Path] | None = CodeOption,
) -> None:
    """Metrics of head vs long-tail targets and of five history-length groups, with bar and projection PNGs."""
    from recdiff.training.restore import analyze_run

    import_code_files(code)
    progress = error_console if as_json else console
    report = analyze_run(run_dir, split.value, checkpoint.value, out, points, plots, overrides or [], progress)
    if as_json:
        console.print_json(jsontext.dumps(report))
        return
    for grouping, rows in report["groups"].items():
        metrics = {f"{row['group']} (n={row['count']:,})": {k: v for k, v in row.items() if k not in ("group", "count")}
                   for row in rows if row["count"]}
        console.print(metrics_table(f"{run_dir}: {split.value} metrics by {grouping}", metrics))
    for name, path in report["files"].items():
        console.print(f"{name}: {path}", highlight=False)


@app.command()
@friendly_errors
def plugins(
    kind: str | None = typer.Argument(None, help="Only this component kind."),
    check: bool = typer.Option(False, "--check", help="Exit with code 1 if any plugin fails to load (for plugin CI)."),
) -> None:
    """List registered components (name, kind, origin, description) and installed plugins."""
    from recdiff.registry import plugins as plugin_loader

    kinds = [registry(kind).kind] if kind else list(REGISTRIES)
    table = Table(title="recdiff components")
    for column in ("name", "kind", "origin", "description"):
        table.add_column(column)
    for k in kinds:
        reg = registry(k)
        for entry in reg.entries():
            table.add_row(entry.name, entry.kind, escape(entry.origin), escape(entry.summary))
        for name, origins in reg.conflicts().items():
            table.add_row(name, k, "[red]conflict[/]: " + escape(", ".join(origins)), "unusable until one is removed")
    console.print(table)
    if plugin_loader.autoload_disabled():
        console.print(f"plugin autoloading is off ({plugin_loader.DISABLE_ENV} is set)")
    elif plugin_loader.STATUS:
        found = Table(title="plugins (entry-point group recdiff.plugins)")
        for column in ("distribution", "entry point", "status"):
            found.add_column(column)
        for status in plugin_loader.STATUS:
            state = "[green]ok[/]" if status.ok else f"[red]broken[/]: {escape(status.error)}"
            found.add_row(escape(status.plugin.origin), escape(f"{status.plugin.name} = {status.plugin.target}"), state)
        console.print(found)
    broken = [status for status in plugin_loader.STATUS if not status.ok]
    if check and broken:
        names = ", ".join(status.plugin.origin for status in broken)
        raise RecdiffError(f"{len(broken)} plugin(s) failed to load: {names}. See the table above for each error.")


@spec_app.command("validate")
@friendly_errors
def spec_validate(
    spec_file: Path, overrides: list[str] | None = SetOption, code: list[Path] | None = CodeOption
) -> None:
    """Check a spec (fields, types, component names and params) without running anything."""
    import_code_files(code)
    load_spec(spec_file, overrides or [])
    console.print(f"[green]ok[/]: {spec_file} is a valid spec")


@spec_app.command("show")
@friendly_errors
def spec_show(
    spec_file: Path, overrides: list[str] | None = SetOption, code: list[Path] | None = CodeOption
) -> None:
    """Print the fully resolved spec: preset expanded, defaults filled in."""
    import_code_files(code)
    console.print(dump_spec(load_spec(spec_file, overrides or [])), end="", highlight=False, markup=False)


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON Schema of the spec."""
    console.print_json(jsontext.dumps(RunSpec.model_json_schema()))


def main() -> None:
    """Console-script entry point."""
    app()
