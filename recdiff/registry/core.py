"""The one registry mechanism every component kind uses.

An entry is a factory (class or function) plus a pydantic model of its parameters. A spec
names an entry and passes parameters; the registry validates them against that model
before anything is built, and the kind's *context* (values the assembling code supplies,
such as the model width) is passed beside them.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from recdiff.errors import RegistryError
from recdiff.registry.origins import broken_plugins_note, current_origin

T = TypeVar("T")

STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
"""What every parameter model enforces: unknown keys and non-finite numbers are errors."""


class Params(BaseModel):
    """Base of component parameter models: unknown keys and non-finite numbers are errors."""

    model_config = STRICT


class NoParams(Params):
    """Parameter model of an entry that takes no parameters."""


@dataclass(frozen=True)
class Entry:
    """A registered component: its factory, parameter model and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    origin: str

    @property
    def summary(self) -> str:
        """First line of the factory's docstring, for listings."""
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""


def _params_model(factory: Callable[..., Any], params: type[BaseModel] | None) -> type[BaseModel]:
    model = params if params is not None else getattr(factory, "Params", None)
    if model is None:
        return NoParams
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise RegistryError(f"The parameter model of {factory!r} must be a pydantic BaseModel subclass, got {model!r}.")
    if any(model.model_config.get(key) != value for key, value in STRICT.items()):
        model = type(model.__name__, (model,), {"model_config": ConfigDict(**{**model.model_config, **STRICT})})
    return model


def _module_origin(factory: Callable[..., Any]) -> str:
    """`recdiff` for built-ins, else the module that defined the factory."""
    module = getattr(factory, "__module__", None) or "?"
    return "recdiff" if module.split(".")[0] == "recdiff" else module


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into lines of `field.path: message`."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"{path or '(top level)'}: {item['msg']}")
    return lines


class Registry(Generic[T]):
    """Named components of one kind, each built as an instance of the kind's base class.

    Args:
        kind: The kind's name, as used in specs and `recdiff plugins KIND`.
        contract: What a factory receives and returns, shown in docs and listings.
        context: Names of the keyword arguments the assembling code passes to every factory
            of this kind, beside the validated parameters.
        loader: Called once before the first look-up, so plugins can register lazily.
        base: The class every built component must be an instance of, or its import path
            `"module:Class"` when the class's own module registers components (an import cycle
            otherwise). `create` refuses anything else, so its callers can rely on the type.
    """

    def __init__(
        self,
        kind: str,
        contract: str,
        context: tuple[str, ...] = (),
        loader: Callable[[], None] | None = None,
        base: type[Any] | str = object,
    ) -> None:
        self.kind = kind
        self.contract = contract
        self.__doc__ = f"Registry of `{kind}` components. Contract: {contract}"
        self.context = context
        self._entries: dict[str, Entry] = {}
        self._conflicts: dict[str, list[str]] = {}
        self._loader = loader
        self._base = base

    @property
    def base(self) -> type[T]:
        """The class every component of this kind is an instance of (imported on first use)."""
        if isinstance(self._base, str):
            module, _, name = self._base.partition(":")
            self._base = getattr(importlib.import_module(module), name)
        return cast("type[T]", self._base)

    def _ensure_loaded(self) -> None:
        """Run the loader once; if it fails, the next look-up runs it again (the failure is not cached)."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            try:
                loader()
            except BaseException:
                self._loader = loader
                raise

    def register(
        self, name: str, *, params: type[BaseModel] | None = None, origin: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator adding a factory under `name`; its parameter model is `params` or `factory.Params`.

        Registering again from the same origin replaces the entry (a re-run script or cell).
        Two origins claiming one name make the name unusable until one is removed: looking it
        up fails with a message naming both, rather than silently picking one.
        """

        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            where = origin or current_origin() or _module_origin(factory)
            existing = self._entries.get(name)
            if existing is not None and existing.origin != where:
                self._conflicts.setdefault(name, [existing.origin])
                if where not in self._conflicts[name]:
                    self._conflicts[name].append(where)
                return factory
            self._entries[name] = Entry(self.kind, name, factory, _params_model(factory, params), where)
            return factory

        return decorate

    def conflicts(self) -> dict[str, list[str]]:
        """Names claimed by more than one origin, with every origin that claims them."""
        self._ensure_loaded()
        return {name: list(origins) for name, origins in self._conflicts.items()}

    def names(self) -> list[str]:
        """Sorted names of every registered entry."""
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name."""
        return [self._entries[name] for name in self.names()]

    def get(self, name: str) -> Entry:
        """The entry called `name`, or a helpful error listing the alternatives."""
        self._ensure_loaded()
        if name in self._conflicts:
            raise RegistryError(
                f"Two or more {self.kind} components are registered as '{name}': from "
                f"{' and from '.join(self._conflicts[name])}. A name must mean one thing: uninstall the plugin "
                f"you do not want, or ask its author to rename its component."
            )
        try:
            return self._entries[name]
        except KeyError:
            available = sorted(self._entries)
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise RegistryError(
                f"Unknown {self.kind} component '{name}'.{hint} Available: {', '.join(available) or '(none)'}. "
                f"If it comes from a plugin, check that the plugin is installed (`recdiff plugins {self.kind}`)."
                f"{broken_plugins_note()}"
            ) from None

    def validate(self, name: str, params: Mapping[str, Any] | None = None, prefix: str = "") -> BaseModel:
        """Check `params` against the entry's parameter model; errors name each field path."""
        entry = self.get(name)
        try:
            return entry.params.model_validate(dict(params or {}))
        except ValidationError as error:
            where = prefix or f"{self.kind} '{name}' params"
            lines = format_validation_error(error, where)
            raise RegistryError(
                f"Invalid parameters for {self.kind} component '{name}': " + "; ".join(lines) + ". "
                f"Accepted parameters: {', '.join(entry.params.model_fields) or '(none)'}."
            ) from None

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build entry `name`: context keywords go through as given, the rest are validated parameters.

        Raises:
            RegistryError: A context argument is missing, a parameter is invalid, or the factory
                returned something that is not an instance of the kind's base class.
        """
        context = {key: kwargs.pop(key) for key in self.context if key in kwargs}
        missing = [key for key in self.context if key not in context]
        if missing:
            raise RegistryError(
                f"Creating {self.kind} '{name}' needs the context argument(s) {', '.join(missing)} "
                f"(contract: {self.contract})."
            )
        params = self.validate(name, kwargs)
        entry = self.get(name)
        built = entry.factory(**context, **params.model_dump())
        base = self.base
        if not isinstance(built, base):
            raise RegistryError(
                f"The {self.kind} component '{name}' (from {entry.origin}) returned a {type(built).__qualname__}, "
                f"not a {base.__module__}.{base.__qualname__}. A {self.kind} factory must return one "
                f"(contract: {self.contract}); fix the component, or ask its author to."
            )
        return built

    def __contains__(self, name: str) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"
