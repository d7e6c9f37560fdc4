"""Run colours a person can tell apart: in a legend, on JupyterLab's light and dark themes.

The palette in :mod:`nbtrack.charts.colors` is computed here, not chosen by eye: Glasbey's
method (each next colour the one farthest, in CIEDE2000, from every colour already taken)
over the sRGB colours that read on white and on a dark background. A test computes it again
and compares; the others measure what a user sees: CIEDE2000 distances between the first 20
colours (the ones runs of one project take first) and their contrast with the backgrounds.
Pictures: tests/artifacts/run-colors-light.png, run-colors-dark.png.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from coloraide import Color

from nbtrack.charts.colors import COLORS, PALETTE, run_colors

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WHITE = "#ffffff"
#: Dark backgrounds: JupyterLab's dark theme's page (#111) and panels (#212121), and #1e1e1e.
DARKS = ("#111111", "#1e1e1e", "#212121")
#: WCAG 2.1's least contrast for graphical objects (1.4.11 non-text contrast).
MIN_CONTRAST = 3.0
#: CIEDE2000 distances: the first 20 colours apart as far as this band of lightness allows
#: (the old palette's closest pair was 10.0: two yellows); all 60 at least noticeably apart.
MIN_DISTANCE_FIRST_20 = 14.0
MIN_DISTANCE_ALL = 8.0


def glasbey(count: int, *, step: int = 15, min_chroma: float = 20.0) -> list[str]:
    """``count`` colours by Glasbey's greedy max-min (each next colour the candidate farthest,
    in CIEDE2000, from its nearest colour already taken), from an sRGB grid (``step`` apart
    per channel) of colours with ``MIN_CONTRAST`` on white and on both darks and at least
    ``min_chroma`` (LCh) so none is a grey. Ties go to the first in grid order."""
    levels = range(0, 256, step)
    backgrounds = [Color(c) for c in (WHITE, *DARKS)]
    candidates = []
    for r, g, b in itertools.product(levels, levels, levels):
        color = Color("srgb", [r / 255, g / 255, b / 255])
        if min(color.contrast(bg) for bg in backgrounds) < MIN_CONTRAST:
            continue
        if color.convert("lch").coords()[1] < min_chroma:
            continue
        candidates.append(color)
    nearest = [math.inf] * len(candidates)  # each candidate's distance to the nearest taken
    taken: list[str] = []
    for _ in range(count):
        i = max(range(len(candidates)), key=nearest.__getitem__)
        chosen = candidates[i]
        taken.append(chosen.to_string(hex=True))
        nearest = [
            min(n, c.delta_e(chosen, method="2000")) if n else 0.0 for n, c in zip(nearest, candidates)
        ]
    return taken


def closest_pair(colors: list[str] | tuple[str, ...]) -> tuple[float, str, str]:
    return min(
        (Color(a).delta_e(Color(b), method="2000"), a, b) for a, b in itertools.combinations(colors, 2)
    )


def test_the_palette_is_the_one_glasbeys_method_computes() -> None:
    assert list(COLORS) == glasbey(60), (
        "nbtrack.charts.colors.COLORS is no longer what glasbey(60) computes: paste its result"
    )
    assert COLORS[:20] == PALETTE


def test_the_first_20_run_colours_are_far_apart_and_read_on_light_and_dark() -> None:
    first = PALETTE
    assert len(first) == 20 and len(set(first)) == 20
    distance, a, b = closest_pair(first)
    assert distance >= MIN_DISTANCE_FIRST_20, f"{a} and {b} are only {distance:.1f} apart (CIEDE2000)"
    for background in (WHITE, *DARKS):
        worst = min((Color(c).contrast(Color(background)), c) for c in first)
        assert worst[0] >= MIN_CONTRAST, f"{worst[1]} on {background}: contrast {worst[0]:.2f}"
    # The pairs seen together in a legend before: red/pink, blue/light blue, orange/tan are
    # gone because every pair is apart, not because these few were fixed by hand.


def test_all_60_colours_stay_apart_and_readable() -> None:
    assert len(set(COLORS)) == 60
    distance, a, b = closest_pair(COLORS)
    assert distance >= MIN_DISTANCE_ALL, f"{a} and {b} are only {distance:.1f} apart (CIEDE2000)"
    for background in (WHITE, *DARKS):
        assert min(Color(c).contrast(Color(background)) for c in COLORS) >= MIN_CONTRAST


@pytest.mark.parametrize(
    "theme,background,text", [("light", WHITE, "#212121"), ("dark", "#1e1e1e", "#e0e0e0")]
)
def test_twenty_runs_drawn_together_show_twenty_colours(theme: str, background: str, text: str) -> None:
    """What a person sees: the curves of the first 20 runs of a project in one chart, its
    legend beside it, on a light and on a dark page (the pictures are looked at)."""
    vl_convert = pytest.importorskip("vl_convert")
    ids = [f"run-{n:02d}" for n in range(20)]
    colors = run_colors(ids)
    assert sorted(colors.values()) == sorted(PALETTE)  # 20 runs take the 20 first colours
    values = [
        {"run": i, "step": s, "value": (n + 1) * (1 - 0.5 ** (s / 4))}
        for n, i in enumerate(ids)
        for s in range(30)
    ]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "background": background,
        "width": 520,
        "height": 320,
        "config": {
            "axis": {"labelColor": text, "titleColor": text, "gridColor": "#888888", "gridOpacity": 0.3},
            "legend": {"labelColor": text, "titleColor": text},
            "view": {"stroke": None},
        },
        "data": {"values": values},
        "mark": {"type": "line", "strokeWidth": 2},
        "encoding": {
            "x": {"field": "step", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative"},
            "color": {
                "field": "run",
                "type": "nominal",
                "scale": {"domain": ids, "range": [colors[i] for i in ids]},
            },
        },
    }
    svg = vl_convert.vegalite_to_svg(spec)
    drawn = {c for c in PALETTE if f'stroke="{c}"' in svg}
    assert drawn == set(PALETTE)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"run-colors-{theme}.png").write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))


def test_runs_this_process_put_in_the_trash_do_not_shift_a_live_runs_colour(store_dir):
    """The live panel's quick look-up adds this process's runs the store has not got yet; a
    run in the trash is in the store (and coloured by no view): it is not added back."""
    import nbtrack
    from nbtrack.charts import colors

    made = []
    for n in range(12):
        with nbtrack.init(name=f"old {n}", project="p") as run:
            run.log({"a": 1.0})
            made.append(run.id)
    nbtrack.delete_runs(made[:10])
    for n in range(8):
        run = nbtrack.init(name=f"live {n}", project="p")
        run.log({"a": 1.0})
        quick = colors.project_run_colors([run.id], fresh=False)[run.id]
        run.finish()
        colors._KNOWN.clear()
        assert colors.project_run_colors([run.id])[run.id] == quick, n
