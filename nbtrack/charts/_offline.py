"""Charts handed to the user that draw with no network: in JupyterLab, nbconvert HTML and files.

Altair's own renderer loads Vega from a CDN, which fails offline and behind firewalls.
:class:`OfflineChart` wraps the Altair chart and shows it as one MIME bundle:

* ``text/html``: the chart drawn by the Vega library nbtrack already bundles for its live
  panel (:func:`nbtrack.widgets._bundle.vega_library`, inlined gzipped, imported once per
  page) with the box zoom of nbtrack's other charts (:func:`zoom_js`: drag to zoom x,
  double-click to reset), over a PNG of the same chart that stays when scripts do not run
  (an untrusted notebook, a sanitised nbconvert export, GitHub);
* ``image/png`` from vl-convert, for front-ends that do not show HTML;
* ``text/plain``.

The chart stays an instance of its Altair class, so ``.to_dict()``, ``.save()``,
``.properties()``, ``|``/``&``/``+`` and ``alt.hconcat`` work as before;
:meth:`OfflineChart.to_altair` gives the plain Altair chart.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import struct
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["OfflineChart", "drawing_js", "drawing_offline", "offline", "zoom_js"]

#: vl-convert's PNG scale: sharp on high-density screens, shown at the chart's own size.
PNG_SCALE = 2
#: Vega-Embed's own menu is off: the chart's download buttons (:data:`DRAW_JS`) replace it,
#: with no links to the Vega editor or other sites.
EMBED_OPTIONS = {"mode": "vega-lite", "renderer": "svg", "actions": False}
#: What a page's script hands vega-embed as its ``patch`` (the compiled Vega spec given box
#: zoom), once :func:`zoom_js` has run; the spec unchanged where it could not be read.
ZOOM_PATCH = "(typeof nbtrackZoom === 'undefined' ? undefined : nbtrackZoom.boxZoom)"

#: Draws the chart in its box, themed like the page (JupyterLab's light or dark theme, else
#: the system's), under a bar of PNG and SVG download buttons (``view.toImageURL``: the
#: picture is made in the page, nothing is fetched).
DRAW_JS = """
function nbtrackDark() {
  const light = document.body.dataset.jpThemeLight;
  if (light !== undefined) return light === "false";
  return globalThis.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}
function draw(library, box, spec, options, name) {
  const target = document.createElement("div");
  target.className = "nbtrack-chart-view";
  // Vega-Embed's element is inline-block, as wide as the chart: a chart of width
  // "container" would measure it and find nothing.
  target.style.cssText = "display:block;width:100%";
  box.appendChild(target);
  const themed = nbtrackDark() ? { ...options, theme: "dark", tooltip: { theme: "dark" } } : options;
  return library.vegaEmbed(target, spec, themed).then((result) => {
    const bar = document.createElement("div");
    bar.className = "nbtrack-chart-download";
    bar.style.cssText = "display:flex;gap:4px;justify-content:flex-end;font-size:11px";
    for (const kind of ["png", "svg"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = kind.toUpperCase();
      button.title = `Download the chart as ${kind.toUpperCase()}`;
      button.dataset.format = kind;
      button.style.cssText = "font-size:11px;padding:0 6px;cursor:pointer";
      button.addEventListener("click", async () => {
        const link = document.createElement("a");
        link.href = await result.view.toImageURL(kind, kind === "png" ? 2 : 1);
        link.download = `${name}.${kind}`;
        link.click();
      });
      bar.appendChild(button);
    }
    box.insertBefore(bar, target);
    box.querySelector("img")?.remove();
    box.nbtrackView = result.view; // for scripts and tests: the Vega view drawn here
    box.dataset.drawn = "true";
    return result;
  });
}
"""


@functools.lru_cache(maxsize=1)
def zoom_js() -> str:
    """The charts' box zoom as a classic script defining ``nbtrackZoom`` (``.boxZoom``).

    Drag across the plot to zoom x to the dragged range, double-click to reset, shift+drag
    to pan, as in the sidebar, the workspace and the widgets: the same TypeScript
    (``labextension/src/zoom.ts``), bundled by esbuild into ``widgets/static/zoom.js``
    (``jlpm build:charts``, part of ``jlpm build``, so of ``pip install``). Without that
    bundle (a source checkout not built yet) charts keep Vega-Lite's own zoom (wheel,
    drag to pan) and this warns once.

    Example
    -------
    >>> script = f"{zoom_js()}\nvegaEmbed(el, spec, {{patch: nbtrackZoom.boxZoom}})"  # doctest: +SKIP
    """
    return _built_script("zoom.js", "box zoom")


@functools.lru_cache(maxsize=1)
def drawing_js() -> str:
    """The report page's chart controls and redrawing, as a classic script defining
    ``nbtrackDrawing``: ``labextension/src/reportpage.ts``, which is the live panel's drawing
    (``drawing.ts``: smoothing, log y, x), the controls every view shares (``charttools.ts``)
    and the moving of a chart's rows along another x. Built and missing as :func:`zoom_js`;
    without it the report's charts are drawn as they were built."""
    return _built_script("drawing.js", "smoothing and log y")


