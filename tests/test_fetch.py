"""Tests of downloading named datasets, against an HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import assert_clean_failure, flat, invoke
from rich.console import Console

from recdiff.data import read_interactions
from recdiff.data.datasets import DatasetRecipe, convert_diffurec_pickle
from recdiff.data.fetch import dataset_file, download_path, fetch_recipe, inter_path
from recdiff.errors import DataError
from recdiff.registry import Entry, NoParams, registry
from recdiff.spec.models import DataSpec

SEQUENCES = {1: [1, 2, 3, 4], 2: [2, 3, 5], 3: [4, 1, 2, 3, 5]}
RELEASED = pickle.dumps(
    {
        "train": {user: seq[:-2] for user, seq in SEQUENCES.items()},
        "val": {user: [seq[-2]] for user, seq in SEQUENCES.items()},
        "test": {user: [seq[-1]] for user, seq in SEQUENCES.items()},
        "umap": {},
        "smap": {},
    }
)


@dataclass
class Route:
    """What the server answers on one path: a status, a body and optionally a false Content-Length."""

    body: bytes
    status: int = 200
    length: int | None = None


@dataclass
class Server:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def serve(self, path: str, body: bytes, **kwargs: int) -> str:
        """Publish ``body`` at ``path``; returns its URL."""
        self.routes[path] = Route(body, **kwargs)
        return self.base + path


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state.hits[self.path] += 1
            route = state.routes.get(self.path, Route(b"not found", status=404))
            self.send_response(route.status)
            self.send_header("Content-Length", str(route.length if route.length is not None else len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECDIFF_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def recipe_for(url: str, body: bytes, **changes: object) -> DatasetRecipe:
    recipe = DatasetRecipe(
        name="tiny",
        url=url,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        filename="tiny.pkl",
        convert=convert_diffurec_pickle,
        preprocessed=True,
        description="A tiny DiffuRec-format test set.",
    )
    return replace(recipe, **changes)


def finished_files(home: Path) -> list[str]:
    """Every file in RECDIFF_HOME, relative to it."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def assert_nothing_finished(home: Path) -> None:
    assert not inter_path("tiny").exists()
    assert finished_files(home) == []


def test_good_download_is_converted_once_and_reused(server: Server, home: Path) -> None:
    url = server.serve("/tiny.pkl", RELEASED)
    recipe = recipe_for(url, RELEASED)
    path = fetch_recipe(recipe)
    assert path == home / "datasets" / "tiny" / "tiny.inter"
    frame = read_interactions(DataSpec(path=path))
    assert (frame["user"].nunique(), frame["item"].nunique(), len(frame)) == (3, 5, 12)
    assert finished_files(home) == ["datasets/tiny/tiny.inter", "downloads/tiny.pkl"]
    assert fetch_recipe(recipe) == path
    path.unlink()
    assert fetch_recipe(recipe) == path, "the verified download is converted again without a transfer"
    assert server.hits["/tiny.pkl"] == 1
    fetch_recipe(recipe, force=True)
    assert server.hits["/tiny.pkl"] == 2


def test_wrong_checksum_leaves_nothing_that_looks_finished(server: Server, home: Path) -> None:
    url = server.serve("/tiny.pkl", RELEASED)
    with pytest.raises(DataError, match="has sha256 .* not 0000") as error:
        fetch_recipe(recipe_for(url, RELEASED, sha256="0" * 64))
    assert str(download_path(recipe_for(url, RELEASED))) in str(error.value) and url in str(error.value)
    assert_nothing_finished(home)
    with pytest.raises(DataError, match=r"is [\d,]+ bytes, not [\d,]+"):
        fetch_recipe(recipe_for(url, RELEASED, size=len(RELEASED) + 1))
    assert_nothing_finished(home)


def test_truncated_transfer_is_a_data_error(server: Server, home: Path) -> None:
    url = server.serve("/cut.pkl", RELEASED[:100], length=len(RELEASED))
    with pytest.raises(DataError, match=f"stopped after 100 of {len(RELEASED):,} bytes|transfer failed"):
        fetch_recipe(recipe_for(url, RELEASED))
    assert_nothing_finished(home)


def test_server_error_names_the_url_and_where_to_put_the_file(server: Server, home: Path) -> None:
    url = server.serve("/broken.pkl", b"oops", status=500)
    with pytest.raises(DataError) as error:
        fetch_recipe(recipe_for(url, RELEASED))
    message = str(error.value)
    assert "HTTP 500" in message and url in message
    assert str(home / "downloads" / "tiny.pkl") in message
    assert_nothing_finished(home)


