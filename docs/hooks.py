"""MkDocs hook: generate the spec and component references from the code.

`mkdocs.yml` loads this file through its `hooks:` key (MkDocs >= 1.4). Two placeholder lines
are replaced while pages are read:

* `<!-- spec-reference -->`: one table per spec section (field, type, default, description),
  built from the pydantic models in `recdiff.spec.models`.
* `<!-- component-reference -->`: per registry kind, its contract and every registered
  entry with its parameters, built from `recdiff.registry.REGISTRIES`.

So every description is written once, in the code, and the docs cannot drift from it.
The file lives in docs/ and is kept out of the built site by `exclude_docs`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

SPEC_PLACEHOLDER = "<!-- spec-reference -->"
COMPONENT_PLACEHOLDER = "<!-- component-reference -->"
COMPONENTS_PAGE = "components.md"


# --------------------------------------------------------------------------- helpers


def _text(text: str) -> str:
    """Docstring or description text as Markdown: `*` outside code spans is literal, not emphasis."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside backticks
        parts[i] = parts[i].replace("*", "\\*")
    return "`".join(parts)


def _cell(text: str) -> str:
    """Make text safe for one Markdown table cell: one line, pipes escaped outside code spans."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("|", "\\|")
    return "`".join(parts)


def _code(text: str) -> str:
    return f"`{text}`"


def _yaml(value: Any) -> str:
    """A value as it would be written in a YAML spec (`null`, `true`, `[5, 10, 20]`, `{name: x}`)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _doc_first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _doc_first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0].strip() if doc else ""


def _type_name(annotation: Any, link_models: bool) -> str:
    """A readable type: `int`, `str | None`, one of `auto`, `csv`, or a link to a section."""
    if annotation is type(None):
        return _code("null")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = annotation.__name__
        return f"[{name}](#{name.lower()})" if link_models else _code(name)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(_code(str(v)) for v in typing.get_args(annotation))
    if isinstance(annotation, type):
        return _code(annotation.__name__)
    text = str(annotation)
    for prefix in ("typing.", "pathlib.", "recdiff.spec.models."):
        text = text.replace(prefix, "")
    return _code(text)


def _constraints(field: FieldInfo) -> list[str]:
    """Bounds, lengths and patterns from a field's metadata, in words."""
    words = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            words.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            words.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen):
            words.append(f"at least {item.min_length} item(s)")
        elif isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {item.max_length} item(s)")
        elif getattr(item, "pattern", None):
            words.append(f"matches `{item.pattern}`")
    return words


def _type_cell(field: FieldInfo, link_models: bool) -> str:
    text = _type_name(field.annotation, link_models)
    bounds = _constraints(field)
    return text + (", " + ", ".join(bounds) if bounds else "")


def _default_cell(field: FieldInfo, slot_kind: str | None = None) -> str:
    """The default as YAML; a nested section links to its table, a component slot to its entry."""
    if field.is_required():
        return "required"
    if field.default is not PydanticUndefined:
        return _code(_yaml(field.default))
    value = field.default_factory()  # type: ignore[misc]
    if isinstance(value, BaseModel) and slot_kind is None:
        name = type(value).__name__
        return f"see [{name}](#{name.lower()})"
    text = _code(_yaml(value))
    if slot_kind is not None:
        return f"[{text}]({COMPONENTS_PAGE}#{slot_kind}-{value.name})"  # type: ignore[attr-defined]
    return text


def _fields_table(model: type[BaseModel], slot_kinds: dict[str, str] | None = None) -> list[str]:
    """field | type | default | description, one row per field; `slot_kinds` maps component slots to kinds."""
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for key, field in model.model_fields.items():
        default = _default_cell(field, (slot_kinds or {}).get(key))
        rows.append(
            f"| `{key}` | {_cell(_type_cell(field, link_models=True))} | {_cell(default)} "
            f"| {_cell(_text(field.description or ''))} |"
        )
    return rows


def _model_paths(root: type[BaseModel], prefix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """Every (section model, dotted key) reachable from `root`, depth first."""
    for key, field in root.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            path = f"{prefix}{key}"
            yield annotation, path
            yield from _model_paths(annotation, path + ".")


# --------------------------------------------------------------------------- spec reference


def spec_reference() -> str:
    """Markdown: one `###` section with a table per spec model."""
    from recdiff.spec import models
    from recdiff.spec.loading import COMPONENT_SLOTS

    sections = [
        models.RunSpec,
        models.DataSpec,
        models.SyntheticSpec,
        models.ModelSpec,
        models.TrainSpec,
        models.EvalSpec,
        models.ComponentSpec,
    ]
    paths: dict[type[BaseModel], list[str]] = {}
    for model, path in _model_paths(models.RunSpec):
        paths.setdefault(model, []).append(path)
    slot_kinds = {path.split(".", 1)[1]: kind for path, kind in COMPONENT_SLOTS.items()}

    out: list[str] = []
    for model in sections:
        name = model.__name__
        out += [f"### {name} {{#{name.lower()}}}", "", _text(_doc_first_paragraph(model)), ""]
        where = paths.get(model)
        if model is models.RunSpec:
            out += ["Where: the top level of the spec file.", ""]
        elif where:
            out += ["Where: " + ", ".join(_code(p) for p in where) + ".", ""]
        kinds = slot_kinds if model is models.ModelSpec else None
        out += _fields_table(model, slot_kinds=kinds)
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- component reference


def _params_table(params: type[BaseModel]) -> list[str]:
    if not params.model_fields:
        return ["No parameters: `params` must be empty or left out."]
    rows = ["| param | type | default | description |", "|---|---|---|---|"]
    for key, field in params.model_fields.items():
        rows.append(
            f"| `{key}` | {_cell(_type_cell(field, link_models=False))} | {_cell(_default_cell(field))} "
            f"| {_cell(_text(field.description or ''))} |"
        )
    return rows


def component_reference() -> str:
    """Markdown: per registry kind, its contract, context and every entry with its params."""
    from recdiff.registry import REGISTRIES
    from recdiff.spec.loading import COMPONENT_SLOTS

    slots = {kind: path for path, kind in COMPONENT_SLOTS.items()}
    out: list[str] = []
    for kind, registry in REGISTRIES.items():
        entries = registry.entries()
        out += [f"## {kind} {{#{kind}}}", ""]
        if kind in slots:
            out += [f"Spec slot: `{slots[kind]}`. Registered: " + ", ".join(
                f"[`{e.name}`](#{kind}-{e.name})" for e in entries) + ".", ""]
        out += [f"**Contract.** {_text(registry.contract)}", ""]
        base = registry.base
        out += [f"**Returns** an instance of `{base.__module__}.{base.__qualname__}`; anything else is refused.", ""]
        if registry.context:
            out += [
                "**Context** (passed by the assembling code, not set in the spec): "
                + ", ".join(_code(c) for c in registry.context) + ".",
                "",
            ]
        for entry in entries:
            out += [f"### `{entry.name}` {{#{kind}-{entry.name}}}", ""]
            summary = entry.summary or _doc_first_line(entry.factory)
            if summary:
                out += [_text(summary), ""]
            out += [f"Defined in `{entry.origin}`.", ""]
            out += _params_table(entry.params)
            out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- the hook


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each placeholder line with its generated reference."""
    if SPEC_PLACEHOLDER in markdown:
        markdown = markdown.replace(SPEC_PLACEHOLDER, spec_reference())
    if COMPONENT_PLACEHOLDER in markdown:
        markdown = markdown.replace(COMPONENT_PLACEHOLDER, component_reference())
    return markdown
