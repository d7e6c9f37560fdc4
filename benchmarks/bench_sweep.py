"""Sweep overhead per trial: ``nbtrack.sweep`` in the kernel and with 2 worker processes,
against plain Optuna (``optuna.create_study().optimize()``) on the same trivial objective,
in the same run. Goal (issue 15): at most 30 ms a trial, inline and with workers.

The objective does no work (one ``suggest_float``, one value), so what is timed is what
the sweep adds: asking the search, the trial's run (created, logged to, ended, written to
the store), telling the search, and for workers the round trip to the process. The worker
pool is warmed first (one small sweep), as a notebook's second sweep would find it.

Run against any checkout: point ``PYTHONPATH`` at it (the report names the nbtrack it
imported and its commit)::

    PYTHONPATH=/tmp/before python benchmarks/bench_sweep.py --trials 40
    python benchmarks/bench_sweep.py --trials 40 --profile inline   # where the time goes

Each figure is the median over ``--repeat`` sweeps of (wall time / trials): the whole
sweep, its fixed costs (record it, claim it, end it) spread over its trials. The
*marginal* figure is what one more trial costs: (time of 2N trials - time of N) / N.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = {"method": "random", "metric": {"name": "loss", "goal": "minimize"},
          "parameters": {"x": {"min": 0.0, "max": 1.0}}}


def train(config):  # the nbtrack trial: the same work as the Optuna objective
    import nbtrack

    nbtrack.log({"loss": (config["x"] - 0.3) ** 2})


def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    return (x - 0.3) ** 2


def plain_optuna(trials: int, sampler: str = "random") -> float:
    """Per trial: ``sampler="random"`` is the sweep's (method random), ``"default"`` the
    issue's ``optuna.create_study()`` (TPE)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0) if sampler == "random" else None)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - start


def nbtrack_sweep(trials: int, executor: int | None) -> float:
    import nbtrack

    start = time.perf_counter()
    sweep = nbtrack.sweep(CONFIG, train, count=trials, executor=executor)
    elapsed = time.perf_counter() - start
    statuses = set(sweep.trials()["status"])
    assert statuses == {"finished"}, statuses  # a count check, never a timing one
    return elapsed


def commit_of(path: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40, help="trials per sweep (default 40)")
    parser.add_argument("--repeat", type=int, default=3, help="sweeps per figure; the median is kept")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", choices=["inline", "workers"], help="cProfile one sweep, print the top")
    args = parser.parse_args()
    os.environ["NBTRACK_DIR"] = tempfile.mkdtemp(prefix="nbtrack-bench-sweep-")
    import nbtrack

    where = Path(nbtrack.__file__).resolve().parent.parent
    print(f"nbtrack from {where} (commit {commit_of(where)}), python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if args.profile:
        executor = None if args.profile == "inline" else args.workers
        nbtrack.sweep(CONFIG, train, count=4, executor=executor)  # imports, worker start-up
        profile = cProfile.Profile()
        profile.enable()
        nbtrack.sweep(CONFIG, train, count=args.trials, executor=executor)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        return
    nbtrack.sweep(CONFIG, train, count=4)  # imports and first-run costs, in neither figure
    nbtrack.sweep(CONFIG, train, count=4, executor=args.workers)  # start the worker pool
    plain_optuna(5)
    n = args.trials
    runs = {"optuna": lambda k: plain_optuna(k), "optuna-tpe": lambda k: plain_optuna(k, "default"),
            "inline": lambda k: nbtrack_sweep(k, None), "workers": lambda k: nbtrack_sweep(k, args.workers)}
    whole: dict[str, list[float]] = {key: [] for key in runs}
    marginal: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(args.repeat):  # interleaved: a load spike hits them all alike
        for key, run in runs.items():
            once, twice = run(n), run(2 * n)
            whole[key].append(once / n)
            marginal[key].append((twice - once) / n)
    print(f"{n} (and {2 * n}) trials a sweep, median of {args.repeat}, load {os.getloadavg()[0]:.1f}")
    base, tpe = statistics.median(whole["optuna"]), statistics.median(whole["optuna-tpe"])
    print(f"{'':30} {'ms/trial':>9} {'x Random':>9} {'x TPE':>7} {'marginal ms':>12}")
    names = {"optuna": "plain Optuna, RandomSampler", "optuna-tpe": "plain Optuna, create_study()",
             "inline": "nbtrack.sweep, kernel", "workers": f"nbtrack.sweep, executor={args.workers}"}
    for key, name in names.items():
        value = statistics.median(whole[key])
        print(f"{name:30} {value * 1000:9.2f} {value / base:9.1f} {value / tpe:7.1f} "
              f"{statistics.median(marginal[key]) * 1000:12.2f}")


if __name__ == "__main__":
    main()
