"""The registry mechanism: built-ins, look-up errors, parameter validation and user components."""

from __future__ import annotations

import sys

import pytest
import torch
from pydantic import BaseModel, Field

import recdiff
from recdiff.errors import RecdiffError
from recdiff.nn.conditioning import ConditioningBlock
from recdiff.registry import REGISTRIES, registry
from recdiff.registry.core import Entry, Registry

BUILTINS = {
    "model": ["diffusion", "late_fusion", "sasrec"],
    "schedule": ["linear", "trunc_lin", "cosine", "sqrt", "trunc_cos", "pw_lin"],
    "noise": ["gaussian", "offset"],
    "timestep": ["uniform"],
    "conditioning": ["additive", "cross_attention", "token"],
    "backbone": ["transformer", "gru"],
    "denoiser": ["mlp", "film"],
    "sampler": ["ddpm", "ddim", "x0"],
    "scorer": ["dot", "neg_l2", "cosine"],
    "loss": ["full", "chunked", "sampled"],
    "guidance": ["cfg", "none"],
    "dataset": ["beauty", "toys", "ml-1m"],
    "logger": ["csv", "tensorboard"],
}

def test_every_kind_is_known() -> None:
    assert set(REGISTRIES) == set(BUILTINS)


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_builtins_are_listed(kind: str) -> None:
    names = recdiff.available(kind)
    assert set(BUILTINS[kind]) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_every_registry_states_its_contract(kind: str) -> None:
    contract = registry(kind).contract
    assert isinstance(contract, str) and contract.strip()
    assert "factory(" in contract


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_builtins_have_a_summary(kind: str) -> None:
    for entry in registry(kind).entries():
        assert entry.summary, f"{kind} '{entry.name}' has no docstring"


def test_unknown_name_lists_names_and_closest_match() -> None:
    with pytest.raises(RecdiffError) as info:
        recdiff.create("schedule", "cosin", steps=8)
    message = str(info.value)
    assert "Unknown schedule component 'cosin'" in message
    assert "Did you mean 'cosine'?" in message
    for name in BUILTINS["schedule"]:
        assert name in message


