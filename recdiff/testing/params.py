"""An entry's parameter model and its factory's keyword parameters must say the same thing.

A component's parameters are written twice, as the fields of its pydantic `Params` model
(what a spec may set, validated) and as the factory's keyword arguments with defaults (what
Python callers get); these checks keep the two from drifting apart.
"""

from __future__ import annotations

import inspect

from recdiff.registry import registry


def params_mismatches(kind: str, name: str) -> list[str]:
    """What differs between entry `name`'s parameter model and its factory's signature (empty when they agree).

    The factory must take the kind's context arguments, then exactly the model's fields as
    keyword parameters with the model's defaults.
    """
    components = registry(kind)
    entry = components.get(name)
    signature = inspect.signature(entry.factory)
    accepted = signature.parameters
    problems = [f"the factory does not take the context argument '{key}'" for key in components.context if key not in accepted]
    factory = {key: p.default for key, p in accepted.items() if key not in components.context}
    model = {key: field.get_default(call_default_factory=True) for key, field in entry.params.model_fields.items()}
    for key in sorted(factory.keys() - model.keys()):
        problems.append(f"the factory takes '{key}' but the parameter model has no such field")
    for key in sorted(model.keys() - factory.keys()):
        problems.append(f"the parameter model has '{key}' but the factory does not take it")
    for key in sorted(model.keys() & factory.keys()):
        if factory[key] is inspect.Parameter.empty:
            problems.append(f"the factory's '{key}' has no default; the model's is {model[key]!r}")
        elif factory[key] != model[key]:
            problems.append(f"'{key}' defaults to {factory[key]!r} in the factory but {model[key]!r} in the model")
    return problems


def check_params_match_factory(kind: str, name: str) -> None:
    """Raise AssertionError listing every difference between entry `name`'s parameter model and its factory."""
    problems = params_mismatches(kind, name)
    if problems:
        raise AssertionError(f"{kind} '{name}': " + "; ".join(problems) + ".")
