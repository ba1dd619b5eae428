"""Contract checks of `recdiff.testing`, run over every registered component, so a new one is checked at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import BLOCK, REPO, fake_distribution
from pydantic import Field

import recdiff
from recdiff.diffusion.samplers import Denoise, ReverseSampler, step_tensor
from recdiff.nn.backbones import Backbone, Condition
from recdiff.nn.conditioning import ConditioningBlock
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.scorers import Scorer
from recdiff.registry import REGISTRIES, Params, registry
from recdiff.testing import (
    check_backbone,
    check_conditioning,
    check_denoiser,
    check_logger,
    check_loss,
    check_params_match_factory,
    check_sampler,
    check_scorer,
    params_mismatches,
)

ENTRIES = [(kind, name) for kind in sorted(REGISTRIES) for name in recdiff.available(kind)]

VARIANTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "conditioning": [("linear_cross_attention", {"padding": "masked"}), ("token", {"type_embedding": False, "positions": 0})],
    "backbone": [
        ("transformer", {"padding": "visible", "block_dropout": True}),
        ("transformer", {"causal": True}),
        ("transformer", {"chained": False}),
    ],
    "sampler": [("ddpm", {"variance": "fixed_small"}), ("ddim", {"steps": 8, "eta": 1.0})],
    "scorer": [],
    "loss": [("chunked", {"chunk": 5}), ("sampled", {"proposal": "popularity", "samples": 20})],
    "denoiser": [("mlp", {"blocks": 1, "expansion": 2})],
}
"""Parameter settings that take another code path than the defaults, checked beside every entry's defaults."""


def cases(kind: str) -> list[Any]:
    """Every registered entry of `kind` with its default parameters, then the variants above."""
    found = [(name, {}) for name in recdiff.available(kind)] + VARIANTS[kind]
    return [pytest.param(name, params, id="-".join([name, *map(str, params.values())])) for name, params in found]


@pytest.mark.parametrize(("name", "params"), cases("conditioning"))
def test_conditioning_contract(name: str, params: dict[str, Any]) -> None:
    check_conditioning(name, params)


@pytest.mark.parametrize(("name", "params"), cases("backbone"))
def test_backbone_contract(name: str, params: dict[str, Any]) -> None:
    check_backbone(name, params)


@pytest.mark.parametrize(("name", "params"), cases("sampler"))
def test_sampler_contract(name: str, params: dict[str, Any]) -> None:
    check_sampler(name, params)


@pytest.mark.parametrize(("name", "params"), cases("scorer"))
def test_scorer_contract(name: str, params: dict[str, Any]) -> None:
    check_scorer(name, params)


@pytest.mark.parametrize(("name", "params"), cases("loss"))
def test_loss_contract(name: str, params: dict[str, Any]) -> None:
    check_loss(name, params)


@pytest.mark.parametrize(("name", "params"), cases("denoiser"))
def test_denoiser_contract(name: str, params: dict[str, Any]) -> None:
    check_denoiser(name, params)


@pytest.mark.parametrize("name", recdiff.available("logger"))
def test_logger_contract(name: str, tmp_path: Path) -> None:
    if name == "tensorboard":
        pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    check_logger(name, tmp_path)
    assert any(tmp_path.iterdir()), f"logger '{name}' wrote nothing"


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


class _ReadsPadding(ConditioningBlock):
    """Adds the mean over every position, padding included, while declaring that it ignores padding."""

    def forward(self, history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        return history + history.mean(dim=1, keepdim=True)


class _GlobalNoise(ConditioningBlock):
    """Draws from the global generator instead of the keyed NoiseStream."""

    def forward(self, history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        return history + torch.randn_like(history)


class _WrongLast(Backbone):
    """Its `last` is off by one from the full pass's newest position."""

    num_blocks = 1

    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        return 2 * condition(0, h)

    def last(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        return self.forward(h, mask, condition)[:, -1] + 1


class _Miscounted(ReverseSampler):
    """Calls denoise twice but reports one evaluation."""

    @property
    def evaluations(self) -> int:
        return 1

    def __call__(self, denoise: Denoise, x_T: torch.Tensor, noise: NoiseStream) -> torch.Tensor:
        return denoise(denoise(x_T, step_tensor(1, x_T)), step_tensor(0, x_T))


class _Softmaxed(Scorer):
    """Normalises over the items it is given, so a slice of items scores differently."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (x0 @ items.T).softmax(dim=-1)


@pytest.mark.parametrize(
    ("kind", "factory", "check", "message"),
    [
        ("conditioning", lambda **_: _ReadsPadding(), check_conditioning, "changes real positions when the left padding grows"),
        ("conditioning", lambda **_: _GlobalNoise(), check_conditioning, "is not deterministic"),
        ("backbone", lambda **_: _WrongLast(), check_backbone, r"last\(\.\.\.\) differs from forward"),
        ("sampler", _Miscounted, check_sampler, "called denoise 2 times but its `evaluations` says 1"),
        ("scorer", _Softmaxed, check_scorer, "columns must be independent"),
    ],
    ids=["reads-padding", "global-noise", "wrong-last", "miscounted", "softmaxed"],
)
def test_the_checks_catch_a_broken_component(kind: str, factory: Any, check: Any, message: str) -> None:
    name = "test_contracts_broken"
    registry(kind).register(name)(factory)
    try:
        with pytest.raises(AssertionError, match=message):
            check(name)
    finally:
        registry(kind)._entries.pop(name)


def test_a_newly_installed_block_is_checked_without_editing_any_test(tmp_path: Path) -> None:
    """A plugin block (a fake installed distribution) is collected and checked by this very file."""
    blocks = {"throwaway_blocks": BLOCK.format(name="throwaway_half")}
    fake_distribution(tmp_path, "throwaway_plugin", {"blocks": "throwaway_blocks"}, blocks)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    env.pop("RECDIFF_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "throwaway_half", "-rA", __file__],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    picked_up = (
        "test_conditioning_contract[throwaway_half]",
        "test_parameter_model_matches_the_factory[conditioning-throwaway_half]",
    )
    for test in picked_up:
        assert f"PASSED tests/test_contracts.py::{test}" in result.stdout, result.stdout
