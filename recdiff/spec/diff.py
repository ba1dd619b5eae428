"""What differs between two resolved specs: the fields a message names, and a fingerprint for grouping runs.

Both work on the spec as a run saves it (``RunSpec.model_dump(mode="json")``, the dict a
checkpoint stores and spec.yaml holds), so a spec read back from a run compares equal to the
one it was trained with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from recdiff.spec.models import RunSpec

UNSET = "(unset)"
"""How a field that one of the two specs lacks is shown."""


def fields(spec: RunSpec | Mapping[str, Any]) -> dict[str, Any]:
    """Every leaf of a spec as ``{"dotted.path": value}`` (component params included; lists are leaves)."""
    tree = spec.model_dump(mode="json") if isinstance(spec, RunSpec) else spec
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update({f"{key}.{path}": leaf for path, leaf in fields(value).items()})
        else:
            flat[key] = value
    return flat


def changes(
    old: RunSpec | Mapping[str, Any], new: RunSpec | Mapping[str, Any], ignore: Collection[str] = ()
) -> list[str]:
    """``path: old -> new`` for each field whose value differs, sorted by path.

    ``ignore`` lists fields not compared: a path ignores itself and every field under it
    (``model.sampler`` covers ``model.sampler.params.steps``); one ending in ``.`` ignores
    every path it starts (``eval.``).
    """
    before, after = fields(old), fields(new)
    return [
        f"{path}: {before.get(path, UNSET)} -> {after.get(path, UNSET)}"
        for path in sorted(before.keys() | after.keys())
        if not covered(path, ignore) and before.get(path, UNSET) != after.get(path, UNSET)
    ]


def covered(path: str, prefixes: Collection[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or lies under one (see `changes`)."""
    return any(path == prefix or path.startswith(prefix if prefix.endswith(".") else prefix + ".") for prefix in prefixes)


def fingerprint(spec: RunSpec | Mapping[str, Any], ignore: Collection[str] = ("seed",)) -> str:
    """A short hash of every field but ``ignore``: the runs of one spec over several seeds share it."""
    kept = {path: value for path, value in fields(spec).items() if path not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
