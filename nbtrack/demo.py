"""A tiny numpy logistic regression for demos, the quickstart notebook and tests.

Everything here is deterministic for a given ``seed`` and needs numpy only, so
``nbtrack demo`` works on a fresh machine without a deep-learning framework::

    X, y = make_data(seed=0)
    w = init_weights(X)
    for step in range(epochs):
        w, loss, acc = train_step(w, X, y, lr)
        nbtrack.log({"loss": loss, "acc": acc}, step=step)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["best", "init_weights", "learning_rates", "make_data", "run_demo", "train", "train_step"]

LogFn = Callable[..., Any]


def make_data(n: int = 512, features: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A linearly separable-ish binary classification problem.

    Returns ``X`` of shape ``(n, features + 1)`` (the last column is a constant 1, the
    bias) and labels ``y`` in {0, 1}, drawn from a noisy logistic model.

    Example
    -------
    >>> X, y = make_data(n=4, features=2)
    >>> X.shape, y.shape
    ((4, 3), (4,))
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    true_w = rng.normal(size=features)
    p = 1.0 / (1.0 + np.exp(-(X @ true_w) * 2.0))
    y = (rng.random(n) < p).astype(np.float64)
    return np.hstack([X, np.ones((n, 1))]), y


def init_weights(X: np.ndarray) -> np.ndarray:
    """All-zero weights for the columns of ``X`` (so every run starts at loss log 2)."""
    import numpy as np

    return np.zeros(X.shape[1])


def train_step(
    w: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float
) -> tuple[np.ndarray, float, float]:
    """One full-batch gradient step; returns the new weights, and the loss and accuracy before it.

    Example
    -------
    >>> X, y = make_data(n=64)
    >>> w, loss, acc = train_step(init_weights(X), X, y, lr=0.1)
    >>> round(loss, 4)
    0.6931
    """
    import numpy as np

    logits = X @ w
    p = 1.0 / (1.0 + np.exp(-logits))
    eps = 1e-12
    loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    acc = float(np.mean((p >= 0.5) == (y == 1.0)))
    grad = X.T @ (p - y) / len(y)
    return w - lr * grad, loss, acc


def train(lr: float, epochs: int, seed: int = 0, log: LogFn | None = None) -> float:
    """Train from scratch for ``epochs`` steps and return the final loss.

    Parameters
    ----------
    lr
        Learning rate.
    epochs
        Number of full-batch gradient steps.
    seed
        Seed of the data set (same seed, same data, same result).
    log
        Called as ``log({"loss": ..., "acc": ...}, step=step)`` every step, e.g.
        ``nbtrack.log`` or ``run.log``.

    Example
    -------
    >>> with nbtrack.init(name="lr=0.5", config={"lr": 0.5}) as run:  # doctest: +SKIP
    ...     train(0.5, 100, log=run.log)
    """
    X, y = make_data(seed=seed)
    w = init_weights(X)
    loss = float("nan")
    for step in range(epochs):
        w, loss, acc = train_step(w, X, y, lr)
        if log is not None:
            log({"loss": loss, "acc": acc}, step=step)
    return loss


def learning_rates(count: int, low: float = 0.01, high: float = 1.0) -> list[float]:
    """``count`` learning rates spread evenly on a log scale from ``low`` to ``high``.

    Example
    -------
    >>> learning_rates(3)
    [0.01, 0.1, 1.0]
    """
    if count < 1:
        raise ValueError(f"need at least one learning rate; got count={count}")
    if count == 1:
        return [round(low**0.5 * high**0.5, 3)]
    ratio = (high / low) ** (1 / (count - 1))
    return [float(f"{low * ratio**i:.3g}") for i in range(count)]


def run_demo(
    runs: int = 3, steps: int = 200, project: str = "demo", seed: int = 0, store: Any = None
) -> list[Any]:
    """Train one tracked run per learning rate and return the finished :class:`nbtrack.Run` s.

    Example
    -------
    >>> finished = run_demo(runs=2, steps=20, store="/tmp/demo-store")  # doctest: +SKIP
    """
    import nbtrack

    done = []
    for lr in learning_rates(runs):
        config = {"lr": lr, "steps": steps, "seed": seed, "model": "logistic regression"}
        with nbtrack.init(
            name=f"lr={lr:g}", project=project, config=config, tags=["demo"], dir=store
        ) as run:
            train(lr, steps, seed=seed, log=run.log)
        done.append(run)
    return done


def best(runs: Sequence[Any], metric: str = "loss") -> Any:
    """The run with the lowest final ``metric``."""
    return min(runs, key=lambda run: run.summary.get(metric, float("inf")))
