"""Charts handed to the user that draw with no network: in JupyterLab, nbconvert HTML and files.

Altair's own renderer loads Vega from a CDN, which fails offline and behind firewalls.
:class:`OfflineChart` wraps the Altair chart and shows it as one MIME bundle:

* ``text/html``: the chart drawn by the Vega library nbtrack already bundles for its live
  panel (:func:`nbtrack.widgets._bundle.vega_library`, inlined gzipped, imported once per
  page), over a PNG of the same chart that stays when scripts do not run (an untrusted
  notebook, a sanitised nbconvert export, GitHub);
* ``image/png`` from vl-convert, for front-ends that do not show HTML;
* ``text/plain``.

Everything else is handed to the Altair chart, so ``.to_dict()``, ``.save()``,
``.properties()`` and ``|``/``&``/``+`` work as before; :meth:`OfflineChart.to_altair`
gives the Altair chart itself.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
from collections.abc import Iterable
from typing import Any

from ..errors import NbtrackError

__all__ = ["OfflineChart", "offline"]

#: vl-convert's PNG scale: sharp on high-density screens, shown at the chart's own size.
PNG_SCALE = 2
#: Download as PNG or SVG; no links to the Vega editor or other sites.
EMBED_OPTIONS = {"mode": "vega-lite", "renderer": "svg",
                 "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


def offline(chart: Any) -> OfflineChart:
    """Wrap an Altair chart so it renders with no network (an :class:`OfflineChart` stays one)."""
    return chart if isinstance(chart, OfflineChart) else OfflineChart(chart)


class OfflineChart:
    """An Altair chart that draws offline everywhere it is shown.

    Example
    -------
    >>> chart = sweep.importance_chart()          # doctest: +SKIP
    >>> chart.to_altair().to_dict()["mark"]       # doctest: +SKIP
    >>> chart.properties(width=500)               # still an OfflineChart  # doctest: +SKIP
    """

    def __init__(self, chart: Any) -> None:
        self._chart = chart

    def to_altair(self) -> Any:
        """The Altair chart (what nbtrack returned before charts drew offline)."""
        return self._chart

    def to_png(self) -> bytes:
        """The chart as a PNG, drawn by vl-convert (no browser, no network)."""
        vlc = _vl_convert()
        data: bytes = vlc.vegalite_to_png(self._chart.to_dict(), scale=PNG_SCALE)
        return data

    def to_html(self, png: bytes | None = None) -> str:
        """A fragment that draws the chart with the inlined Vega library, over its PNG."""
        from ..widgets._bundle import library_js, vega_library

        png = self.to_png() if png is None else png
        width = _png_width(png) // PNG_SCALE
        digest, library = vega_library()
        spec = {k: v for k, v in self._chart.to_dict().items() if k != "$schema"}
        box = "nbtrack-chart-" + secrets.token_hex(8)
        picture = base64.b64encode(png).decode("ascii")
        # The widgets' own importer (js/library.js): a chart and a live panel on one page
        # import Vega once between them.
        script = "\n".join([
            library_js(),
            f"const box = document.getElementById({_js(box)});",
            f"const spec = {_js(spec)};",
            f"const bytes = Uint8Array.from(atob({_js(base64.b64encode(library).decode('ascii'))}),"
            " (c) => c.charCodeAt(0));",
            f"importLibrary({_js(digest)}, bytes)",
            "  .then((library) => {",
            "    const target = document.createElement('div');",
            "    box.appendChild(target);",
            f"    return library.vegaEmbed(target, spec, {_js(EMBED_OPTIONS)})",
            "      .then(() => { box.querySelector('img')?.remove(); box.dataset.drawn = 'true'; });",
            "  })",
            "  .catch((err) => { console.error('nbtrack chart:', err); });",
        ])
        safe = script.replace("</", "<\\/")  # no user text can end the script element
        return (f'<div id="{box}" class="nbtrack-chart">'
                f'<img src="data:image/png;base64,{picture}" width="{width}" alt="chart" '
                'style="max-width: 100%; height: auto"></div>\n'
                f'<script type="module">\n{safe}\n</script>')

    def _repr_mimebundle_(self, include: Iterable[str] | None = None,
                          exclude: Iterable[str] | None = None) -> dict[str, str]:
        png = self.to_png()
        bundle = {"text/html": self.to_html(png),
                  "image/png": base64.b64encode(png).decode("ascii"),
                  "text/plain": repr(self)}
        if include is not None:
            wanted = set(include)
            bundle = {k: v for k, v in bundle.items() if k in wanted}
        if exclude is not None:
            unwanted = set(exclude)
            bundle = {k: v for k, v in bundle.items() if k not in unwanted}
        return bundle

    def __repr__(self) -> str:
        return f"<nbtrack chart: {type(self._chart).__name__}>"

    # -- the Altair chart's own API --------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Altair's reprs would bring back its CDN renderer; pickling looks up _chart early.
        if name == "_chart" or name.startswith(("_repr_", "_ipython_")):
            raise AttributeError(name)
        value = getattr(self._chart, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return _rewrap(value(*args, **kwargs))

        return call

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._chart)))

    def __or__(self, other: Any) -> Any:
        return _rewrap(self._chart | _unwrap(other))

    def __and__(self, other: Any) -> Any:
        return _rewrap(self._chart & _unwrap(other))

    def __add__(self, other: Any) -> Any:
        return _rewrap(self._chart + _unwrap(other))


def _unwrap(value: Any) -> Any:
    return value.to_altair() if isinstance(value, OfflineChart) else value


def _rewrap(value: Any) -> Any:
    """Charts that Altair methods return stay offline; anything else passes through."""
    if value is not None and hasattr(value, "to_dict") and hasattr(value, "_repr_mimebundle_") \
            and type(value).__module__.startswith("altair"):
        return OfflineChart(value)
    return value


def _js(value: Any) -> str:
    """A JSON value as a JavaScript expression that cannot end the script element."""
    return json.dumps(value).replace("<", "\\u003c").replace("\u2028", "\\u2028") \
        .replace("\u2029", "\\u2029")


def _png_width(png: bytes) -> int:
    """The pixel width in a PNG's header."""
    width: int = struct.unpack(">I", png[16:20])[0]
    return width


def _vl_convert() -> Any:
    try:
        import vl_convert as vlc
    except ImportError:
        raise NbtrackError("static charts need vl-convert: pip install vl-convert-python") from None
    return vlc
