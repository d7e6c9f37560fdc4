"""HTML pieces of the report: the Jinja environment, safe inline JSON, highlighting, assets.

User text reaches the page only through Jinja's autoescaping (HTML) or
:func:`script_json` (data for the charts); the only markup built here from user
text is Pygments' highlighting, which escapes the code itself.
"""

from __future__ import annotations

import functools
import html
import math
from datetime import datetime
from importlib import resources
from typing import Any

from markupsafe import Markup

from .. import formatting
from ..errors import NbtrackError
from ..formatting import json_text

__all__ = ["assets", "environment", "highlight", "highlight_css", "script_json", "script_text", "static_text",
           "vega_bundle"]

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``.

    Values go through :func:`nbtrack.formatting.json_safe` (its one NaN rule). Every
    ``<``, ``>`` and ``&`` becomes a ``\\u`` escape, which ``JSON.parse`` reads
    back as the same character, so no user text can end the script element.

    Example
    -------
    >>> str(script_json({"name": "</script><!--"}))
    '{"name": "\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json_text(value)
    for raw, escaped in _JSON_ESCAPES.items():
        text = text.replace(raw, escaped)
    return Markup(text)


def script_text(source: str) -> Markup:
    """Our own JavaScript for an inline ``<script>``, made unable to end the element early."""
    return Markup(source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT"))


@functools.lru_cache(maxsize=1)
def vega_bundle() -> Markup:
    """Vega, Vega-Lite and vega-embed as one script defining ``window.vegaEmbed`` (cached)."""
    try:
        import vl_convert as vlc
    except ImportError:
        raise NbtrackError("the report needs vl-convert to inline Vega: pip install vl-convert-python") \
            from None
    # The page needs only vegaEmbed (which brings Vega and Vega-Lite with it).
    return script_text(vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;"))


def static_text(name: str) -> str:
    """A file of ``nbtrack/report/static`` (our CSS and JavaScript)."""
    return (resources.files("nbtrack.report") / "static" / name).read_text(encoding="utf-8")


def assets() -> dict[str, Markup]:
    """Our CSS (with Pygments'), our script, the Vega bundle, the charts' box zoom and their
    smoothing and log y (the same as in JupyterLab: :func:`nbtrack.charts._offline.zoom_js`,
    :func:`~nbtrack.charts._offline.drawing_js`), ready to inline: no user text."""
    from ..charts._offline import drawing_js, zoom_js

    return {"css": Markup(static_text("report.css") + "\n" + highlight_css()),
            "script": script_text(static_text("report.js")), "vega": vega_bundle(),
            "zoom": script_text(zoom_js()), "drawing": script_text(drawing_js())}


def highlight(code: str) -> Markup:
    """Python source as highlighted, escaped HTML (plain escaped text without Pygments)."""
    try:
        from pygments import highlight as pygmentize
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return Markup(html.escape(code, quote=True))
    # stripnl=False keeps the cell's leading blank lines, so line numbers match the notebook.
    return Markup(pygmentize(code, PythonLexer(stripnl=False), HtmlFormatter(nowrap=True)))


def highlight_css() -> str:
    """The CSS for :func:`highlight`'s classes, scoped to ``.source`` (empty without Pygments)."""
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return ""
    css: str = HtmlFormatter(style="default").get_style_defs(".source")
    return css


def _utc(value: Any) -> str:
    """A time in the report, which people open anywhere: UTC, to the second."""
    return formatting.timestamp(value, utc=True)


def _value(value: Any) -> str:
    """A table cell of a runs frame, where NaN marks an absent value."""
    return formatting.value(value, nan_missing=True)


def _sort_key(value: Any) -> str:
    """A ``data-v`` attribute for the table sorter: the full number, else empty."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, datetime) or hasattr(value, "timestamp"):
            try:
                return repr(value.timestamp())
            except (ValueError, OverflowError, AttributeError):
                return ""
        return ""
    return repr(float(value)) if math.isfinite(value) else ""


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja environment: templates from the package, autoescape on, strict undefined."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nbtrack.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=_utc, value=_value, sortkey=_sort_key, duration=formatting.duration,
                       size=formatting.size, shorten=_shorten, json=script_json, highlight=highlight)
    return env