def test_unknown_name_without_close_match_has_no_hint() -> None:
    with pytest.raises(RecdiffError) as info:
        registry("scorer").get("zzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "dot" in str(info.value) and "neg_l2" in str(info.value)


def test_unknown_kind_lists_kinds() -> None:
    for call in (lambda: recdiff.available("schedul"), lambda: recdiff.create("optimizer", "adam")):
        with pytest.raises(RecdiffError) as info:
            call()
        message = str(info.value)
        assert "Unknown component kind" in message
        for kind in BUILTINS:
            assert kind in message


def test_create_builds_with_context_and_params() -> None:
    noise = recdiff.create("noise", "offset", strength=0.5, delta_c=2.0)
    assert noise.shift == pytest.approx(1.0)
    betas = recdiff.create("schedule", "cosine", steps=7)
    assert betas.shape == (7,)


def test_a_factory_returning_the_wrong_type_is_refused_naming_it_and_its_origin() -> None:
    name = "test_registry_not_a_block"
    registry("conditioning").register(name, origin="bad-plugin 1.0")(lambda hidden, num_blocks, dropout: "a string")
    try:
        with pytest.raises(RecdiffError) as info:
            recdiff.create("conditioning", name, hidden=8, num_blocks=1, dropout=0.0)
        message = str(info.value)
        assert f"conditioning component '{name}' (from bad-plugin 1.0) returned a str" in message
        assert "recdiff.nn.conditioning.ConditioningBlock" in message
        spec = recdiff.load_spec({"model": {"conditioning": {"name": name}}})
        with pytest.raises(RecdiffError, match=f"'{name}' \\(from bad-plugin 1.0\\) returned a str"):
            recdiff.build_model(spec, num_items=5)
    finally:
        registry("conditioning")._entries.pop(name)


@pytest.mark.parametrize(
    ("kind", "base"),
    [
        ("model", "recdiff.models.base.Recommender"),
        ("schedule", "torch.Tensor"),
        ("noise", "recdiff.diffusion.noise.NoiseSampler"),
        ("timestep", "recdiff.diffusion.timesteps.TimestepSampler"),
        ("conditioning", "recdiff.nn.conditioning.ConditioningBlock"),
        ("backbone", "recdiff.nn.backbones.Backbone"),
        ("denoiser", "recdiff.nn.denoisers.Denoiser"),
        ("sampler", "recdiff.diffusion.samplers.ReverseSampler"),
        ("scorer", "recdiff.nn.scorers.Scorer"),
        ("loss", "recdiff.nn.losses.Loss"),
        ("dataset", "recdiff.data.datasets.DatasetRecipe"),
    ],
)
def test_every_kind_declares_its_base_class(kind: str, base: str) -> None:
    cls = registry(kind).base
    assert f"{cls.__module__}.{cls.__qualname__}" == base


def test_a_registry_without_a_base_accepts_anything() -> None:
    reg = Registry("widget", "`factory() -> object`")
    reg.register("w")(lambda: 3)
    assert reg.base is object and reg.create("w") == 3


def test_missing_context_is_an_error() -> None:
    with pytest.raises(RecdiffError, match="steps"):
        recdiff.create("schedule", "cosine")


@pytest.mark.parametrize(
    ("kind", "name", "params", "field"),
    [
        ("noise", "offset", {"strength": "a lot"}, "strength"),  # wrong type
        ("noise", "offset", {"strenght": 0.1}, "strenght"),  # unknown key
        ("noise", "gaussian", {"scale": 2.0}, "scale"),  # entry without params
        ("conditioning", "additive", {"delta": -1.0}, "delta"),  # below range (ge=0)
        ("sampler", "ddpm", {"variance": "learned"}, "variance"),  # not one of the literals
    ],
)
def test_invalid_params_name_the_field(kind: str, name: str, params: dict, field: str) -> None:
    with pytest.raises(RecdiffError) as info:
        registry(kind).validate(name, params)
    message = str(info.value)
    assert f"Invalid parameters for {kind} component '{name}'" in message
    assert field in message


def test_invalid_params_through_create() -> None:
    with pytest.raises(RecdiffError, match="heads"):
        recdiff.create("backbone", "transformer", hidden=8, dropout=0.0, heads=0)


def test_valid_params_fill_defaults() -> None:
    params = registry("backbone").validate("transformer", {"blocks": 2})
    assert params.model_dump() == {
        "blocks": 2, "heads": 4, "ff_mult": 4, "causal": False, "padding": "masked", "block_dropout": False,
        "chained": True, "checkpoint": False,
    }


def test_invalid_spec_params_name_the_spec_path() -> None:
    with pytest.raises(RecdiffError) as info:
        recdiff.load_spec({"model": {"noise": {"name": "offset", "params": {"strength": "x"}}}})
    assert "model.noise.params.strength" in str(info.value)


def test_registering_two_factories_under_one_name_names_both_origins() -> None:
    reg = Registry("widget", "`factory() -> Widget`")

    def first() -> str:
        return "first"

    def second() -> str:
        return "second"

    reg.register("thing", origin="package_one")(first)
    reg.register("thing", origin="package_one")(first)  # the same origin again is fine
    assert reg.create("thing") == "first"
    reg.register("thing", origin="package_two")(second)
    with pytest.raises(RecdiffError) as info:
        reg.create("thing")  # neither is picked silently
    message = str(info.value)
    assert "'thing'" in message and "package_one" in message and "package_two" in message
    assert reg.conflicts() == {"thing": ["package_one", "package_two"]}


def test_same_origin_registering_again_replaces_the_entry() -> None:
    reg = Registry("widget", "`factory() -> Widget`")
    reg.register("thing", origin="notebook")(lambda: "old")
    reg.register("thing", origin="notebook")(lambda: "new")
    assert reg.create("thing") == "new" and reg.conflicts() == {}


def test_default_origin_is_the_module() -> None:
    reg = Registry("widget", "`factory() -> Widget`")

    @reg.register("a")
    def a() -> int:
        return 1

    def b() -> int:
        return 2

    b.__module__ = "some_plugin.module"
    reg.register("a")(b)
    with pytest.raises(RecdiffError) as info:
        reg.get("a")
    assert __name__ in str(info.value) and "some_plugin.module" in str(info.value)


def test_params_model_without_forbid_still_rejects_unknown_keys() -> None:
    class Loose(BaseModel):  # pydantic's default is extra="ignore"
        size: int = Field(3, ge=1)

    reg = Registry("widget", "`factory(**params) -> int`")

    @reg.register("w", params=Loose)
    def widget(size: int = 3) -> int:
        return size

    assert reg.create("w", size=5) == 5
    with pytest.raises(RecdiffError, match="colour"):
        reg.create("w", colour="red")
    with pytest.raises(RecdiffError, match="size"):
        reg.create("w", size=0)


def test_params_attribute_is_used() -> None:
    class P(BaseModel):
        n: int = 1

    reg = Registry("widget", "`factory(**params) -> int`")

    @reg.register("w")
    class Widget:
        """A widget.

        More text that is not the summary.
        """

        Params = P

        def __init__(self, n: int = 1) -> None:
            self.n = n

    assert reg.create("w", n=4).n == 4
    with pytest.raises(RecdiffError, match="Accepted parameters: n"):
        reg.create("w", m=4)


def test_params_must_be_a_pydantic_model() -> None:
    reg = Registry("widget", "`factory() -> int`")
    with pytest.raises(RecdiffError, match="pydantic"):
        reg.register("w", params=dict)(lambda: 1)  # type: ignore[arg-type]


def test_context_is_passed_beside_params() -> None:
    class P(BaseModel):
        scale: float = 1.0

    reg = Registry("widget", "`factory(width: int, **params)`", context=("width",))

    @reg.register("w", params=P)
    def widget(width: int, scale: float = 1.0) -> float:
        return width * scale

    assert reg.create("w", width=3, scale=2.0) == 6.0
    with pytest.raises(RecdiffError, match="width"):
        reg.create("w", scale=2.0)


def test_loader_runs_once_before_first_lookup() -> None:
    calls = []
    reg = Registry("widget", "`factory()`", loader=lambda: calls.append(1))
    assert calls == []
    reg.names()
    assert "x" not in reg
    reg.names()
    assert calls == [1]


def test_a_failing_loader_runs_again_at_the_next_lookup() -> None:
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ImportError("a built-in failed to import")

    reg = Registry("widget", "`factory()`", loader=flaky)
    with pytest.raises(ImportError, match="a built-in failed"):
        reg.names()
    assert reg.names() == [] and calls == [1, 1]
    reg.names()
    assert calls == [1, 1]


def test_a_failing_builtin_import_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import recdiff.registry as registries

    recdiff.available("scorer")
    monkeypatch.setattr(registries, "_loaded", False)
    monkeypatch.setitem(sys.modules, "recdiff.builtins", None)  # importing it now raises ImportError
    with pytest.raises(ImportError, match="recdiff.builtins"):
        registries._load_components()
    assert registries._loaded is False


def test_entry_summary_is_first_docstring_line() -> None:
    def documented() -> None:
        """First line here.

        Second paragraph.
        """

    def undocumented() -> None:
        pass

    assert Entry("k", "a", documented, BaseModel, "m").summary == "First line here."
    assert Entry("k", "b", undocumented, BaseModel, "m").summary == ""
    assert registry("scorer").get("dot").summary == "Inner product x_0 . e_i, as DiffuRec rounds."


class Gated(ConditioningBlock):
    """Test conditioning: a learned gate times the target, added before every block."""

    def __init__(self, hidden: int, num_blocks: int, dropout: float, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.gates = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(num_blocks))
        self.calls = 0

    def before_block(self, index, hidden, target, mask, noise):  # type: ignore[no-untyped-def]
        self.calls += 1
        return hidden + self.scale * self.gates[index](target).unsqueeze(1)


class GatedParams(BaseModel):
    scale: float = Field(1.0, gt=0)


def test_user_conditioning_block_in_a_spec() -> None:
    conditionings = registry("conditioning")
    name = "test_registry_gated"
    recdiff.register("conditioning", name, params=GatedParams)(Gated)
    try:
        assert name in recdiff.available("conditioning")
        spec = recdiff.load_spec(
            {
                "data": {"max_len": 6},
                "model": {
                    "hidden": 16,
                    "steps": 4,
                    "conditioning": {"name": name, "params": {"scale": 0.5}},
                    "backbone": {"name": "transformer", "params": {"blocks": 2, "heads": 2}},
                },
            }
        )
        assert spec.model.conditioning.params == {"scale": 0.5}
        with pytest.raises(RecdiffError, match="scale"):
            recdiff.load_spec({"model": {"conditioning": {"name": name, "params": {"scale": -1}}}})
        torch.manual_seed(0)
        model = recdiff.build_model(spec, num_items=9)
        assert isinstance(model.conditioning, Gated)
        assert model.conditioning.scale == 0.5 and len(model.conditioning.gates) == 2
        history = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
        loss = model.loss(history, torch.tensor([8, 9]))
        assert torch.isfinite(loss)
        loss.backward()
        assert model.conditioning.gates[0].weight.grad is not None
        assert model.conditioning.gates[0].weight.grad.abs().sum() > 0
        model.eval()
        calls = model.conditioning.calls
        with torch.no_grad():
            scores = model(history)
        assert scores.shape == (2, 9)
        assert model.conditioning.calls - calls == 2 * 4  # 2 blocks at each of the 4 reverse steps
    finally:
        conditionings._entries.pop(name, None)
    assert name not in recdiff.available("conditioning")
