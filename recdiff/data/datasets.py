"""Named datasets: where each is published, how to check the download, how to turn it into `.inter`.

Each recipe is a ``dataset`` registry entry, so a spec can say ``data: {name: beauty}`` and a
plugin can add datasets the same way it adds components. `recdiff.data.fetch` downloads,
verifies and converts; this module only describes.

The three benchmark sets are the files the DiffuRec and DiffuRecSys papers evaluated on,
as released (already filtered) in the DiffuRec repository: training on them reproduces the
papers' setting exactly, which rebuilding from the originals would not guarantee. The raw
originals have recipes too, for users who want to preprocess themselves; their checksums
are not pinned because nobody here has verified them.
"""

from __future__ import annotations

import csv
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recdiff.data.importers import read_amazon_ratings, read_ml_ratings
from recdiff.errors import DataError, describe
from recdiff.registry import datasets as registry

INTER_HEADER = ("user_id:token", "item_id:token", "timestamp:float")
"""Columns of a converted released set (its timestamps are positions 0, 1, 2, ...)."""
RAW_INTER_HEADER = ("user_id:token", "item_id:token", "rating:float", "timestamp:float")
"""Columns of a converted raw original (ratings kept, so `min_rating` can use them)."""


@dataclass(frozen=True)
class DatasetRecipe:
    """Where a named dataset is downloaded from and how it becomes a RecBole `.inter` file.

    Attributes:
        name: Registered name, also the name of its folder and file in RECDIFF_HOME.
        url: Public download address.
        size: Expected size in bytes, or None when not pinned.
        sha256: Expected SHA-256 (hex) of the download, or None when not pinned; the first
            download of an unpinned file prints both so they can be pinned.
        filename: Name of the download in RECDIFF_HOME/downloads (unique per recipe).
        convert: ``convert(download, inter)`` writes the `.inter` file; raises DataError on a
            malformed download.
        preprocessed: True for released, already filtered sets used as released (k-core is
            skipped unless the spec sets it explicitly); False for raw originals.
        description: One line for listings.
    """

    name: str
    url: str
    size: int | None
    sha256: str | None
    filename: str
    convert: Callable[[Path, Path], None]
    preprocessed: bool
    description: str


# --------------------------------------------------------------------------- DiffuRec pickles


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain values: dicts, lists, tuples, sets, numbers, strings.

    A pickle runs code when a global (a function or class) is looked up and called while
    loading; every such look-up goes through `find_class`, and here it always fails. The
    opcodes that build containers, ints and strings need no globals, so the DiffuRec files
    load unchanged, while a file carrying ``os.system`` or any class is refused before
    anything is called. Persistent ids are refused by the base class already.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a dataset pickle")


def load_plain_pickle(path: Path) -> Any:
    """Load ``path`` with `PlainUnpickler`; any refusal or corruption is a DataError.

    Call it only on a file whose checksum was verified: refusing globals stops code from
    running, but a checksum is what says the data is the published data.
    """
    try:
        with path.open("rb") as stream:
            return PlainUnpickler(stream).load()
    except Exception as error:  # corrupt pickles raise many types; none may escape as a crash
        raise DataError(
            f"'{path}' is not a plain-data pickle ({describe(error)}). recdiff loads dataset "
            f"pickles only when they hold nothing but dicts, lists, numbers and strings, so a file that needs "
            f"a class or function is refused without running it. Delete the file and fetch it again, or check "
            f"where it came from."
        ) from None


def convert_diffurec_pickle(source: Path, target: Path) -> None:
    """DiffuRec ``dataset.pkl`` (train/val/test per user) -> `.inter` with positions as timestamps.

    A user's sequence is ``train + val + test`` (val and test hold one item each, as a list
    or a bare int). Users and items keep their ids; rows are sorted by user, then position.
    """
    data = load_plain_pickle(source)
    if not isinstance(data, dict) or not {"train", "val", "test"} <= data.keys():
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise DataError(
            f"'{source}' is not a DiffuRec dataset: expected a dict with 'train', 'val' and 'test', found "
            f"{found}. Fetch the file again (`recdiff data fetch NAME --force`)."
        )
    parts = [_user_items(source, key, data[key]) for key in ("train", "val", "test")]
    users = sorted(set().union(*parts))
    sequences = [[item for part in parts for item in part.get(user, ())] for user in users]
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    items = np.fromiter((item for sequence in sequences for item in sequence), dtype=np.int64, count=int(lengths.sum()))
    frame = pd.DataFrame(
        {
            INTER_HEADER[0]: np.repeat(np.asarray(users, dtype=np.int64), lengths),
            INTER_HEADER[1]: items,
            INTER_HEADER[2]: np.arange(len(items)) - np.repeat(np.cumsum(lengths) - lengths, lengths),
        }
    )
    write_inter(frame, target)


def _user_items(source: Path, key: str, part: Any) -> dict[int, list[int]]:
    """One of train/val/test as ``user -> items``, checking that every id is an int."""
    if not isinstance(part, dict):
        raise _malformed(source, f"'{key}' is a {type(part).__name__}, not a dict of users")
    result: dict[int, list[int]] = {}
    for user, items in part.items():
        sequence = [items] if isinstance(items, int) else items
        if not _is_int(user) or not isinstance(sequence, (list, tuple)) or not all(map(_is_int, sequence)):
            raise _malformed(source, f"'{key}'[{user!r}] is {items!r:.80}, not a list of integer item ids")
        result[user] = list(sequence)
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _malformed(source: Path, what: str) -> DataError:
    return DataError(
        f"'{source}' is not a DiffuRec dataset: {what}. Fetch the file again (`recdiff data fetch NAME --force`)."
    )


