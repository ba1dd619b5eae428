"""A run's id vocabulary: the tokens its data gave items and users, so a trained model serves without its data.

Training maps each item token of the data file to a dense id 1..N (and each user to an index);
the checkpoint holds only the dense ids. ``vocab.json`` in the run directory keeps the tokens in
dense-id order, with the fingerprint of the interactions they came from, so recommendations can be
given and read in the data's own ids, from the run directory alone (see
`recdiff.serving.predictor.Predictor`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from recdiff import jsontext
from recdiff.errors import CheckpointError, describe
from recdiff.training.files import write_atomic

if TYPE_CHECKING:
    import pandas as pd

    from recdiff.data.sequences import SequenceData

VOCAB = "vocab.json"
"""The file in the run directory."""
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Vocabulary:
    """The original ids of a run's items and users.

    Attributes:
        items: Token of dense item id ``i + 1`` at index ``i`` (``SequenceData.item_ids``).
        users: Token of user index ``u`` (``SequenceData.user_ids``).
        fingerprint: `SequenceData.fingerprint` of the interactions, matched against the checkpoint's.
    """

    items: tuple[str, ...]
    users: tuple[str, ...]
    fingerprint: str

    @classmethod
    def of(cls, data: SequenceData) -> Vocabulary:
        """The vocabulary of loaded sequences."""
        return cls(tuple(map(str, data.item_ids)), tuple(map(str, data.user_ids)), data.fingerprint())

    @property
    def num_items(self) -> int:
        return len(self.items)

    @cached_property
    def item_index(self) -> pd.Index:
        """Item tokens as a pandas Index: ``get_indexer(tokens) + 1`` gives dense ids, 0 for unknown tokens."""
        import pandas as pd

        return pd.Index(self.items, dtype=object)

    def write(self, path: Path) -> None:
        """Write ``vocab.json`` all or nothing (strict JSON)."""
        text = jsontext.dumps({
            "format": FORMAT_VERSION, "num_items": self.num_items, "data_fingerprint": self.fingerprint,
            "items": list(self.items), "users": list(self.users),
        })
        write_atomic(path, lambda temporary: temporary.write_text(text + "\n", encoding="utf-8"))

    @classmethod
    def read(cls, path: Path) -> Vocabulary:
        """Read a ``vocab.json`` written by `write`.

        Raises:
            CheckpointError: It is unreadable, of another format version, or inconsistent.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            items, users, fingerprint = raw["items"], raw["users"], raw["data_fingerprint"]
            version = raw["format"]
            consistent = raw["num_items"] == len(items) and all(isinstance(t, str) for t in (*items, *users))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(
                f"Vocabulary '{path}' could not be read ({describe(error)}). Delete it: the next `recdiff evaluate` "
                f"or `recdiff recommend` of the run writes it again from the run's training data."
            ) from None
        if version != FORMAT_VERSION or not consistent:
            raise CheckpointError(
                f"Vocabulary '{path}' is not one this recdiff wrote (format {version!r}, or its item count does "
                f"not match its items). Delete it: the next `recdiff evaluate` or `recdiff recommend` of the run "
                f"writes it again from the run's training data."
            )
        return cls(tuple(items), tuple(users), str(fingerprint))
