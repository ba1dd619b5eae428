"""`recdiff data ...`: fetch named datasets, describe interaction files, prepare a spec's data."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Fetch, describe and prepare interaction data.", no_args_is_help=True)
