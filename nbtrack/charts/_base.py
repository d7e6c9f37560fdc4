"""Shared pieces of every chart: the Altair import, sizes, colours and static export."""

from __future__ import annotations

from typing import Any

from ..errors import NbtrackError
from ..formatting import DIGITS

WIDTH = 360
HEIGHT = 220
#: Vega-Lite's own categorical palette, for charts whose colours are not runs (runs take
#: theirs from :mod:`nbtrack.charts.colors`).
SCHEME = "tableau10"
#: Numbers in tooltips and labels: d3-format for :func:`nbtrack.formatting.number`'s rule
#: (``DIGITS`` significant digits, trailing zeros dropped).
NUMBER_FORMAT = f".{DIGITS}~g"


def altair() -> Any:
    """Import Altair, or say how to install it."""
    try:
        import altair as alt
    except ImportError:  # pragma: no cover - altair is a dependency; this guards broken installs
        raise NbtrackError(
            "nbtrack's charts need Altair: pip install 'altair>=5'"
        ) from None
    return alt


def to_svg(chart: Any) -> str:
    """Render a chart to SVG with no browser and no network (vl-convert, in a picture
    helper process: :mod:`._render`)."""
    from ._render import draw
    from .interactions import still

    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    svg: str = draw("svg", still(spec))
    return svg


def empty(message: str) -> Any:
    """A chart that says there is nothing to show, instead of an empty frame."""
    alt = altair()
    import pandas as pd

    return (
        alt.Chart(pd.DataFrame({"text": [message]}))
        .mark_text(color="#666", fontSize=13)
        .encode(text="text:N")
        .properties(width=WIDTH, height=60)
    )