def _built_script(name: str, what: str) -> str:
    from ..errors import warn_once
    from ..widgets._bundle import STATIC_DIR

    bundle = STATIC_DIR / name
    try:
        return bundle.read_text(encoding="utf-8")
    except FileNotFoundError:
        warn_once(f"{name}-bundle", f"nbtrack: charts drawn without {what} ({bundle} is missing): in a "
                  "source checkout run `cd labextension && jlpm install && jlpm build:charts`; "
                  "otherwise reinstall nbtrack (pip install builds it)")
        return ""


def offline(chart: Any) -> Any:
    """The Altair ``chart`` as an :class:`OfflineChart`, which renders with no network.

    The result is an instance of the chart's own Altair class too (``alt.Chart``,
    ``alt.LayerChart``...), so ``alt.hconcat``, ``isinstance`` and every method work on it.
    ``chart`` itself is left as it was.
    """
    if isinstance(chart, OfflineChart):
        return chart
    drawn = chart.copy(deep=False)
    # object's own setattr: Altair's would store "__class__" as a chart property
    object.__setattr__(drawn, "__class__", _offline_class(type(chart)))
    return drawn


def drawing_offline(builder: Callable[..., Any]) -> Callable[..., Any]:
    """``builder`` returning its chart as an :class:`OfflineChart` (anything else unchanged)."""
    @functools.wraps(builder)
    def build(*args: Any, **kwargs: Any) -> Any:
        result = builder(*args, **kwargs)
        import altair as alt

        return offline(result) if isinstance(result, alt.TopLevelMixin) else result

    return build


_CLASSES: dict[type, type] = {}


def _offline_class(altair_class: type) -> type:
    """``OfflineChart`` mixed into an Altair chart class, made once per class."""
    made = _CLASSES.get(altair_class)
    if made is None:
        made = type(f"Offline{altair_class.__name__}", (OfflineChart, altair_class),
                    {"_altair_class": altair_class, "__module__": __name__})
        _CLASSES[altair_class] = made
    return made


