"""Download, verify and convert named datasets into RECDIFF_HOME.

Layout: ``RECDIFF_HOME/downloads/<filename>`` holds each verified download and
``RECDIFF_HOME/datasets/<name>/<name>.inter`` its conversion. Both appear only by an atomic
rename of a finished file, so an interrupted download or conversion never looks finished:
the transfer goes to ``<filename>.part`` and is renamed after its size and sha256 check out,
and the conversion is written to a hidden temporary file beside the target. A download
already in place with the right checksum is reused, which is also how a user without
internet access supplies it by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from recdiff.data.datasets import DatasetRecipe, get_recipe
from recdiff.data.home import make_folder, recdiff_home
from recdiff.errors import DataError, describe

TIMEOUT = 60.0
"""Seconds a connection may stay silent before the download is given up."""
CHUNK = 1 << 16

log = logging.getLogger(__name__)


def dataset_file(
    name: str,
    *,
    download: bool = True,
    force: bool = False,
    console: Console | None = None,
    source: Path | None = None,
) -> Path:
    """The `.inter` file of the named dataset, fetched and converted first when missing.

    Args:
        name: A ``dataset`` registry name (`recdiff plugins dataset`).
        download: Whether a missing download may be fetched from the internet.
        force: Download and convert again even when the files exist.
        console: Where to show progress; quiet when None.
        source: A local copy of the download (for machines without internet): verified
            against the recipe's size and sha256, copied into RECDIFF_HOME and converted
            exactly as a download would be; it replaces any earlier download and conversion.

    Raises:
        RegistryError: The name is unknown (the message lists the known names).
        DataError: The download failed or does not match its checksum, or conversion failed.
    """
    recipe = get_recipe(name)
    if source is not None:
        import_download(recipe, source)
        force = True
    return fetch_recipe(recipe, download=download, force=force, console=console, keep_download=source is not None)


def import_download(recipe: DatasetRecipe, source: Path) -> Path:
    """Verify a local copy of ``recipe``'s download and put it where a download would go.

    The copy is written beside the target and renamed into place only after it is complete,
    and only a file whose size and sha256 match the recipe's pins gets there.
    """
    if not source.is_file():
        raise DataError(
            f"'{source}' does not exist or is not a file, so dataset '{recipe.name}' cannot be taken from it. Give "
            f"the path of the downloaded {recipe.filename} (from {recipe.url})."
        )
    size, digest = _file_digest(source)
    _check(recipe, size, digest, f"The file '{source}'", "Nothing was copied. Give the right file, or")
    final = download_path(recipe)
    if final.is_file() and final.resolve() == source.resolve():
        return final
    make_folder(final.parent)
    part = final.with_name(f".{final.name}.{os.getpid()}.part")
    try:
        shutil.copyfile(source, part)
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    return final


def inter_path(name: str) -> Path:
    """Where the converted `.inter` file of dataset ``name`` lives."""
    return recdiff_home() / "datasets" / name / f"{name}.inter"


def download_path(recipe: DatasetRecipe) -> Path:
    """Where the verified download of ``recipe`` lives (and where to put it by hand)."""
    return recdiff_home() / "downloads" / recipe.filename


def fetch_recipe(
    recipe: DatasetRecipe,
    *,
    download: bool = True,
    force: bool = False,
    console: Console | None = None,
    timeout: float = TIMEOUT,
    keep_download: bool = False,
) -> Path:
    """Make sure ``recipe``'s `.inter` file exists (download, verify, convert) and return it.

    ``force`` converts again and, unless ``keep_download``, downloads again too.
    """
    target = inter_path(recipe.name)
    if target.is_file() and not force:
        return target
    source = ensure_download(
        recipe, download=download, force=force and not keep_download, console=console, timeout=timeout
    )
    _convert(recipe, source, target, console)
    return target


def ensure_download(
    recipe: DatasetRecipe,
    *,
    download: bool = True,
    force: bool = False,
    console: Console | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """The verified download of ``recipe``: the file already in place, or a fresh transfer."""
    final = download_path(recipe)
    if final.is_file() and not force:
        size, digest = _file_digest(final)
        _check(recipe, size, digest, f"The file '{final}'", "Delete it (or use --force) to download it again, or")
        return final
    if not download:
        raise DataError(
            f"Dataset '{recipe.name}' has not been fetched and downloading is switched off. Run "
            f"`recdiff data fetch {recipe.name}`, or download {recipe.url} yourself and save it as '{final}'."
        )
    _download(recipe, final, console, timeout)
    return final


def _download(recipe: DatasetRecipe, final: Path, console: Console | None, timeout: float) -> None:
    """Stream ``recipe.url`` to ``<final>.part``, verify it, then rename it to ``final``."""
    part = final.with_name(final.name + ".part")
    make_folder(part.parent)
    digest, received, finished = hashlib.sha256(), 0, False
    request = urllib.request.Request(recipe.url, headers={"User-Agent": "recdiff"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, part.open("wb") as out:
            announced = _content_length(response)
            with _progress(console, recipe.name, announced or recipe.size) as advance:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    advance(len(chunk))
        if announced is not None and received != announced:
            raise _failed(recipe, final, f"the transfer stopped after {received:,} of {announced:,} bytes")
        _check(recipe, received, digest.hexdigest(), f"The download of {recipe.url}", "It was deleted. Try again, or")
        os.replace(part, final)
        finished = True
    except urllib.error.HTTPError as error:
        raise _failed(recipe, final, f"the server answered HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _failed(recipe, final, f"the server could not be reached ({error.reason})") from None
    except (OSError, http.client.HTTPException) as error:
        raise _failed(recipe, final, f"the transfer failed ({describe(error)})") from None
    finally:
        if not finished:
            part.unlink(missing_ok=True)
    _report_unpinned(recipe, received, digest.hexdigest(), console)


def _check(recipe: DatasetRecipe, size: int, digest: str, what: str, remedy: str) -> None:
    """Compare a file's size and sha256 with the recipe's pins (unpinned values always pass)."""
    wrong = []
    if recipe.size is not None and size != recipe.size:
        wrong.append(f"is {size:,} bytes, not {recipe.size:,}")
    if recipe.sha256 is not None and digest != recipe.sha256.lower():
        wrong.append(f"has sha256 {digest}, not {recipe.sha256}")
    if wrong:
        raise DataError(
            f"{what} (dataset '{recipe.name}') {' and '.join(wrong)}: it is incomplete, corrupt or not the "
            f"published file. {remedy} download {recipe.url} yourself and save it as '{download_path(recipe)}'."
        )


def _failed(recipe: DatasetRecipe, final: Path, what: str) -> DataError:
    return DataError(
        f"Downloading dataset '{recipe.name}' from {recipe.url} failed: {what}. Nothing was kept. Check the "
        f"connection and try again, or, without internet access, download that address on another machine "
        f"and save the file as '{final}'; it is then verified and used."
    )


def _report_unpinned(recipe: DatasetRecipe, size: int, digest: str, console: Console | None) -> None:
    """Print a fresh unpinned download's size and sha256, so the recipe can pin them."""
    if recipe.sha256 is not None and recipe.size is not None:
        return
    message = (
        f"dataset '{recipe.name}': downloaded {size:,} bytes with sha256 {digest}. Its recipe does not pin a "
        f"checksum; compare these with the publisher's and pin them (size={size}, sha256=\"{digest}\")."
    )
    if console is not None:
        console.print(f"[yellow]note:[/] {message}", highlight=False)
    else:
        log.warning(message)


def _convert(recipe: DatasetRecipe, source: Path, target: Path, console: Console | None) -> None:
    """Run the recipe's converter into a hidden temporary file, then rename it into place."""
    make_folder(target.parent)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if console is not None:
        console.print(f"converting {source.name} -> {target}", highlight=False)
    try:
        recipe.convert(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _file_digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


@contextmanager
def _progress(console: Console | None, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A callable advancing a rich progress bar by a number of bytes; does nothing without a console."""
    if console is None:
        yield lambda _: None
        return
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=total)
        yield lambda count: progress.advance(task, count)
