"""The JavaScript a live panel runs, with no CDN and no Node at install time.

* The widgets' front-ends are TypeScript beside the sidebar's (``labextension/src/widgets/``),
  sharing its typed, jest-tested formatting and DOM helpers. esbuild bundles each into
  ``static/<name>.js`` when the labextension builds (``jlpm build``, so ``pip install``);
  the bundles are never committed. Each is sent as an anywidget ``_esm`` with
  ``js/library.js`` (the plain-JavaScript loader that imports the chart library once per
  page, which offline charts use too) prepended.
* Vega, Vega-Lite and Vega-Embed come from ``vl-convert-python`` (already a
  dependency for static charts), which bundles them into one ES module. That library
  (about 0.9 MB, 0.25 MB gzipped) is sent to the browser as a gzipped binary buffer
  in a custom message, so it is never part of the widget's saved state; the page
  imports it once and shares it between panels (keyed by its digest).

Bundling takes a couple of seconds and holds the GIL, so the result is cached on
disk (``$XDG_CACHE_HOME/nbtrack`` or ``~/.cache/nbtrack``), keyed by the versions.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import NbtrackError

__all__ = ["library_js", "panel_css", "panel_esm", "send_library", "vega_library", "widget_css",
           "widget_esm"]

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
STATIC_DIR = HERE / "static"
#: What the library module exports; vl-convert resolves the name to its bundled Vega-Embed
#: (which brings Vega and Vega-Lite; views make changesets with ``view.changeset()``).
LIBRARY_SNIPPET = "export default { vegaEmbed };\n"

_lock = threading.Lock()
_library: list[tuple[str, bytes] | None] = [None]


@lru_cache(maxsize=1)
def library_js() -> str:
    """``js/library.js``: imports the chart library once per page (widgets and offline charts)."""
    return (JS_DIR / "library.js").read_text(encoding="utf-8")


@lru_cache(maxsize=4)
def widget_esm(name: str) -> str:
    """A widget's ES module: ``js/library.js`` followed by the built ``static/<name>.js``."""
    bundle = STATIC_DIR / f"{name}.js"
    try:
        code = bundle.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NbtrackError(
            f"nbtrack's widget front-end is not built ({bundle} is missing): in a source checkout "
            "run `cd labextension && jlpm install && jlpm build:widgets`; otherwise reinstall "
            "nbtrack (pip install builds it)"
        ) from None
    return library_js() + "\n" + code


@lru_cache(maxsize=4)
def widget_css(name: str) -> str:
    return (JS_DIR / f"{name}.css").read_text(encoding="utf-8")


def panel_esm() -> str:
    """The live panel's ES module (``js/library.js`` + ``static/panel.js``)."""
    return widget_esm("panel")


def panel_css() -> str:
    return widget_css("panel")


def send_library(widget: Any) -> str:
    """Send the chart library to a widget's views in one custom message; returns its digest.

    The widget's JavaScript hands the buffer to ``importLibrary`` (``js/library.js``),
    which imports it once per page whatever the number of widgets.
    """
    digest, library = vega_library()
    widget.send({"type": "library", "digest": digest}, buffers=[library])
    return digest


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbtrack"


def _vegalite_version() -> str | None:
    """The Vega-Lite version Altair writes specs for, if vl-convert has it."""
    try:
        import altair as alt
        import vl_convert as vlc

        major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
        return major_minor if major_minor in vlc.get_vegalite_versions() else None
    except Exception:
        return None


@lru_cache(maxsize=1)
def _versions_key() -> str:
    """Names the cached bundle; read from package metadata, without importing Altair."""
    import importlib.metadata as metadata

    versions = []
    for package in ("vl-convert-python", "altair"):
        try:
            versions.append(metadata.version(package))
        except metadata.PackageNotFoundError:
            versions.append("unknown")
    text = "|".join([*versions, LIBRARY_SNIPPET])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def library_cached() -> bool:
    """Whether :func:`vega_library` returns at once (loaded, or a file in the disk cache)."""
    return _library[0] is not None or (cache_dir() / f"vega-library-{_versions_key()}.js.gz").is_file()


def vega_library() -> tuple[str, bytes]:
    """``(digest, gzipped ES module)`` of Vega + Vega-Lite + Vega-Embed.

    Example
    -------
    >>> digest, data = vega_library()  # doctest: +SKIP
    """
    with _lock:
        cached = _library[0]
        if cached is not None:
            return cached
        key = _versions_key()
        path = cache_dir() / f"vega-library-{key}.js.gz"
        try:
            data = path.read_bytes()
            gzip.decompress(data)  # a truncated or damaged file fails here
        except (OSError, EOFError, gzip.BadGzipFile):
            data = gzip.compress(_build().encode("utf-8"), compresslevel=9, mtime=0)
            write_cache(path, data)
        result = (key, data)
        _library[0] = result
        return result


def _build() -> str:
    try:
        import vl_convert as vlc
    except ImportError:
        raise NbtrackError("live charts need vl-convert: pip install vl-convert-python") from None
    version = _vegalite_version()
    code: str = (vlc.javascript_bundle(LIBRARY_SNIPPET, vl_version=version) if version
                 else vlc.javascript_bundle(LIBRARY_SNIPPET))
    return code


def write_cache(path: Path, data: bytes) -> None:
    """Write atomically; an unwritable cache only costs the next kernel a rebuild."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nbtrack-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def prepare() -> Path:
    """Build and cache the chart library now (e.g. in a Docker image build), return its path.

    Example
    -------
    $ python -c "from nbtrack.widgets import prepare; prepare()"
    """
    vega_library()
    return cache_dir() / f"vega-library-{_versions_key()}.js.gz"
