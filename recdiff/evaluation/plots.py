"""PNG figures of an analysis: group metrics as bars, representations projected to 2-D.

matplotlib (and, for t-SNE, scikit-learn) are optional: in a source checkout,
``pip install -e ".[plot]"`` (or ``".[tsne]"`` for both). Without scikit-learn the projection is PCA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recdiff.errors import RecdiffError
from recdiff.evaluation.analysis import GroupMetrics


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RecdiffError(
            "The analysis figures need matplotlib, which is not installed. Install it with `pip install matplotlib` "
            "(in a recdiff source checkout: `pip install -e \".[plot]\"`), or pass --no-plots; the tables and "
            "analysis.json do not need it."
        ) from None
    return plt


def plot_groups(groups: dict[str, list[GroupMetrics]], metrics: list[str], path: Path, title: str) -> Path:
    """One bar panel per grouping (items, lengths), one bar per group and metric."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for axis, (grouping, rows) in zip(axes[0], groups.items()):
        rows = [row for row in rows if row.count]
        positions = np.arange(len(rows))
        width = 0.8 / len(metrics)
        for i, metric in enumerate(metrics):
            axis.bar(positions + i * width, [row.metrics[metric] for row in rows], width, label=metric.upper())
        axis.set_xticks(positions + width * (len(metrics) - 1) / 2)
        axis.set_xticklabels([f"{row.name}\n(n={row.count:,})" for row in rows], fontsize=8)
        axis.set_title(f"by {grouping}")
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def project_2d(points: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """2-D coordinates of ``points`` [n, H]: t-SNE when scikit-learn is installed, else PCA."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        centred = points - points.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        return centred @ components[:2].T, "PCA"
    perplexity = min(30.0, max(2.0, (len(points) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points), "t-SNE"


def plot_representations(points: np.ndarray, head: np.ndarray, path: Path, title: str, seed: int) -> str:
    """Scatter of the projected representations, head-item targets and long-tail targets coloured apart."""
    plt = _pyplot()
    coordinates, method = project_2d(points.astype(np.float64), seed)
    figure, axis = plt.subplots(figsize=(6, 6))
    for mask, label, colour in ((~head, "long-tail target", "tab:blue"), (head, "head target", "tab:orange")):
        axis.scatter(coordinates[mask, 0], coordinates[mask, 1], s=4, alpha=0.6, label=label, c=colour)
    axis.set_title(f"{title} ({method})")
    axis.legend(markerscale=4)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return method
