"""Print `name==floor` for every direct dependency in pyproject.toml, one per line.

CI installs exactly these into a second environment, so each `>=` floor the package declares
is a version that was installed and run, not a guess; the floors are written once, in pyproject.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib  # Python 3.11+, as CI runs; the package itself supports 3.10

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)$")
FLOOR = re.compile(r">=\s*([0-9][0-9A-Za-z.]*)")


def floors(pyproject: Path) -> list[str]:
    """`name==version` for each dependency, the version being its `>=` bound; one without a floor is an error."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = REQUIREMENT.match(requirement.split(";")[0])
        floor = FLOOR.search(match.group(2)) if match else None
        if match is None or floor is None:
            sys.exit(f"{pyproject}: dependency {requirement!r} has no '>=' floor to test")
        pins.append(f"{match.group(1)}=={floor.group(1)}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(Path(__file__).resolve().parent.parent / "pyproject.toml")))
