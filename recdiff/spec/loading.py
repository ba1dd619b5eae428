"""Load, override, merge presets into and validate specs, with errors that name each field path."""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from recdiff.errors import RecdiffError, SpecError
from recdiff.registry import format_validation_error, registry
from recdiff.spec.models import ComponentSpec, ModelSpec, RunSpec
from recdiff.spec.presets import PRESETS

#: Spec sections holding component slots, and the registry kind of each slot.
COMPONENT_SLOTS: dict[str, str] = {
    "model.architecture": "model",
    "model.schedule": "schedule",
    "model.noise": "noise",
    "model.timestep": "timestep",
    "model.conditioning": "conditioning",
    "model.backbone": "backbone",
    "model.denoiser": "denoiser",
    "model.sampler": "sampler",
    "model.scorer": "scorer",
    "model.loss_scorer": "scorer",
    "model.guidance": "guidance",
}


class DuplicateKey(yaml.YAMLError):
    """A YAML mapping gives one key twice (PyYAML would keep the last value without a word)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the safe loader reports an unhashable key itself
            line = key_node.start_mark.line + 1
            if key in lines:
                raise DuplicateKey(f"the key '{key}' is given twice (line {lines[key]}, then line {line})")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """Parse YAML text safely (plain values only).

    Raises:
        DuplicateKey: A mapping gives one key twice.
        yaml.YAMLError: The text is not YAML.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML spec file into a dict, with a clear error for missing or malformed files."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"Spec file '{path}' does not exist. Check the path, or start from examples/quickstart.yaml.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"Spec file '{path}' could not be read ({error}). Make sure it is a readable UTF-8 YAML file.") from None
    try:
        data = parse_yaml(text)
    except DuplicateKey as error:
        raise SpecError(
            f"Spec file '{path}': {error}; YAML would silently keep only the last value. Remove the other one."
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(f"Spec file '{path}' is not valid YAML: {error}. Fix the syntax at the position shown.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(
            f"Spec file '{path}' must hold a mapping of sections (data, model, train, eval), "
            f"but its top level is a {type(data).__name__}."
        )
    return data


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.path=value` override in place; the value is parsed as YAML (so 3 is an int)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"Override '{assignment}' is not of the form field.path=value, e.g. train.epochs=3.")
    try:
        value = parse_yaml(text)
    except DuplicateKey as error:
        raise SpecError(f"Override '{assignment}': {error}. Give each key once.") from None
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError(
                f"Override '{assignment}' goes through '{'.'.join(parts[: depth + 1])}', which is not a section."
            )
        node = child
    if parts[-1] == "name" and node.get("name", value) != value:
        node.pop("params", None)  # another component: the old one's params would not fit it
    node[parts[-1]] = value


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` onto `base`. A component block naming another component replaces the base block."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = merged.get(key)
        same_component = not (isinstance(old, dict) and "name" in old and isinstance(value, dict) and
                              "name" in value and value["name"] != old["name"])
        if isinstance(old, dict) and isinstance(value, Mapping) and same_component:
            merged[key] = merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _with_preset(raw: dict[str, Any]) -> dict[str, Any]:
    name = raw.get("preset")
    if name is None:
        return raw
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(str(name), PRESETS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SpecError(f"preset: unknown preset '{name}'.{hint} Available: {', '.join(sorted(PRESETS))}.")
    return merge(PRESETS[name], raw)


def _with_default_names(raw: dict[str, Any]) -> dict[str, Any]:
    """Give a component block that sets only params (e.g. `--set model.backbone.params.blocks=1`)
    the slot's default component name, so it tunes the default instead of failing as nameless."""
    model = raw.get("model")
    if not isinstance(model, dict):
        return raw
    for path in COMPONENT_SLOTS:
        field = path.split(".")[1]
        slot = model.get(field)
        default = ModelSpec.model_fields[field].get_default(call_default_factory=True)
        if isinstance(slot, dict) and "name" not in slot and default is not None:
            model[field] = {"name": default.name, **slot}
    return raw


def _component_errors(spec: RunSpec) -> list[str]:
    """Validate every component slot's params against its registered entry (filling in defaults),
    a named dataset's name against the `dataset` registry, so a typo fails before any download, and
    the loggers' names against the `logger` registry."""
    errors = []
    for path, kind in COMPONENT_SLOTS.items():
        section, field = path.split(".")
        slot: ComponentSpec | None = getattr(getattr(spec, section), field)
        if slot is None:  # an optional slot left empty
            continue
        reg = registry(kind)
        try:
            entry = reg.get(slot.name)
        except RecdiffError as error:
            errors.append(f"{path}.name: {error}")
            continue
        try:
            params: BaseModel = entry.params.model_validate(slot.params)
        except ValidationError as error:
            errors.extend(format_validation_error(error, f"{path}.params"))
            continue
        slot.params = params.model_dump(mode="json")
    if spec.data.name is not None:
        try:
            registry("dataset").get(spec.data.name)
        except RecdiffError as error:
            errors.append(f"data.name: {error}")
    for index, name in enumerate(spec.train.loggers):
        if name != "jsonl":  # metrics.jsonl, written by the run directory itself
            try:
                registry("logger").get(name)
            except RecdiffError as error:
                errors.append(f"train.loggers.{index}: {error}")
    return errors


def _raise(errors: Iterable[str], source: str) -> None:
    lines = list(errors)
    if lines:
        raise SpecError(
            f"The spec {source}is invalid: " + "; ".join(line.rstrip(".") for line in lines) + ". "
            "Fix these fields (`recdiff spec schema` lists every field and `recdiff plugins KIND` every component)."
        )


def load_spec(
    source: str | Path | Mapping[str, Any] | RunSpec | None = None, overrides: Iterable[str] = ()
) -> RunSpec:
    """Build a validated RunSpec from a YAML path, a dict or a RunSpec, after `field=value` overrides.

    The preset (if any) is merged under the spec's own fields, and every component's params
    are validated against its registered entry and completed with defaults.
    """
    label = ""
    if isinstance(source, RunSpec):
        raw = source.model_dump(mode="json", exclude_unset=True)
    elif isinstance(source, (str, Path)):
        raw, label = read_yaml(source), f"'{source}' "
    else:
        raw = copy.deepcopy(dict(source or {}))
    for assignment in overrides:
        apply_override(raw, assignment)
    raw = _with_default_names(_with_preset(raw))
    try:
        spec = RunSpec.model_validate(raw)
    except ValidationError as error:
        _raise(format_validation_error(error), label)
    _raise(_component_errors(spec), label)
    return spec


def dump_spec(spec: RunSpec) -> str:
    """The fully resolved spec as YAML (defaults and preset expanded)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