def test_unreachable_server_is_a_data_error(home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tiny.pkl"
    with pytest.raises(DataError, match="could not be reached.*save the file as"):
        fetch_recipe(recipe_for(url, RELEASED), timeout=5)
    assert_nothing_finished(home)


def test_a_file_placed_by_hand_is_verified_and_used(server: Server, home: Path) -> None:
    recipe = recipe_for(server.base + "/missing.pkl", RELEASED)
    placed = download_path(recipe)
    placed.parent.mkdir(parents=True)
    placed.write_bytes(RELEASED[:-1] + b"X")
    with pytest.raises(DataError, match="Delete it .* download"):
        fetch_recipe(recipe)
    assert placed.is_file(), "a user's file is reported, never deleted"
    placed.write_bytes(RELEASED)
    assert fetch_recipe(recipe).is_file()
    assert server.hits["/missing.pkl"] == 0


def test_download_switched_off_says_how_to_fetch(server: Server, home: Path) -> None:
    with pytest.raises(DataError, match="recdiff data fetch tiny"):
        fetch_recipe(recipe_for(server.serve("/tiny.pkl", RELEASED), RELEASED), download=False)
    assert server.hits["/tiny.pkl"] == 0


def test_verified_pickle_that_needs_globals_is_still_refused(server: Server, home: Path) -> None:
    evil = pickle.dumps({"train": {1: [1, 2]}, "val": {1: os.getcwd}, "test": {}})
    with pytest.raises(DataError, match="not a plain-data pickle"):
        fetch_recipe(recipe_for(server.serve("/evil.pkl", evil), evil))
    assert not inter_path("tiny").exists()
    assert [p.name for p in inter_path("tiny").parent.iterdir()] == [], "no temporary file is left behind"


def test_failed_conversion_leaves_no_inter_file(server: Server, home: Path) -> None:
    def failing(source: Path, target: Path) -> None:
        target.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t")
        raise DataError("broken on purpose")

    with pytest.raises(DataError, match="broken on purpose"):
        fetch_recipe(recipe_for(server.serve("/tiny.pkl", RELEASED), RELEASED, convert=failing))
    assert finished_files(home) == ["downloads/tiny.pkl"]


def test_unpinned_download_prints_its_size_and_sha256(
    server: Server, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    digest = hashlib.sha256(RELEASED).hexdigest()
    recipe = recipe_for(server.serve("/tiny.pkl", RELEASED), RELEASED, size=None, sha256=None)
    output = io.StringIO()
    fetch_recipe(recipe, console=Console(file=output, width=400))
    assert digest in output.getvalue() and f"size={len(RELEASED)}" in output.getvalue()
    with caplog.at_level(logging.WARNING, logger="recdiff.data.fetch"):
        fetch_recipe(recipe, force=True)
    assert digest in caplog.text


@pytest.fixture
def tiny_entry(server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the tiny recipe as dataset 'tiny' for this test only."""
    recipe = recipe_for(server.serve("/tiny.pkl", RELEASED), RELEASED)
    datasets = registry("dataset")
    datasets.names()  # load the built-ins first
    entry = Entry("dataset", "tiny", lambda: recipe, NoParams, "tests")
    monkeypatch.setitem(datasets._entries, "tiny", entry)
    return "tiny"


def test_dataset_file_and_cli_fetch_by_name(tiny_entry: str, home: Path) -> None:
    result = invoke("data", "fetch", tiny_entry)
    assert result.exit_code == 0, result.output
    assert str(inter_path("tiny")) in result.output and "data: {name: tiny}" in result.output
    assert dataset_file("tiny", download=False) == inter_path("tiny")
    listing = invoke("data", "fetch", "--list")
    assert listing.exit_code == 0 and "tiny" in listing.output and "beauty" in listing.output


def test_cli_fetch_errors_are_clean(home: Path) -> None:
    assert "Did you mean 'beauty'" in assert_clean_failure(invoke("data", "fetch", "beuaty"))
    assert "--list" in assert_clean_failure(invoke("data", "fetch"))


def test_plugins_lists_the_dataset_kind() -> None:
    result = invoke("plugins", "dataset")
    assert result.exit_code == 0
    for name in ("beauty", "toys", "ml-1m", "ml-1m-raw"):
        assert name in result.output


def test_fetch_from_a_local_copy_verifies_copies_and_converts(tiny_entry: str, home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "release.pkl"
    copy.write_bytes(RELEASED)
    result = invoke("data", "fetch", tiny_entry, "--from", copy)
    assert result.exit_code == 0, result.output
    assert finished_files(home) == ["datasets/tiny/tiny.inter", "downloads/tiny.pkl"]
    assert download_path(get_recipe_tiny()).read_bytes() == RELEASED
    frame = read_interactions(DataSpec(path=inter_path("tiny")))
    assert (frame["user"].nunique(), len(frame)) == (3, 12)
    assert copy.read_bytes() == RELEASED, "the user's file is read, never moved"


def test_fetch_from_a_wrong_file_keeps_nothing(tiny_entry: str, home: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "other.pkl"
    wrong.write_bytes(RELEASED[:-1] + b"X")
    message = flat(assert_clean_failure(invoke("data", "fetch", tiny_entry, "--from", wrong)))
    assert "sha256" in message and "Nothing was copied" in message
    assert_nothing_finished(home)
    assert wrong.is_file()


def test_fetch_from_a_missing_file_says_what_to_give(tiny_entry: str, home: Path, tmp_path: Path) -> None:
    message = flat(assert_clean_failure(invoke("data", "fetch", tiny_entry, "--from", tmp_path / "absent.pkl")))
    assert "absent.pkl" in message and "does not exist" in message and "tiny.pkl" in message
    assert_nothing_finished(home)


def get_recipe_tiny() -> DatasetRecipe:
    from recdiff.data.datasets import get_recipe

    return get_recipe("tiny")
