"""Named presets: partial specs that a spec's own fields override field by field."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "diffurec": {
        "model": {
            "steps": 32,
            "schedule": {"name": "trunc_lin"},
            "noise": {"name": "gaussian"},
            "conditioning": {"name": "additive"},
        }
    },
    "diffurecsys-v1": {
        "model": {
            "steps": 32,
            "schedule": {"name": "trunc_lin"},
            "noise": {"name": "gaussian"},
            "conditioning": {"name": "cross_attention"},
        }
    },
    "diffurecsys": {
        "model": {
            "steps": 32,
            "schedule": {"name": "trunc_lin"},
            "noise": {"name": "offset"},
            "conditioning": {"name": "cross_attention"},
        }
    },
}
