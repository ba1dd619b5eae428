"""From a data spec to sequences: pick the source, read, preprocess, cache.

The source is a named dataset (``data.name``), a file (``data.path``) or, when both are
empty, the built-in synthetic data. File sources go through the cache (:mod:`recdiff.data.cache`);
synthetic data is cheaper to generate than to hash, so it never does. Side-feature files
(:mod:`recdiff.data.features`) are small, so they are read on every load, after the sequences,
and aligned to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recdiff.data import cache
from recdiff.data.features import SideFeatures, load_side_features
from recdiff.data.preprocess import PreprocessReport, preprocess
from recdiff.data.readers import check_exists, read_interactions
from recdiff.data.sequences import SequenceData
from recdiff.data.synthetic import generate_synthetic
from recdiff.spec.models import DataSpec


@dataclass(frozen=True)
class Source:
    """Where a spec's interactions come from.

    Attributes:
        path: The interaction file, or None for synthetic data.
        preprocessed: The file was released already filtered, so an unset k-core threshold
            leaves it as it is (see :func:`recdiff.data.preprocess.kcore_thresholds`).
        label: How to name the source to a user.
    """

    path: Path | None
    preprocessed: bool
    label: str


@dataclass(frozen=True)
class LoadedData:
    """Preprocessed sequences with the report of how they were made.

    Attributes:
        data: The sequences.
        report: What each preprocessing step removed (from the run that built the cache
            entry, when ``from_cache``).
        source: Where the interactions came from.
        cache_file: The cache entry read or written; None when caching was off or not used.
        from_cache: Whether the sequences were read from the cache.
        item_features: The `.item` side features aligned to ``data``'s dense item ids, or
            None without a file. The built-in models do not use them; plugins may.
        user_features: The `.user` side features aligned to ``data``'s user indices, or None.
    """

    data: SequenceData
    report: PreprocessReport
    source: Source
    cache_file: Path | None
    from_cache: bool
    item_features: SideFeatures | None = None
    user_features: SideFeatures | None = None


def resolve_source(spec: DataSpec, *, download: bool = True) -> Source:
    """The source ``spec`` names; a named dataset is fetched into RECDIFF_HOME unless ``download`` is off.

    Raises:
        RegistryError: ``spec.name`` is not a registered dataset.
        DataError: The named dataset cannot be fetched (see :func:`recdiff.data.fetch.dataset_file`).
    """
    if spec.name is not None:
        from recdiff.data.datasets import get_recipe  # named datasets load their converters lazily
        from recdiff.data.fetch import dataset_file

        recipe = get_recipe(spec.name)
        path = dataset_file(spec.name, download=download)
        return Source(path, recipe.preprocessed, f"dataset '{spec.name}' ({path})")
    if spec.path is not None:
        return Source(Path(spec.path), False, str(spec.path))
    return Source(None, False, "synthetic data")


def load_data(spec: DataSpec, seed: int) -> LoadedData:
    """Read, preprocess and (for files, when ``spec.cache``) cache the interactions of ``spec``, then its side files.

    Args:
        spec: The data spec.
        seed: Seed of the synthetic generator (unused for a file).

    Raises:
        DataError: The source or a side file cannot be read, or preprocessing leaves nothing.
    """
    source = resolve_source(spec)
    data, report, cache_file, from_cache = _sequences(spec, source, seed)
    items, users = load_side_features(spec, data.item_ids, data.user_ids)
    return LoadedData(data, report, source, cache_file, from_cache, items, users)


def _sequences(
    spec: DataSpec, source: Source, seed: int
) -> tuple[SequenceData, PreprocessReport, Path | None, bool]:
    """The sequences and report of ``source``, with the cache entry read or written and whether it was read."""
    if source.path is None:
        frame, report = preprocess(generate_synthetic(spec.synthetic, seed), spec)
        return SequenceData.from_frame(frame), report, None, False
    read_spec = spec.model_copy(update={"name": None, "path": source.path})
    check_exists(source.path)  # the cache key hashes the file, so a missing one must be named first
    key = cache.cache_key(source.path, read_spec, source.preprocessed) if spec.cache else None
    if key is not None:
        hit = cache.load_entry(key)
        if hit is not None:
            return hit[0], hit[1], cache.entry_path(key), True
    frame, report = preprocess(read_interactions(read_spec), read_spec, preprocessed=source.preprocessed)
    data = SequenceData.from_frame(frame)
    stored = cache.store_entry(key, data, report) if key is not None else None
    return data, report, stored, False
