"""Clean an interaction frame before it becomes sequences: ratings, repeats, k-core, short users.

The steps run in a fixed order, each on what the previous one left:

1. rating threshold (``min_rating``): implicit feedback keeps only liked items;
2. chronological, stable ordering of each user's interactions, then (``duplicates:
   drop_consecutive``) dropping an item repeated right after itself;
3. iterative k-core (``min_user_inter``, ``min_item_inter``): removing a user lowers item
   counts and the other way round, so both are filtered until a round removes nothing;
4. users left with fewer than :data:`MIN_LENGTH` interactions are dropped, because
   leave-one-out cannot validate and test them.

:class:`PreprocessReport` counts what each step removed, so a user can see why a file of
a million lines became fewer sequences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recdiff.data.splits import MIN_LENGTH
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec

DEFAULT_MIN_INTER = 5
"""k-core threshold of an unset ``min_user_inter``/``min_item_inter``: the papers' 5-core."""


@dataclass(frozen=True)
class PreprocessReport:
    """What preprocessing removed, step by step (interaction counts unless named otherwise).

    Attributes:
        interactions_in: Interactions read.
        rating_removed: Interactions rated below ``min_rating``.
        duplicates_removed: Consecutive repeats of the same item by the same user.
        min_user_inter: The user threshold the k-core used (0: not filtered).
        min_item_inter: The item threshold the k-core used (0: not filtered).
        kcore_rounds: Rounds the k-core needed until nothing changed (0 when it did not run).
        kcore_removed: Interactions the k-core removed.
        kcore_users_removed: Users the k-core removed.
        kcore_items_removed: Items the k-core removed.
        short_users_removed: Users left with fewer than 3 interactions, dropped afterwards.
        short_removed: Their interactions.
        users: Users kept.
        items: Items kept.
        interactions: Interactions kept.
    """

    interactions_in: int
    rating_removed: int
    duplicates_removed: int
    min_user_inter: int
    min_item_inter: int
    kcore_rounds: int
    kcore_removed: int
    kcore_users_removed: int
    kcore_items_removed: int
    short_users_removed: int
    short_removed: int
    users: int
    items: int
    interactions: int

    def summary(self) -> str:
        """One line for a log: what came in, what each step removed, what is left (rounds: see the fields)."""
        steps = [f"{self.interactions_in:,} interactions"]
        if self.rating_removed:
            steps.append(f"{self.rating_removed:,} rated below min_rating")
        if self.duplicates_removed:
            steps.append(f"{self.duplicates_removed:,} consecutive repeats dropped")
        if self.min_user_inter == self.min_item_inter:
            core = f"{self.min_user_inter}-core"
        else:
            core = f"k-core (users >= {self.min_user_inter}, items >= {self.min_item_inter})"
        if self.min_user_inter <= 1 and self.min_item_inter <= 1:
            steps.append("no k-core")
        elif self.kcore_removed == 0:
            steps.append(f"{core} removed nothing")
        else:
            parts = [(self.kcore_users_removed, "user"), (self.kcore_items_removed, "item")]
            what = ", ".join(f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in parts if n)
            steps.append(f"{core} removed {self.kcore_removed:,} ({what})")
        if self.short_users_removed:
            users = "user" if self.short_users_removed == 1 else "users"
            steps.append(
                f"{self.short_users_removed:,} {users} with fewer than {MIN_LENGTH} interactions dropped "
                f"({self.short_removed:,} interactions)"
            )
        return (
            f"{'; '.join(steps)} → {self.users:,} users, {self.items:,} items, "
            f"{self.interactions:,} interactions"
        )

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON output and the cache)."""
        return asdict(self)


def kcore_thresholds(spec: DataSpec, preprocessed: bool) -> tuple[int, int]:
    """The user and item thresholds the k-core applies.

    An unset threshold is :data:`DEFAULT_MIN_INTER`, or 0 (no filtering) for a source
    released already filtered: the papers evaluated those files exactly as released, and
    ml-1m, for one, has items with fewer than 5 ratings that a 5-core would remove.

    Args:
        spec: The data spec.
        preprocessed: Whether the source is a named dataset released already filtered.
    """
    default = 0 if preprocessed else DEFAULT_MIN_INTER
    users = default if spec.min_user_inter is None else spec.min_user_inter
    items = default if spec.min_item_inter is None else spec.min_item_inter
    return users, items


def preprocess(
    frame: pd.DataFrame, spec: DataSpec, *, preprocessed: bool = False
) -> tuple[pd.DataFrame, PreprocessReport]:
    """Apply the rating threshold, duplicate rule, k-core and short-user rule of ``spec``.

    Args:
        frame: Columns ``user``, ``item``, ``time`` (and ``rating`` when ``spec.min_rating``
            is set), as :func:`recdiff.data.read_interactions` returns.
        spec: The data spec.
        preprocessed: The source was released already filtered (see :func:`kcore_thresholds`).

    Returns:
        The kept rows grouped by user (users in order of first appearance), each user's
        ordered by time (ties in input order), with a fresh index; and the report of what
        each step removed.

    Raises:
        DataError: ``min_rating`` is set but the frame has no ``rating`` column, or nothing
            is left after filtering.
    """
    interactions_in = len(frame)
    frame = _rated(frame, spec.min_rating)
    rating_removed = interactions_in - len(frame)

    user = pd.factorize(frame["user"])[0]
    frame = frame.iloc[np.lexsort((frame["time"].to_numpy(), user))]
    if spec.duplicates == "drop_consecutive":
        repeat = _consecutive_repeats(frame)
        frame = frame[~repeat]
        duplicates_removed = int(repeat.sum())
    else:
        duplicates_removed = 0

    min_user, min_item = kcore_thresholds(spec, preprocessed)
    user, item = pd.factorize(frame["user"])[0], pd.factorize(frame["item"])[0]
    kept, rounds = k_core(user, item, min_user, min_item)
    users_before, items_before = _distinct(user), _distinct(item)
    kcore_removed = int((~kept).sum())
    user, item, frame = user[kept], item[kept], frame[kept]
    users_core, items_core = _distinct(user), _distinct(item)

    long_enough = np.bincount(user, minlength=users_before)[user] >= MIN_LENGTH
    frame, user, item = frame[long_enough], user[long_enough], item[long_enough]
    if frame.empty:
        raise _nothing_left(interactions_in, min_user, min_item)

    report = PreprocessReport(
        interactions_in=interactions_in,
        rating_removed=rating_removed,
        duplicates_removed=duplicates_removed,
        min_user_inter=min_user,
        min_item_inter=min_item,
        kcore_rounds=rounds,
        kcore_removed=kcore_removed,
        kcore_users_removed=users_before - users_core,
        kcore_items_removed=items_before - items_core,
        short_users_removed=users_core - _distinct(user),
        short_removed=int((~long_enough).sum()),
        users=_distinct(user),
        items=_distinct(item),
        interactions=len(frame),
    )
    return frame.reset_index(drop=True), report


def k_core(user: np.ndarray, item: np.ndarray, min_user: int, min_item: int) -> tuple[np.ndarray, int]:
    """Iterative k-core of the user-item interactions.

    Each round drops, at once, every interaction whose user has fewer than ``min_user`` or
    whose item has fewer than ``min_item`` of the interactions still kept; rounds repeat
    until one drops nothing. The result is the largest subset in which every user and every
    item meets its threshold (unique, so the order of removal does not matter).

    Args:
        user: int [n], non-negative user code of each interaction.
        item: int [n], non-negative item code of each interaction.
        min_user: Fewest interactions a kept user has (0 or 1: no user filter).
        min_item: Fewest interactions a kept item has.

    Returns:
        ``kept``, bool [n], and the number of rounds that removed something.
    """
    kept = np.ones(len(user), dtype=bool)
    if min_user <= 1 and min_item <= 1:
        return kept, 0
    num_users, num_items = int(user.max(initial=-1)) + 1, int(item.max(initial=-1)) + 1
    rounds = 0
    while True:
        user_count = np.bincount(user[kept], minlength=num_users)
        item_count = np.bincount(item[kept], minlength=num_items)
        weak = kept & ((user_count[user] < min_user) | (item_count[item] < min_item))
        if not weak.any():
            return kept, rounds
        kept &= ~weak
        rounds += 1


def _rated(frame: pd.DataFrame, min_rating: float | None) -> pd.DataFrame:
    if min_rating is None:
        return frame
    if "rating" not in frame.columns:
        raise DataError(
            f"data.min_rating is {min_rating} but the interactions have no ratings. Set data.rating_field "
            f"to the column holding ratings, or remove data.min_rating."
        )
    rated = frame[frame["rating"].to_numpy() >= min_rating]
    if rated.empty:
        raise DataError(
            f"No interaction is rated {min_rating} or more (ratings range from {frame['rating'].min()} to "
            f"{frame['rating'].max()}). Lower data.min_rating, or check that data.rating_field names "
            f"the rating column."
        )
    return rated


def _consecutive_repeats(frame: pd.DataFrame) -> np.ndarray:
    """bool [n]: the row repeats the previous row's user and item (rows ordered by user, time)."""
    user, item = frame["user"].to_numpy(), frame["item"].to_numpy()
    repeat = np.zeros(len(frame), dtype=bool)
    repeat[1:] = (user[1:] == user[:-1]) & (item[1:] == item[:-1])
    return repeat


def _distinct(codes: np.ndarray) -> int:
    """Number of distinct non-negative codes (codes are 0..K-1 with gaps after filtering)."""
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _nothing_left(interactions_in: int, min_user: int, min_item: int) -> DataError:
    return DataError(
        f"Preprocessing removed all {interactions_in:,} interactions: after the k-core (users with at "
        f"least {min_user}, items with at least {min_item} interactions) no user has {MIN_LENGTH} or more "
        f"interactions. Lower data.min_user_inter / data.min_item_inter (0 turns the filter off), "
        f"or use a file with more interactions per user and item."
    )
