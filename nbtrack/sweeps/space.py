"""W&B's distributions as Optuna search dimensions, so Optuna's samplers do the searching.

Each searched parameter becomes one Optuna distribution over a *search value*, and a
function turns the search value into the config value. Where Optuna has the
distribution itself, the search value is the config value. Where it has none (the
normal and beta families, categorical probabilities), the search value is a uniform
quantile ``u`` and the config value is the inverse CDF at ``u``: random search then
draws exactly W&B's distribution, and TPE models the quantile. Every value lies in
the declared support below; where W&B's rounding could leave it (``round(x / q) * q``
near a bound), the value is clamped to the nearest multiple of ``q`` inside it.

======================  ========================  ==========================  ==============================
W&B distribution        declared support          Optuna (search value)       config value
======================  ========================  ==========================  ==============================
constant                ``value``                 (not searched)              ``value``
categorical             ``values``                Categorical(values) [1]     the value
weighted categorical    values with p > 0         Float(0, 1): quantile u     first value with cum. p > u
int_uniform             integers in [min, max]    Int(min, max)               the same
uniform                 [min, max]                Float(min, max)             the same
q_uniform               k*q in [min, max]         Int(k_low, k_high): k       k * q
log_uniform             [e^min, e^max]            Float(e^min, e^max, log)    the same
log_uniform_values      [min, max]                Float(min, max, log)        the same
q_log_uniform           k*q in [e^min, e^max]     Float(e^min, e^max, log)    round(x / q) * q, clamped [2]
q_log_uniform_values    k*q in [min, max]         Float(min, max, log)        round(x / q) * q, clamped [2]
inv_log_uniform         [e^-max, e^-min]          Float(e^-max, e^-min, log)  the same [3]
inv_log_uniform_values  [min, max]                Float(min, max, log)        the same [3]
normal                  finite reals (|z| <= 7)   Float(ε, 1 - ε): u          mu + sigma * Φ⁻¹(u)
q_normal                multiples of q            Float(ε, 1 - ε): u          round(normal / q) * q
log_normal              (0, ∞)                    Float(ε, 1 - ε): u          exp(mu + sigma * Φ⁻¹(u))
q_log_normal            positive multiples of q   Float(ε, 1 - ε): u          max(q, round(lognormal / q) * q)
beta                    [0, 1]                    Float(0, 1): u              Beta(a, b)⁻¹(u)
q_beta                  k*q in [0, 1]             Float(0, 1): u              round(beta / q) * q, clamped
======================  ========================  ==========================  ==============================

ε = 1e-12; k*q means the multiples of q in that range (``k`` whole). Integer ``q``
gives integer values, as in W&B. [1] Positions instead of values when the values
are lists, dicts or repeated (Optuna's choices must be distinct scalars). [2] Clamped
to the nearest multiple of q inside the support. [3] ``1 / e^U`` with ``U`` uniform
is log-uniform, and W&B's sampler for ``_values`` draws exactly that. Weighted
categorical: ``values`` with ``probabilities`` (W&B's categorical_w_probabilities).

Differences from W&B: q_log_normal never gives 0 (W&B's rounding does for values below
q/2); q_uniform gives its end points the same weight as the others (W&B's rounding
gives them half).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from .config import ParamSpec, SweepSpec

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Dimension", "SearchSpace", "beta_ppf", "bounds", "multiples"]

EPS = 1e-12
_STANDARD = NormalDist()


@dataclass
class Dimension:
    """One searched parameter: its Optuna distribution and how a search value becomes a config value."""

    spec: ParamSpec
    distribution: BaseDistribution
    to_value: Callable[[Any], Any]
    #: search values enumerating the parameter for a grid (None: not enumerable)
    grid: list[Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name


class SearchSpace:
    """The searched dimensions and the constants of a sweep.

    Example
    -------
    >>> from nbtrack.sweeps.config import parse_config
    >>> space = SearchSpace(parse_config({"method": "grid", "parameters": {
    ...     "opt": {"parameters": {"lr": {"values": [0.1, 0.01]}}}, "epochs": {"value": 3}}}))
    >>> space.config({"opt.lr": 0.1})
    {'opt': {'lr': 0.1}, 'epochs': 3}
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.dimensions = [dimension(p) for p in spec.searched]
        self._by_name = {d.name: d for d in self.dimensions}

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions by parameter name, for ``study.ask``."""
        return {d.name: d.distribution for d in self.dimensions}

    def config(self, search_values: Mapping[str, Any]) -> dict[str, Any]:
        """The nested config a trial gets, from its search values (constants included)."""
        out: dict[str, Any] = {}
        for p in self.spec.parameters:
            if p.distribution == "constant":
                value = copy.deepcopy(p.value)
            else:
                value = self._by_name[p.name].to_value(search_values[p.name])
            node = out
            for key in p.path[:-1]:
                node = node.setdefault(key, {})
            node[p.path[-1]] = value
        return out

    def flat_values(self, search_values: Mapping[str, Any]) -> dict[str, Any]:
        """Config values of the searched parameters by dotted name."""
        return {d.name: d.to_value(search_values[d.name]) for d in self.dimensions}

    def grid(self) -> list[dict[str, Any]]:
        """Every grid point as search values, the last parameter varying fastest."""
        axes = []
        for d in self.dimensions:
            if d.grid is None:
                from ..errors import NbtrackError

                raise NbtrackError(f"grid search cannot enumerate {d.name} ({d.spec.distribution})")
            axes.append(d.grid)
        names = [d.name for d in self.dimensions]
        return [dict(zip(names, point)) for point in itertools.product(*axes)]


# -- building a dimension --------------------------------------------------------
def dimension(p: ParamSpec) -> Dimension:
    """The :class:`Dimension` for one (non-constant) parameter."""
    from optuna.distributions import FloatDistribution, IntDistribution

    d = p.distribution
    low: float
    high: float
    if d == "categorical":
        return _categorical(p)
    if d == "categorical_w_probabilities":
        return _weighted(p)
    if d == "int_uniform":
        first, last = int(p.min), int(p.max)  # type: ignore[arg-type]
        return Dimension(p, IntDistribution(first, last), _identity, list(range(first, last + 1)))
    if d == "uniform":
        return Dimension(p, FloatDistribution(float(p.min), float(p.max)), float)  # type: ignore[arg-type]
    if d == "q_uniform":
        k_low, k_high = multiples(*bounds(p), p.q) or (0, 0)
        return Dimension(p, IntDistribution(k_low, k_high), lambda k: _times(int(k), p.q),
                         list(range(k_low, k_high + 1)))
    if d in ("log_uniform", "log_uniform_values", "inv_log_uniform", "inv_log_uniform_values"):
        low, high = bounds(p)
        return Dimension(p, FloatDistribution(low, high, log=True), float)
    if d in ("q_log_uniform", "q_log_uniform_values"):
        low, high = bounds(p)
        k_low, k_high = multiples(low, high, p.q) or (1, 1)
        return Dimension(p, FloatDistribution(low, high, log=True),
                         lambda x: _times(min(max(round(x / p.q), k_low), k_high), p.q))
    return _quantile(p)


def _identity(value: Any) -> Any:
    return value


def _categorical(p: ParamSpec) -> Dimension:
    from optuna.distributions import CategoricalDistribution

    values = list(p.values)
    scalar = all(v is None or isinstance(v, (bool, int, float, str)) for v in values)
    unique = scalar and len({(type(v), v) for v in values}) == len(values)
    if unique:
        return Dimension(p, CategoricalDistribution(values), _identity, list(values))
    # Lists, dicts or repeats: search over positions (Optuna's choices must be distinct scalars).
    return Dimension(p, CategoricalDistribution(list(range(len(values)))),
                     lambda i: copy.deepcopy(values[int(i)]), list(range(len(values))))


def _weighted(p: ParamSpec) -> Dimension:
    from optuna.distributions import FloatDistribution

    values, probs = list(p.values), list(p.probabilities or ())
    edges = list(itertools.accumulate(probs))
    kept = [i for i, prob in enumerate(probs) if prob > 0]

    def to_value(u: float) -> Any:
        for i in kept:
            if u < edges[i]:
                return copy.deepcopy(values[i])
        return copy.deepcopy(values[kept[-1]])

    middles = [edges[i] - probs[i] / 2 for i in kept]
    return Dimension(p, FloatDistribution(0.0, 1.0), to_value, middles)


def _quantile(p: ParamSpec) -> Dimension:
    from optuna.distributions import FloatDistribution

    d = p.distribution
    if d in ("beta", "q_beta"):
        def base(u: float) -> float:
            return beta_ppf(u, p.a, p.b)
        low, high = 0.0, 1.0
    else:
        def base(u: float) -> float:
            z = p.mu + p.sigma * _STANDARD.inv_cdf(min(max(u, EPS), 1 - EPS))
            return math.exp(z) if d in ("log_normal", "q_log_normal") else z
        low, high = EPS, 1 - EPS
    if not d.startswith("q_"):
        return Dimension(p, FloatDistribution(low, high), base)
    top = math.floor(1 / p.q + 1e-9)

    def quantised(u: float) -> Any:
        k = round(base(u) / p.q)
        if d == "q_log_normal":
            k = max(k, 1)
        elif d == "q_beta":
            k = min(max(k, 0), top)
        return _times(k, p.q)

    return Dimension(p, FloatDistribution(low, high), quantised)


# -- numbers ----------------------------------------------------------------------
def bounds(p: ParamSpec) -> tuple[float, float]:
    """The support's end points in value space (W&B's log-space bounds exponentiated)."""
    low, high = float(p.min), float(p.max)  # type: ignore[arg-type]
    if p.distribution in ("log_uniform", "q_log_uniform"):
        return math.exp(low), math.exp(high)
    if p.distribution == "inv_log_uniform":
        return math.exp(-high), math.exp(-low)
    return low, high


def multiples(low: float, high: float, q: float) -> tuple[int, int] | None:
    """The range of ``k`` with ``k * q`` in [low, high], or None when there is none."""
    k_low = math.ceil(low / q - 1e-9)
    k_high = math.floor(high / q + 1e-9)
    return (k_low, k_high) if k_low <= k_high else None


def _times(k: int, q: float) -> Any:
    """``k * q`` without binary noise (3 * 0.1 is 0.3), an int when q is an int."""
    if isinstance(q, int):
        return k * q
    return float(Decimal(k) * Decimal(repr(q)))


def beta_ppf(u: float, a: float, b: float) -> float:
    """The Beta(a, b) quantile at ``u`` (inverse of the regularised incomplete beta).

    Example
    -------
    >>> round(beta_ppf(0.5, 2.0, 2.0), 6), round(beta_ppf(0.25, 1.0, 1.0), 6)
    (0.5, 0.25)
    """
    if u <= 0:
        return 0.0
    if u >= 1:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(200):  # bisection: the CDF is monotone, so this always converges
        mid = (low + high) / 2
        if _beta_cdf(mid, a, b) < u:
            low = mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    return (low + high) / 2


def _beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _beta_cdf(1 - x, b, a)
    log_front = a * math.log(x) + b * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f / a
