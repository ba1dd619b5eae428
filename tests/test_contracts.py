"""Contract checks of `recdiff.testing`, run over every registered component of every kind."""

from __future__ import annotations

import pytest
from pydantic import Field

import recdiff
from recdiff.registry import REGISTRIES, Params, registry
from recdiff.testing import check_params_match_factory, params_mismatches

ENTRIES = [(kind, name) for kind in sorted(REGISTRIES) for name in recdiff.available(kind)]


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{kind}-{name}" for kind, name in ENTRIES])
def test_parameter_model_matches_the_factory(kind: str, name: str) -> None:
    check_params_match_factory(kind, name)


class _WidthParams(Params):
    width: int = Field(4, ge=1)
    depth: int = Field(2, ge=1)


def test_a_drifted_default_a_missing_field_and_a_missing_context_are_each_reported() -> None:
    name = "test_contracts_drifted"

    def drifted(hidden: int, dropout: float, width: int = 8, extra: bool = False) -> None:
        """Takes `extra` the model lacks, lacks `depth` and `num_blocks`, and defaults `width` to 8, not 4."""

    registry("conditioning").register(name, params=_WidthParams)(drifted)
    try:
        problems = params_mismatches("conditioning", name)
        assert problems == [
            "the factory does not take the context argument 'num_blocks'",
            "the factory takes 'extra' but the parameter model has no such field",
            "the parameter model has 'depth' but the factory does not take it",
            "'width' defaults to 8 in the factory but 4 in the model",
        ]
        with pytest.raises(AssertionError, match=f"conditioning '{name}': the factory does not take"):
            check_params_match_factory("conditioning", name)
    finally:
        registry("conditioning")._entries.pop(name)


def test_a_factory_parameter_without_a_default_is_reported() -> None:
    name = "test_contracts_no_default"

    def no_default(width: int, depth: int = 2) -> None:
        """`width` has no default although the model gives it one."""

    registry("scorer").register(name, params=_WidthParams)(no_default)
    try:
        assert params_mismatches("scorer", name) == ["the factory's 'width' has no default; the model's is 4"]
    finally:
        registry("scorer")._entries.pop(name)
