"""`recdiff serve`: a trained run behind an HTTP JSON API (the `serve` extra: FastAPI and uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from recdiff.cli.common import CheckpointChoice, CodeOption, InferenceSetOption, console, friendly_errors, import_code_files

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@friendly_errors
def serve(
    run_dir: Path = typer.Argument(..., help="A run directory written by `recdiff train`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    checkpoint: CheckpointChoice = typer.Option(CheckpointChoice.best, "--checkpoint", help="Which saved weights."),
    overrides: list[str] | None = InferenceSetOption,
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1... (default: the run's train.device)."),
    max_k: int = typer.Option(100, "--max-k", help="Largest k a request may ask for."),
    max_history: int = typer.Option(1000, "--max-history", help="Longest history a request may send."),
    max_batch: int = typer.Option(64, "--max-batch", help="Most requests answered by one forward pass."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", help="How long a request waits for others to share its pass."),
    code: list[Path] | None = CodeOption,
) -> None:
    """Serve a run's recommendations over HTTP: POST /recommend, GET /health, GET /metadata.

    Requests arriving together share one forward pass (micro-batching). Items are the data's
    own ids; seen items are excluded unless a request sends "exclude_seen": false."""
    from recdiff.errors import RunError

    try:
        import uvicorn

        from recdiff.serving.http import Limits, create_app
    except ImportError as error:
        raise RunError(
            f"`recdiff serve` needs the serve extra ({error.name} is not installed): "
            f'pip install -e ".[serve]" in your recdiff checkout.'
        ) from None
    from recdiff.serving.predictor import Predictor
    from recdiff.version import __version__

    if max_k < 1 or max_history < 1 or max_batch < 1 or max_wait_ms < 0:
        raise RunError("--max-k, --max-history and --max-batch must be at least 1, and --max-wait-ms at least 0.")
    import_code_files(code)
    predictor = Predictor.from_run(run_dir, checkpoint.value, overrides or [], device)
    spec = predictor.spec
    metadata = {
        "run": str(run_dir), "name": spec.name, "checkpoint": checkpoint.value, "recdiff_version": __version__,
        "architecture": spec.model.architecture.name, "sampler": spec.model.sampler.name, "ensemble": spec.eval.ensemble,
        "num_items": predictor.vocab.num_items, "max_len": spec.data.max_len, "device": str(predictor.device),
    }
    app = create_app(predictor, metadata, Limits(max_history, min(max_k, predictor.vocab.num_items), max_batch, max_wait_ms))
    if host not in LOOPBACK:
        console.print(
            f"[yellow]warning:[/] listening on {host}: the API has no authentication; put it behind a proxy that has.",
            highlight=False,
        )
    console.print(f"serving {run_dir} ({checkpoint.value} checkpoint) on http://{host}:{port}", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