# --------------------------------------------------------------------------- raw originals


def convert_ml_zip(source: Path, target: Path) -> None:
    """GroupLens ``ml-1m.zip`` -> `.inter` of every rating (its ``ratings.dat`` member)."""
    try:
        with zipfile.ZipFile(source) as archive:
            member = next((n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "ratings.dat"), None)
            if member is None:
                raise DataError(
                    f"'{source}' holds no ratings.dat. Fetch the MovieLens archive again "
                    f"(`recdiff data fetch NAME --force`)."
                )
            with archive.open(member) as stream:
                frame = read_ml_ratings(stream, f"{source}:{member}")
    except zipfile.BadZipFile as error:
        raise DataError(
            f"'{source}' is not a zip archive ({error}). Fetch it again (`recdiff data fetch NAME --force`)."
        ) from None
    write_inter(_raw_columns(frame), target)


def convert_amazon_ratings(source: Path, target: Path) -> None:
    """Amazon 2014 ``ratings_<Category>.csv`` -> `.inter` of every rating."""
    write_inter(_raw_columns(read_amazon_ratings(source, source)), target)


def _raw_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            RAW_INTER_HEADER[0]: frame["user"],
            RAW_INTER_HEADER[1]: frame["item"],
            RAW_INTER_HEADER[2]: frame["rating"],
            RAW_INTER_HEADER[3]: frame["time"],
        }
    )


def write_inter(frame: pd.DataFrame, target: Path) -> None:
    """Write ``frame`` as a tab-separated `.inter` file; its column names are the typed header."""
    frame.to_csv(target, sep="\t", index=False, quoting=csv.QUOTE_NONE, lineterminator="\n")


# --------------------------------------------------------------------------- built-in recipes

DIFFUREC = "https://raw.githubusercontent.com/WHUIR/DiffuRec/main/datasets/data"
AMAZON_2014 = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles"

RECIPES = (
    DatasetRecipe(
        name="beauty",
        url=f"{DIFFUREC}/amazon_beauty/dataset.pkl",
        size=1_217_889,
        sha256="1d5ba224ff02584bcde37d3dd9fd3191d440829e7fcb7fe42dcfd313dd2144cb",
        filename="diffurec-beauty.pkl",
        convert=convert_diffurec_pickle,
        preprocessed=True,
        description="Amazon Beauty 2014, 5-core, as evaluated in DiffuRec and DiffuRecSys.",
    ),
    DatasetRecipe(
        name="toys",
        url=f"{DIFFUREC}/toys/dataset.pkl",
        size=1_049_174,
        sha256="e6e8f7f188326a3370749055e2a736fbd16ac036f42fe051ebd8eb891ff7bd4a",
        filename="diffurec-toys.pkl",
        convert=convert_diffurec_pickle,
        preprocessed=True,
        description="Amazon Toys and Games 2014, 5-core, as evaluated in DiffuRec and DiffuRecSys.",
    ),
    DatasetRecipe(
        name="ml-1m",
        url=f"{DIFFUREC}/ml-1m/dataset.pkl",
        size=3_101_987,
        sha256="24517f75352c088e6163b0f1a1d61932390c08d837e191e02d09d1d35dc63ea4",
        filename="diffurec-ml-1m.pkl",
        convert=convert_diffurec_pickle,
        preprocessed=True,
        description="MovieLens-1M, as evaluated in DiffuRec and DiffuRecSys.",
    ),
    DatasetRecipe(
        name="ml-1m-raw",
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        size=None,
        sha256=None,
        filename="ml-1m.zip",
        convert=convert_ml_zip,
        preprocessed=False,
        description="MovieLens-1M ratings.dat from GroupLens, unfiltered.",
    ),
    DatasetRecipe(
        name="beauty-raw",
        url=f"{AMAZON_2014}/ratings_Beauty.csv",
        size=None,
        sha256=None,
        filename="ratings_Beauty.csv",
        convert=convert_amazon_ratings,
        preprocessed=False,
        description="Amazon 2014 Beauty ratings, unfiltered.",
    ),
    DatasetRecipe(
        name="toys-raw",
        url=f"{AMAZON_2014}/ratings_Toys_and_Games.csv",
        size=None,
        sha256=None,
        filename="ratings_Toys_and_Games.csv",
        convert=convert_amazon_ratings,
        preprocessed=False,
        description="Amazon 2014 Toys and Games ratings, unfiltered.",
    ),
)


def register_recipe(recipe: DatasetRecipe) -> None:
    """Register ``recipe`` as the ``dataset`` entry ``recipe.name`` (a factory returning it)."""

    def factory() -> DatasetRecipe:
        return recipe

    factory.__doc__ = recipe.description
    factory.__qualname__ = factory.__name__ = f"dataset_{recipe.name.replace('-', '_')}"
    registry.register(recipe.name)(factory)


for _recipe in RECIPES:
    register_recipe(_recipe)


def get_recipe(name: str) -> DatasetRecipe:
    """The recipe registered as ``name``; an unknown name lists the known ones and the closest match."""
    recipe = registry.create(name)
    if not isinstance(recipe, DatasetRecipe):
        raise DataError(
            f"The dataset entry '{name}' ({registry.get(name).origin}) returned a {type(recipe).__name__}, not a "
            f"DatasetRecipe. Its factory must return recdiff.data.datasets.DatasetRecipe."
        )
    return recipe
