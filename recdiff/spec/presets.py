"""Named presets: partial specs that a spec's own fields override field by field."""

from __future__ import annotations

from typing import Any


def _paper_setup(conditioning: str, noise: str) -> dict[str, Any]:
    """The papers' diffusion settings (truncated-linear schedule, T = 32) with one conditioning and noise."""
    return {
        "model": {
            "steps": 32,
            "schedule": {"name": "trunc_lin"},
            "noise": {"name": noise},
            "conditioning": {"name": conditioning},
        }
    }


PRESETS: dict[str, dict[str, Any]] = {
    "diffurec": _paper_setup("additive", "gaussian"),
    "diffurecsys-v1": _paper_setup("cross_attention", "gaussian"),
    "diffurecsys": _paper_setup("cross_attention", "offset"),
    "sasrec": {
        "model": {
            "architecture": {"name": "sasrec"},
            "positional": True,
            "backbone": {"name": "transformer", "params": {"causal": True}},
        }
    },
}
