"""Grids of sample images per generation, from what the ``image_samples`` probe kept in a run.

``tile`` lays a batch of images out as one array (pure numpy); ``generation_grids`` draws one grid
per chosen generation side by side, so the report shows the digits thinning out over the loop.
The HTML report can embed the figure with ``figures.figure_html``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def tile(images: np.ndarray, columns: int = 4, gap: int = 1) -> np.ndarray:
    """(n, H, W) images as one (rows * (H + gap) - gap, columns * (W + gap) - gap) array; gaps and
    empty cells are 0, no ink (pixels count ink, so a grid drawn ink-dark shows them as paper)."""
    n, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * (h + gap), columns * (w + gap)), dtype=images.dtype)
    r, c = np.divmod(np.arange(n), columns)
    ys = (r * (h + gap))[:, None, None] + np.arange(h)[None, :, None]
    xs = (c * (w + gap))[:, None, None] + np.arange(w)[None, None, :]
    canvas[ys, xs] = images
    return canvas[: rows * (h + gap) - gap, : columns * (w + gap) - gap]


def generation_grids(kept: dict[int, dict[str, np.ndarray]], generations: list[int] | None = None,
                     key: str = "samples") -> Figure:
    """One tile of kept samples per generation (default: up to six spread over the run), dark ink on
    light paper. ``kept``: a lineage's artifacts by generation (the store's ``LineageStore.artifacts()``)."""
    available = sorted(g for g, arrays in kept.items() if key in arrays)
    if generations is None:
        generations = sorted({available[i] for i in np.linspace(0, len(available) - 1, min(6, len(available))).astype(int)})
    fig = Figure(figsize=(1.6 * len(generations), 1.9))
    for i, generation in enumerate(generations):
        ax = fig.add_subplot(1, len(generations), i + 1)
        ax.imshow(tile(kept[generation][key], gap=2), cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"generation {generation}", fontsize=8)
        ax.axis("off")
    return fig
