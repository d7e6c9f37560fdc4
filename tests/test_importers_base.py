"""What every importer shares: times, and one bad run among good ones."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

import nbtrack
from nbtrack.importers._base import Importer, SourceRun

# Wall-clock times whose metric and media rows were stored a microsecond apart when
# the two write paths rounded them differently (np.rint(t * 1e6) for points;
# round(t, 6) then pandas' float-to-nanosecond cast for media). Any time within the
# float error of a half microsecond does it: about one W&B timestamp in eight.
TIES = [1765763774.6189766, 1765255069.0257394, 1765788723.3511355, 1765228762.2212706]
# and 300 more, at random: about 40 of them are such ties
TIMES = sorted(TIES + (1765000000 + np.random.default_rng(0).random(300) * 1e6).tolist())


class _Fixed(Importer):
    tool = "fixed"

    def __init__(self, runs: list[SourceRun]) -> None:
        super().__init__("fixed")
        self.runs = runs

    def sources(self) -> Iterator[SourceRun]:
        yield from self.runs


def test_a_point_and_a_media_value_logged_together_keep_one_time(store_dir):
    source = SourceRun(
        identity="ties", name="ties", started=TIMES[0], ended=TIMES[-1],
        points=[(step, t, {"loss": float(step)}) for step, t in enumerate(TIMES)],
        media=[(step, t, "note", nbtrack.Text(f"at {step}")) for step, t in enumerate(TIMES)])
    report = _Fixed([source]).run()
    points = nbtrack.history(report.run_ids[0]).sort_values("step")
    media = nbtrack.media(report.run_ids[0]).sort_values("step")
    assert points["time"].tolist() == media["time"].tolist()
    assert len(set(points["time"])) == len(TIMES)
    # and each is the logged time on its nearest microsecond
    assert [t.value // 1000 for t in points["time"]] == [round(t * 1e6) for t in TIMES]


def test_a_source_that_fails_part_way_keeps_what_it_gave_and_the_import_goes_on(store_dir):
    def points():
        yield 0, TIES[0], {"loss": 0.5}
        yield 1, TIES[1], {"loss": 0.25, "acc": 0.75}
        raise OSError("metrics/loss: bad line 'x y'")  # e.g. a damaged metric file

    broken = SourceRun(identity="broken", name="broken", started=TIES[0], notes="mine", points=points())
    whole = SourceRun(identity="whole", name="whole", started=TIES[0], points=[(0, TIES[0], {"loss": 1.0})])
    report = _Fixed([broken, whole]).run()

    line = ("reading it stopped part-way (metrics/loss: bad line 'x y'); the 3 points and "
            "0 media values read before were imported")
    assert (report.runs_imported, report.points, report.damaged) == (2, 4, [f"run broken: {line}"])
    assert not report.complete
    runs = nbtrack.runs().set_index("name")
    assert runs["status"].to_dict() == {"broken": "crashed", "whole": "finished"}
    record = nbtrack.run_record(runs.loc["broken", "id"])
    assert (record["notes"], record["error"]) == (f"mine\nnbtrack import: {line}", line)
    hist = nbtrack.history(record["id"])
    assert list(zip(hist["key"], hist["step"], hist["value"])) == [
        ("acc", 1, 0.75), ("loss", 0, 0.5), ("loss", 1, 0.25)]