class OfflineChart:
    """An Altair chart that draws offline everywhere it is shown.

    Mixed into the chart's own Altair class by :func:`offline`: Altair's methods work as
    before (and ``.properties()``, ``.interactive()``... keep it offline); only its display
    changes, from Altair's CDN renderer to :meth:`_repr_mimebundle_`.

    Example
    -------
    >>> chart = sweep.importance_chart()          # doctest: +SKIP
    >>> chart.properties(width=500)               # still an OfflineChart  # doctest: +SKIP
    >>> chart.to_altair()                         # the plain Altair chart  # doctest: +SKIP
    """

    _altair_class: Any  # the Altair chart class mixed with this one

    def to_altair(self) -> Any:
        """The plain Altair chart (shown by Altair's own renderer)."""
        plain: Any = self.copy(deep=False)  # type: ignore[attr-defined]
        object.__setattr__(plain, "__class__", self._altair_class)
        return plain

    def __reduce__(self) -> tuple[Any, ...]:
        # The mixed class is made at run time: pickle the Altair chart, wrap it again on load.
        return (offline, (self.to_altair(),))

    # Altair's operators build a new chart: keep that one offline too.
    def __or__(self, other: Any) -> Any:
        return offline(self._altair_class.__or__(self, other))

    def __and__(self, other: Any) -> Any:
        return offline(self._altair_class.__and__(self, other))

    def __add__(self, other: Any) -> Any:
        return offline(self._altair_class.__add__(self, other))

    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.to_dict()  # type: ignore[attr-defined]
        return spec

    def to_png(self) -> bytes:
        """The chart as a PNG, drawn by vl-convert (no browser, no network)."""
        from ._render import draw
        from .interactions import still

        data: bytes = draw("png", still(self._spec()), scale=PNG_SCALE)
        return data

    def to_html(self, png: bytes | None = None) -> str:
        """A fragment that draws the chart with the inlined Vega library, over its PNG."""
        from ..widgets._bundle import library_js, vega_library
        from ._base import WIDTH
        from .interactions import responsive

        png = self.to_png() if png is None else png
        width = _png_width(png) // PNG_SCALE
        digest, library = vega_library()
        spec = {k: v for k, v in self._spec().items() if k != "$schema"}  # a URL, never fetched
        # As wide as the output area allows; the PNG beneath keeps the chart's own width.
        own = spec.get("width")
        spec = responsive(spec, fallback=own if isinstance(own, int) else WIDTH)
        box = "nbtrack-chart-" + secrets.token_hex(8)
        picture = base64.b64encode(png).decode("ascii")
        # The widgets' own importer (js/library.js): a chart and a live panel on one page
        # import Vega once between them.
        script = "\n".join([
            library_js(),
            zoom_js(),
            f"const box = document.getElementById({_js(box)});",
            f"const spec = {_js(spec)};",
            f"const bytes = Uint8Array.from(atob({_js(base64.b64encode(library).decode('ascii'))}),"
            " (c) => c.charCodeAt(0));",
            DRAW_JS,
            f"const options = {{ ...{_js(EMBED_OPTIONS)}, patch: {ZOOM_PATCH} }};",
            f"importLibrary({_js(digest)}, bytes).then((library) => draw(library, box, spec, "
            f"options, {_js(self._file_name())}))",
            "  .catch((err) => { console.error('nbtrack chart:', err); });",
        ])
        safe = script.replace("</", "<\\/")  # no user text can end the script element
        return (f'<div id="{box}" class="nbtrack-chart">'
                f'<img src="data:image/png;base64,{picture}" width="{width}" alt="chart" '
                'style="max-width: 100%; height: auto"></div>\n'
                f'<script type="module">\n{safe}\n</script>')

    def _file_name(self) -> str:
        """The name a downloaded picture gets: the chart's title, made safe for a file."""
        import re

        title = self._spec().get("title")
        text = title.get("text") if isinstance(title, dict) else title
        text = " ".join(text) if isinstance(text, list) else text
        name = re.sub(r"[^\w.-]+", "_", str(text or "chart")).strip("_.")
        return name[:80] or "chart"

    def _repr_mimebundle_(self, include: Iterable[str] | None = None,
                          exclude: Iterable[str] | None = None) -> dict[str, str]:
        png = self.to_png()
        bundle = {"text/html": self.to_html(png),
                  "image/png": base64.b64encode(png).decode("ascii"),
                  "text/plain": f"<nbtrack chart: {self._altair_class.__name__}>"}
        if include is not None:
            wanted = set(include)
            bundle = {k: v for k, v in bundle.items() if k in wanted}
        if exclude is not None:
            unwanted = set(exclude)
            bundle = {k: v for k, v in bundle.items() if k not in unwanted}
        return bundle

def _js(value: Any) -> str:
    """A JSON value as a JavaScript expression that cannot end the script element."""
    return json.dumps(value).replace("<", "\\u003c").replace("\u2028", "\\u2028") \
        .replace("\u2029", "\\u2029")


def _png_width(png: bytes) -> int:
    """The pixel width in a PNG's header."""
    width: int = struct.unpack(">I", png[16:20])[0]
    return width

