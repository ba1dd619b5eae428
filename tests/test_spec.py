"""Tests of spec loading: files, dicts and overrides; errors naming field paths; presets; defaults; schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import recdiff
from recdiff import RecdiffError, RunSpec, load_spec
from recdiff.errors import SpecError
from recdiff.spec import PRESETS, apply_override, dump_spec, merge


def spec_error(source: Any = None, overrides: tuple[str, ...] = ()) -> str:
    """Load a spec that must be invalid; return its error message."""
    with pytest.raises(SpecError) as info:
        load_spec(source, overrides)
    return str(info.value)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Sources


def test_loads_from_yaml_file_dict_overrides_and_runspec(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\nseed: 3\ntrain:\n  epochs: 5\nmodel:\n  hidden: 32\n")
    from_file = load_spec(path)
    from_str_path = load_spec(str(path))
    from_dict = load_spec({"name": "demo", "seed": 3, "train": {"epochs": 5}, "model": {"hidden": 32}})
    from_overrides = load_spec(None, ["name=demo", "seed=3", "train.epochs=5", "model.hidden=32"])
    assert from_file == from_str_path == from_dict == from_overrides
    assert from_file.train.epochs == 5 and from_file.model.hidden == 32 and from_file.seed == 3
    assert load_spec(from_file) == from_file


def test_overrides_apply_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  epochs: 5\n  lr: 0.01\n")
    spec = load_spec(path, ["train.epochs=7"])
    assert spec.train.epochs == 7
    assert spec.train.lr == 0.01


def test_load_spec_does_not_mutate_the_callers_dict() -> None:
    raw = {"preset": "diffurecsys", "model": {"backbone": {"params": {"blocks": 1}}}}
    before = json.dumps(raw, sort_keys=True)
    load_spec(raw, ["train.epochs=2"])
    assert json.dumps(raw, sort_keys=True) == before


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, "")) == load_spec({})


# Unknown keys


@pytest.mark.parametrize(
    "raw, path",
    [
        ({"nmae": "x"}, "nmae"),
        ({"model": {"hiden": 64}}, "model.hiden"),
        ({"train": {"epoch": 3}}, "train.epoch"),
        ({"data": {"synthetic": {"userz": 10}}}, "data.synthetic.userz"),
        ({"model": {"conditioning": {"name": "additive", "param": {}}}}, "model.conditioning.param"),
    ],
)
def test_unknown_keys_are_errors_naming_the_path(raw: dict, path: str) -> None:
    message = spec_error(raw)
    assert f"{path}:" in message
    assert "not permitted" in message


def test_unknown_key_in_file_names_path_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  hiden: 64\n", name="typo.yaml")
    message = spec_error(path)
    assert "model.hiden" in message
    assert "typo.yaml" in message


def test_unknown_key_from_override_names_the_path() -> None:
    assert "eval.metrc" in spec_error(None, ["eval.metrc=mrr"])


# Types and ranges


@pytest.mark.parametrize(
    "overrides, path",
    [
        (["train.epochs=many"], "train.epochs"),
        (["model.hidden=[1, 2]"], "model.hidden"),
        (["train.lr=fast"], "train.lr"),
        (["model.positional=perhaps"], "model.positional"),
        (["model.init=zeros"], "model.init"),
    ],
)
def test_wrong_types_name_the_path(overrides: list[str], path: str) -> None:
    assert f"{path}:" in spec_error(None, overrides)


def test_wrong_type_in_yaml_file(tmp_path: Path) -> None:
    message = spec_error(write(tmp_path, 'train:\n  epochs: "many"\n'))
    assert "train.epochs:" in message
    assert "integer" in message


@pytest.mark.parametrize(
    "overrides, path",
    [
        (["model.dropout=1.5"], "model.dropout"),
        (["model.emb_dropout=-0.1"], "model.emb_dropout"),
        (["train.epochs=0"], "train.epochs"),
        (["train.lr=0"], "train.lr"),
        (["model.steps=0"], "model.steps"),
        (["data.synthetic.follow=2"], "data.synthetic.follow"),
        (["eval.ks=[0, 10]"], "eval.ks"),
        (["train.device=tpu"], "train.device"),
        (["name=has space"], "name"),
    ],
)
def test_out_of_range_values_name_the_path(overrides: list[str], path: str) -> None:
    assert f"{path}:" in spec_error(None, overrides)


def test_dropout_message_says_the_bound() -> None:
    message = spec_error({"model": {"dropout": 1.5}})
    assert "model.dropout" in message and "less than 1" in message


def test_several_errors_are_reported_together() -> None:
    message = spec_error({"model": {"hiden": 1, "dropout": 2.0}, "train": {"epochs": "x"}})
    for path in ("model.hiden", "model.dropout", "train.epochs"):
        assert path in message


def test_eval_metric_must_be_computed() -> None:
    message = spec_error({"eval": {"metric": "ndcg@7", "ks": [5, 10, 20]}})
    assert "eval" in message and "ndcg@7" in message
    assert "recall@10" in spec_error({"eval": {"metric": "recall@10"}})
    assert load_spec({"eval": {"metric": "ndcg@7", "ks": [7]}}).eval.metric == "ndcg@7"
    assert load_spec({"eval": {"metric": "mrr"}}).eval.metric == "mrr"


@pytest.mark.parametrize(("typed", "canonical"), [("NDCG@10", "ndcg@10"), ("hit@5", "hr@5"), ("HR@20", "hr@20"),
                                                  ("Hit@10", "hr@10"), ("MRR", "mrr"), (" ndcg@05 ", "ndcg@5")])
def test_eval_metric_is_read_in_any_case_with_hit_as_an_alias(typed: str, canonical: str) -> None:
    assert load_spec({}, [f"eval.metric={typed}"]).eval.metric == canonical


def test_eval_metric_alias_still_needs_its_k_in_ks() -> None:
    message = spec_error({"eval": {"metric": "Hit@7", "ks": [5, 10]}})
    assert "hr@7" in message and "ks" in message
    assert "'hit@K'" in spec_error({"eval": {"metric": "hit@0"}})


def test_eval_ks_are_sorted_and_deduplicated() -> None:
    assert load_spec({"eval": {"ks": [20, 5, 5, 10]}}).eval.ks == [5, 10, 20]


# Components


def test_unknown_component_names_the_slot_lists_names_and_suggests() -> None:
    message = spec_error({"model": {"conditioning": {"name": "cross_atention"}}})
    assert "model.conditioning.name" in message
    assert "Did you mean 'cross_attention'?" in message
    assert "additive" in message and "cross_attention" in message
    assert ".." not in message  # no doubled full stop where messages are joined


def test_the_optional_loss_scorer_slot_is_empty_by_default_and_checked_when_set() -> None:
    assert load_spec({}).model.loss_scorer is None
    assert load_spec({}, ("model.loss_scorer.name=cosine",)).model.loss_scorer.params == {"temperature": 1.0}
    assert "model.loss_scorer.name: Field required" in spec_error({}, ("model.loss_scorer.params.temperature=0.1",))
    assert "Did you mean 'cosine'?" in spec_error({}, ("model.loss_scorer.name=cosin",))
    message = spec_error({}, ("model.loss_scorer.name=cosine", "model.loss_scorer.params.temperature=0"))
    assert "model.loss_scorer.params.temperature" in message and "greater than 0" in message


@pytest.mark.parametrize("slot", ["schedule", "noise", "timestep", "conditioning", "backbone", "sampler", "scorer"])
def test_every_component_slot_checks_its_name(slot: str) -> None:
    message = spec_error({"model": {slot: {"name": "no_such_component"}}})
    assert f"model.{slot}.name" in message
    for name in recdiff.available(slot):
        assert name in message


def test_bad_component_param_value_names_the_full_path() -> None:
    message = spec_error({"model": {"backbone": {"name": "transformer", "params": {"heads": 0}}}})
    assert "model.backbone.params.heads" in message


def test_unknown_component_param_names_the_full_path() -> None:
    message = spec_error({"model": {"backbone": {"name": "transformer", "params": {"layers": 2}}}})
    assert "model.backbone.params.layers" in message


def test_component_param_override_keeps_the_default_component() -> None:
    """`--set model.backbone.params.blocks=1` tunes the default backbone (it used to fail: name required)."""
    spec = load_spec(None, ["model.backbone.params.blocks=1"])
    assert spec.model.backbone.name == "transformer"
    assert spec.model.backbone.params["blocks"] == 1
    assert "model.backbone.params.heads" in spec_error(None, ["model.backbone.params.heads=0"])


def test_component_params_are_completed_with_defaults() -> None:
    spec = load_spec({"model": {"backbone": {"name": "transformer", "params": {"blocks": 2}}}})
    assert spec.model.backbone.params["blocks"] == 2
    assert spec.model.backbone.params["heads"] == 4
    assert set(spec.model.conditioning.params) == {"delta"}


# Presets


def test_default_spec_is_diffurec() -> None:
    model = load_spec({}).model
    assert (model.conditioning.name, model.noise.name, model.schedule.name, model.steps) == (
        "additive", "gaussian", "trunc_lin", 32,
    )


@pytest.mark.parametrize(
    "preset, conditioning, noise",
    [
        ("diffurec", "additive", "gaussian"),
        ("diffurecsys-v1", "cross_attention", "gaussian"),
        ("diffurecsys", "cross_attention", "offset"),
    ],
)
def test_presets_resolve_to_their_components(preset: str, conditioning: str, noise: str) -> None:
    spec = load_spec({"preset": preset})
    assert spec.preset == preset
    assert spec.model.conditioning.name == conditioning
    assert spec.model.noise.name == noise
    assert spec.model.schedule.name == "trunc_lin"
    assert spec.model.steps == 32
    assert spec.model.sampler.name == "ddpm"
    assert spec.model.backbone.name == "transformer"


def test_offset_noise_preset_gets_its_default_params() -> None:
    params = load_spec({"preset": "diffurecsys"}).model.noise.params
    assert {"strength", "delta_c"} <= set(params)


def test_spec_overrides_preset_field_by_field() -> None:
    spec = load_spec(
        {"preset": "diffurecsys", "model": {"steps": 10, "noise": {"params": {"strength": 0.2}}}}
    )
    assert spec.model.steps == 10
    assert spec.model.noise.name == "offset"  # kept from the preset
    assert spec.model.noise.params["strength"] == 0.2
    assert spec.model.noise.params["delta_c"] == 1.0  # default of the preset's component
    assert spec.model.conditioning.name == "cross_attention"
    assert spec.model.schedule.name == "trunc_lin"


def test_override_beats_preset() -> None:
    spec = load_spec({"preset": "diffurecsys"}, ["model.conditioning.name=additive", "model.steps=5"])
    assert spec.model.conditioning.name == "additive"
    assert set(spec.model.conditioning.params) == {"delta"}
    assert spec.model.steps == 5
    assert spec.model.noise.name == "offset"


def test_another_component_replaces_the_preset_block_with_its_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        PRESETS, "tuned", {"model": {"conditioning": {"name": "cross_attention", "params": {"heads": 2}}}}
    )
    assert load_spec({"preset": "tuned"}).model.conditioning.params["heads"] == 2
    # Same component: the preset's params are merged under the spec's.
    same = load_spec({"preset": "tuned", "model": {"conditioning": {"params": {"delta": 0.01}}}})
    assert same.model.conditioning.params["heads"] == 2 and same.model.conditioning.params["delta"] == 0.01
    # Another component: no leftover `heads` (additive has no such param, so a leftover would be an error).
    spec = load_spec({"preset": "tuned", "model": {"conditioning": {"name": "additive"}}})
    assert spec.model.conditioning.name == "additive"
    assert set(spec.model.conditioning.params) == {"delta"}


def test_merge_replaces_a_block_naming_another_component() -> None:
    base = {"model": {"noise": {"name": "offset", "params": {"strength": 0.5}}, "steps": 32}}
    assert merge(base, {"model": {"noise": {"name": "gaussian"}}}) == {
        "model": {"noise": {"name": "gaussian"}, "steps": 32}
    }
    assert merge(base, {"model": {"noise": {"params": {"delta_c": 2.0}}}})["model"]["noise"] == {
        "name": "offset", "params": {"strength": 0.5, "delta_c": 2.0}
    }
    assert base["model"]["noise"]["params"] == {"strength": 0.5}  # inputs untouched


def test_unknown_preset_lists_presets() -> None:
    message = spec_error({"preset": "diffurecsys2"})
    assert "diffurecsys2" in message
    for name in ("diffurec", "diffurecsys", "diffurecsys-v1"):
        assert name in message
    assert "preset" in message


def test_preset_from_yaml_file(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "preset: diffurecsys\nmodel:\n  hidden: 16\n"))
    assert spec.model.noise.name == "offset" and spec.model.hidden == 16


# Overrides


def test_override_values_are_parsed_as_yaml() -> None:
    raw: dict[str, Any] = {}
    for assignment in ("train.epochs=3", "train.lr=0.5", "model.positional=true", "eval.ks=[1, 2]",
                       "train.grad_clip=null", "name=hello", "data.path=a/b.inter"):
        apply_override(raw, assignment)
    assert raw == {
        "train": {"epochs": 3, "lr": 0.5, "grad_clip": None},
        "model": {"positional": True},
        "eval": {"ks": [1, 2]},
        "name": "hello",
        "data": {"path": "a/b.inter"},
    }
    assert isinstance(raw["train"]["epochs"], int)


def test_override_keeps_text_after_the_first_equals_sign() -> None:
    raw: dict[str, Any] = {}
    apply_override(raw, "name=a=b")
    assert raw == {"name": "a=b"}


@pytest.mark.parametrize("assignment", ["noequals", "=3", " =3"])
def test_malformed_overrides_are_rejected(assignment: str) -> None:
    message = spec_error(None, [assignment])
    assert assignment.strip() in message or assignment in message
    assert "field.path=value" in message


def test_override_through_a_value_is_rejected() -> None:
    message = spec_error({"train": {"epochs": 3}}, ["train.epochs.max=4"])
    assert "train.epochs" in message and "not a section" in message


# Files


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "model: [unclosed\n  hidden: 3\n", name="broken.yaml")
    with pytest.raises(RecdiffError) as info:
        load_spec(path)
    assert isinstance(info.value, SpecError)
    assert "broken.yaml" in str(info.value)
    assert "YAML" in str(info.value)


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("just text\n", "str"), ("3\n", "int")])
def test_non_mapping_top_level_names_the_file(tmp_path: Path, text: str, kind: str) -> None:
    message = spec_error(write(tmp_path, text, name="flat.yaml"))
    assert "flat.yaml" in message
    assert kind in message


def test_missing_spec_file(tmp_path: Path) -> None:
    message = spec_error(tmp_path / "nowhere.yaml")
    assert "nowhere.yaml" in message and "does not exist" in message


def test_unreadable_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\xff")
    assert "binary.yaml" in spec_error(path)


def test_directory_as_spec_file(tmp_path: Path) -> None:
    assert str(tmp_path) in spec_error(tmp_path)


# Defaults


def test_defaults_follow_the_papers() -> None:
    spec = load_spec({})
    t, m, d, e = spec.train, spec.model, spec.data, spec.eval
    assert (t.lr, t.weight_decay, t.lr_step, t.lr_gamma) == (1e-3, 1e-4, 30, 0.1)
    assert (t.epochs, t.batch_size) == (41, 1024)
    assert (m.dropout, m.emb_dropout, m.hidden, m.steps) == (0.1, 0.3, 128, 32)
    assert (m.backbone.name, m.backbone.params["blocks"], m.backbone.params["heads"]) == ("transformer", 4, 4)
    assert m.init == "xavier" and m.positional is False
    assert (m.schedule.name, m.noise.name, m.conditioning.name, m.sampler.name) == (
        "trunc_lin", "gaussian", "additive", "ddpm",
    )
    assert d.max_len == 100 and d.path is None
    assert e.ks == [5, 10, 20] and e.metric == "ndcg@10"
    assert spec.preset is None


# Dump, schema


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"preset": "diffurecsys", "model": {"hidden": 16}},
        {"preset": "diffurecsys", "model": {"conditioning": {"name": "additive"}}},
        {"data": {"path": "some/data.inter"}, "train": {"grad_clip": 1.0, "patience": None}, "eval": {"ks": [1, 3]}, "seed": 0},
    ],
)
def test_dump_spec_loads_back_to_an_equal_spec(tmp_path: Path, raw: dict) -> None:
    spec = load_spec(raw, ["eval.metric=mrr"])
    text = dump_spec(spec)
    assert isinstance(yaml.safe_load(text), dict)
    assert load_spec(write(tmp_path, text)) == spec
    assert load_spec(yaml.safe_load(text)) == spec


def test_dump_spec_expands_preset_and_defaults() -> None:
    dumped = yaml.safe_load(dump_spec(load_spec({"preset": "diffurecsys"})))
    assert dumped["preset"] == "diffurecsys"
    assert dumped["model"]["conditioning"]["name"] == "cross_attention"
    assert dumped["model"]["noise"]["name"] == "offset"
    assert dumped["train"]["epochs"] == 41


def test_schema_is_json_and_every_field_has_a_description() -> None:
    schema = json.loads(json.dumps(RunSpec.model_json_schema()))
    assert schema["type"] == "object"
    assert {"data", "model", "train", "eval", "seed", "preset", "name"} <= set(schema["properties"])
    seen: list[str] = []

    def walk(node: dict, where: str) -> None:
        for name, field in node.get("properties", {}).items():
            seen.append(f"{where}{name}")
            assert field.get("description"), f"{where}{name} has no description"

    walk(schema, "")
    for name, definition in schema.get("$defs", {}).items():
        walk(definition, f"{name}.")
    assert {"TrainSpec.epochs", "ModelSpec.dropout", "ComponentSpec.params", "SyntheticSpec.users"} <= set(seen)
    assert len(seen) > 40


def test_schema_forbids_unknown_keys() -> None:
    schema = RunSpec.model_json_schema()
    assert schema.get("additionalProperties") is False
    for definition in schema["$defs"].values():
        assert definition.get("additionalProperties") is False


def test_override_naming_another_component_drops_its_params() -> None:
    raw = {"model": {"noise": {"name": "offset", "params": {"strength": 0.2}}}}
    spec = load_spec(raw, ["model.noise.name=gaussian"])
    assert spec.model.noise.name == "gaussian" and spec.model.noise.params == {}
    spec = load_spec(raw, ["model.noise.name=offset", "model.noise.params.delta_c=2.0"])
    assert spec.model.noise.params == {"strength": 0.2, "delta_c": 2.0}
