"""Plugin discovery through the `recdiff.plugins` entry-point group.

All entry-point handling lives here, so the rest of recdiff does not care which library finds
entry points (`entrypoints` today; it is in maintenance mode). Finding and loading are
separate steps, plugins load in a sorted order so runs repeat, and a plugin that fails to
load is recorded as broken instead of breaking recdiff (flake8's plugin finder does the same).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import entrypoints

from recdiff.errors import RecdiffError, describe
from recdiff.registry import origins
from recdiff.registry.origins import BrokenPlugin, registering_from

GROUP = "recdiff.plugins"
DISABLE_ENV = "RECDIFF_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: which distribution offers it and what it names."""

    distribution: str
    version: str
    name: str
    target: str

    @property
    def origin(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class PluginStatus:
    """A plugin after loading: `error` is empty when it loaded."""

    plugin: Plugin
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


#: What `load_plugins` found, in load order.
STATUS: list[PluginStatus] = []

#: sha256 of each file `import_code` imported, by absolute path, as it was when imported (env.json records them).
CODE_FILES: dict[str, str] = {}


def autoload_disabled() -> bool:
    """True when RECDIFF_DISABLE_PLUGIN_AUTOLOAD is set to a non-empty value other than 0."""
    return os.environ.get(DISABLE_ENV, "") not in ("", "0")


def find_plugins(path: list[str] | None = None) -> list[tuple[Plugin, entrypoints.EntryPoint]]:
    """Entry points of the group on `path` (default sys.path), sorted by distribution and name."""
    found = []
    for point in entrypoints.get_group_all(GROUP, path=path):
        distro = point.distro
        plugin = Plugin(
            distribution=distro.name.replace("_", "-") if distro else "?",  # dist-info folders use "_"
            version=distro.version if distro else "?",
            name=point.name,
            target=point.module_name + (f":{point.object_name}" if point.object_name else ""),
        )
        found.append((plugin, point))
    return sorted(found, key=lambda pair: (pair[0].distribution, pair[0].name))


def load_plugins(path: list[str] | None = None) -> list[PluginStatus]:
    """Import every plugin; each registers its components under its distribution as origin."""
    statuses = []
    for plugin, point in find_plugins(path):
        try:
            with registering_from(plugin.origin):
                point.load()
            status = PluginStatus(plugin)
        except Exception as error:  # a plugin may fail in any way; recdiff must keep working
            message = describe(error)
            status = PluginStatus(plugin, message)
            origins.BROKEN.append(BrokenPlugin(plugin.origin, plugin.name, message))
        statuses.append(status)
    STATUS.extend(statuses)
    return statuses


def import_code(path: str | Path) -> None:
    """Import a user's Python file so the components it registers can be used (spaCy's `--code`)."""
    path = Path(path)
    if path.is_dir():
        raise RecdiffError(
            f"--code '{path}' is a directory. Pass a Python file that registers components (--code once per file)."
        )
    if not path.is_file():
        raise RecdiffError(f"--code file '{path}' does not exist. Pass the path of a Python file that registers components.")
    module_name = f"recdiff_user_code_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RecdiffError(f"--code file '{path}' is not an importable Python file. Pass a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with registering_from(f"code {path}"):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a file calling sys.exit() must not end recdiff silently
        del sys.modules[module_name]
        raise RecdiffError(
            f"Importing --code file '{path}' failed ({describe(error)}). Fix the file; it should "
            f"only define and register components (`@recdiff.register(kind, name)`)."
        ) from None
    CODE_FILES[str(path.resolve())] = hashlib.sha256(path.read_bytes()).hexdigest()
