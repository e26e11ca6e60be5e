"""Pieces shared by the report's sections: HTML escaping and inline SVG figures (no network).

Figures are SVG with text kept as text (``svg.fonttype: none``, not glyph outlines) and dense
artists (shaded bands, heatmap cells) rasterised at RASTER_DPI inside the SVG: the page stays small
and quick to render while axes, labels and lines stay sharp.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.figure import Figure

# a fixed hash salt and no date: the same run gives the same report bytes
SVG_RC = {"svg.hashsalt": "cliffwatch", "svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10}
RASTER_DPI = 110


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def figure_html(fig: Figure, alt: str, caption: str) -> str:
    """The figure as an inline SVG <img> with its caption (no date in the SVG: same bytes every render)."""
    buf = io.BytesIO()
    # lay the figure out once, then draw it once: savefig would lay out a figure with a layout
    # engine twice (a dry-run draw, then the real one) and "tight" would add a third pass
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine(None)
    fig.savefig(buf, format="svg", metadata={"Date": None}, dpi=RASTER_DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"<figure class='plot'><img alt='{escape(alt)}' src='data:image/svg+xml;base64,{data}'>"
            f"<figcaption>{caption}</figcaption></figure>")
