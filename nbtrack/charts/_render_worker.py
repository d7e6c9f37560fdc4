"""The picture helper process of :mod:`nbtrack.charts._render`, run by path (``python
_render_worker.py``): it imports vl-convert and nothing of nbtrack, so it starts quickly.

Protocol, one request at a time: in, a 4-byte big-endian length and a JSON object
``{"kind": "svg" | "png", "scale": float, "spec": {...} | "<svg ..."}``; out, a 1-byte status (``r``
ready, with the process id; ``o`` the picture, UTF-8 SVG or PNG bytes; ``e`` vl-convert's
error message), a 4-byte length and the body. It exits when its stdin closes.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any

HEADER = struct.Struct(">cI")
#: Drawn once at the start: a picture's shape (title lines, layers, an area, a concatenation),
#: so the first real picture does not pay for vl-convert's first compile of each (0.24 s
#: against 0.12 s after a one-point warm-up).
WARM_SPEC = {
    "title": {"text": "warm", "subtitle": ["a", "b"]},
    "vconcat": [{"hconcat": [{
        "data": {"values": [{"step": 0, "value": 1.0, "min": 0.5, "max": 1.5},
                            {"step": 1, "value": 2.0, "min": 1.5, "max": 2.5}]},
        "layer": [{"mark": {"type": "line", "clip": True},
                   "encoding": {"x": {"field": "step", "type": "quantitative"},
                                "y": {"field": "value", "type": "quantitative"}}},
                  {"mark": {"type": "area", "opacity": 0.15},
                   "encoding": {"x": {"field": "step", "type": "quantitative"},
                                "y": {"field": "min", "type": "quantitative"}, "y2": {"field": "max"}}}],
        "title": "loss", "width": 100, "height": 60}]},
        {"data": {"values": [{"gauge": "CPU", "fraction": 0.5}]},
         "layer": [{"mark": "bar", "encoding": {"x": {"field": "fraction", "type": "quantitative"},
                                                "y": {"field": "gauge", "type": "nominal"}}},
                   {"mark": {"type": "text", "dx": 6}, "encoding": {"text": {"field": "gauge"}}}]}],
}


def draw(kind: str, spec: dict[str, Any] | str, scale: float) -> Any:
    """A Vega-Lite spec (a dict) as SVG or PNG; an SVG (a string) as PNG."""
    import vl_convert as vlc

    if isinstance(spec, str):
        return _smaller(vlc.svg_to_png(spec, scale=scale))
    if kind == "svg":
        return vlc.vegalite_to_svg(spec)
    return vlc.vegalite_to_png(spec, scale=scale)


def _smaller(png: bytes) -> bytes:
    """``png`` in 256 colours when that is smaller (a run's picture: 158 KB to 13 KB, 0.07 s),
    for the PNG that rides beside a picture's SVG in every saved notebook."""
    import io

    try:
        from PIL import Image

        image = Image.open(io.BytesIO(png))
        out = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    except Exception:  # no Pillow, or an image it cannot read: the PNG as drawn
        return png
    return out.getvalue() if out.tell() < len(png) else png


def serve() -> None:
    """Warm vl-convert, say so, then draw each spec read from stdin until EOF."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def answer(status: bytes, body: bytes) -> None:
        stdout.write(HEADER.pack(status, len(body)) + body)
        stdout.flush()

    draw("svg", WARM_SPEC, 1.0)
    answer(b"r", str(os.getpid()).encode())
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        request = json.loads(stdin.read(struct.unpack(">I", head)[0]))
        try:
            picture = draw(request["kind"], request["spec"], request["scale"])
        except Exception as exc:  # the spec's fault: the caller gets it as in-process
            answer(b"e", str(exc).encode("utf-8", "replace"))
            continue
        answer(b"o", picture.encode("utf-8") if isinstance(picture, str) else picture)


if __name__ == "__main__":
    serve()
