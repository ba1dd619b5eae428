"""`recdiff recommend`: a trained run's top-k items for users' histories, read and written in the data's own ids."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from recdiff.cli.common import CheckpointChoice, CodeOption, InferenceSetOption, console, friendly_errors, import_code_files
from recdiff.progress import Reporter


@friendly_errors
def recommend(
    run_dir: Path = typer.Argument(..., help="A run directory written by `recdiff train`."),
    input_file: Path = typer.Option(
        ..., "--input", help="Histories: .jsonl ({\"user\": ..., \"history\": [...]} per line), or .csv, .tsv or "
        ".inter rows of user, item[, time], columns named as in the training data."
    ),
    out: Path = typer.Option(..., "--out", help="Recommendations: .jsonl, .csv or .parquet."),
    k: int = typer.Option(10, "--k", help="Items per user."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Also recommend items of the user's history."),
    checkpoint: CheckpointChoice = typer.Option(CheckpointChoice.best, "--checkpoint", help="Which saved weights."),
    overrides: list[str] | None = InferenceSetOption,
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1... (default: the run's train.device)."),
    batch_size: int = typer.Option(256, "--batch-size", help="Users run through the model at once."),
    code: list[Path] | None = CodeOption,
) -> None:
    """Recommend k items to each user of a histories file, in the data's own ids, without the training data.

    Items the user has seen are left out unless --include-seen; ids the run does not know are
    skipped and counted."""
    from recdiff.serving.histories import read_histories
    from recdiff.serving.output import check_output, recommendation_writer
    from recdiff.serving.predictor import Predictor

    import_code_files(code)
    started = time.perf_counter()
    check_output(out)
    predictor = Predictor.from_run(run_dir, checkpoint.value, overrides or [], device)
    found = read_histories(input_file, predictor.spec.data)
    unknown = 0
    batches = -(-len(found) // batch_size)
    with recommendation_writer(out) as writer, Reporter(console).task("recommend", batches) as progress:
        for start in range(0, len(found), batch_size):
            part = slice(start, start + batch_size)
            results = predictor.recommend(found.histories[part], k, not include_seen, batch_size)
            writer.write(found.users[part], results)
            unknown += sum(r.unknown for r in results)
            progress.advance(f"{min(start + batch_size, len(found)):,} users")
    seen = "seen items included" if include_seen else "seen items excluded"
    console.print(
        f"{len(found):,} users, top {k} each ({seen}), {unknown:,} unknown item ids skipped, "
        f"{time.perf_counter() - started:.1f} s → {out}",
        highlight=False,
    )
