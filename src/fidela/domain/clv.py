"""Predictive customer value: BG/NBD for purchases and Gamma-Gamma for spend per purchase.

Both are fitted by maximum likelihood on each customer's summary over a calibration
period, with the conventions of the literature: repeat purchases counted by distinct
days (`x`, the first day's purchase is not a repeat), times in weeks from the
customer's first purchase (`t_x` to the last one, `T` to the end of the calibration
period), and `m` the mean value of the repeat days' purchases.

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while
  alive a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each purchase they
  drop out with probability p ~ Beta(a, b).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013): the value
  of a customer's purchases varies around their mean, Gamma(p, nu) with nu ~ Gamma(q, gamma),
  independently of how often they buy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Floats = NDArray[np.float64]


class BgNbd(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


class GammaGamma(NamedTuple):
    p: float
    q: float
    gamma: float
    log_likelihood: float


def bgnbd_log_likelihood(params: Floats, x: Floats, t_x: Floats, T: Floats) -> Floats:  # noqa: N803
    """Each customer's log-likelihood under BG/NBD with params (r, alpha, a, b)."""
    return _Counts(x, t_x, T).log_likelihood(params)


class _Counts:
    """Customers' summaries, with what depends only on `x` computed once per distinct x
    (a few dozen values for thousands of customers): one evaluation is then a few
    vector operations, which matters at half a million customers."""

    def __init__(self, x: Floats, t_x: Floats, T: Floats) -> None:  # noqa: N803
        self.x, self.t_x, self.T = x, t_x, T
        self.distinct, self.index = np.unique(x, return_inverse=True)
        self.repeat = x > 0

    def log_likelihood(self, params: Floats) -> Floats:
        r, alpha, a, b = params
        xs, x = self.distinct, self.x
        # Per distinct x: the gamma and beta terms, and log(b + x - 1) where x > 0.
        per_x = gammaln(r + xs) - gammaln(r) + betaln(a, b + xs) - betaln(a, b)
        drop_x = np.log(a) - np.log(np.where(xs > 0, b + xs - 1, 1.0))
        alive = -(r + x) * np.log(alpha + self.T)
        # After the last purchase, the customer dropped out: only for those who bought again.
        dropped = np.where(
            self.repeat, drop_x[self.index] - (r + x) * np.log(alpha + self.t_x), -np.inf
        )
        likelihood: Floats = per_x[self.index] + r * np.log(alpha) + np.logaddexp(alive, dropped)
        return likelihood


def fit_bgnbd(x: Floats, t_x: Floats, T: Floats) -> BgNbd:  # noqa: N803
    """The parameters that maximize the likelihood of the customers' summaries."""
    counts = _Counts(x, t_x, T)

    def cost(log_params: Floats) -> float:
        return -float(np.sum(counts.log_likelihood(np.exp(log_params))))

    found = _maximize(cost, 4)
    r, alpha, a, b = np.exp(found.x)
    return BgNbd(float(r), float(alpha), float(a), float(b), -float(found.fun))


def p_alive(model: BgNbd, x: Floats, t_x: Floats, T: Floats) -> Floats:  # noqa: N803
    """The probability that each customer is still active at the end of calibration."""
    r, alpha, a, b, _ = model
    ratio = np.where(
        x > 0, (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0
    )
    return 1.0 / (1.0 + ratio)


def expected_purchases(
    model: BgNbd,
    weeks: float,
    x: Floats,
    t_x: Floats,
    T: Floats,  # noqa: N803
) -> Floats:
    """Each customer's expected number of purchases in the `weeks` after calibration."""
    r, alpha, a, b, _ = model
    head = (a + b + x - 1) / (a - 1)
    tail = ((alpha + T) / (alpha + T + weeks)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, weeks / (alpha + T + weeks)
    )
    expected: Floats = head * (1 - tail) * p_alive(model, x, t_x, T)
    return expected


class _Spends:
    """Repeat customers' purchases and mean spend, with the logarithms that do not depend
    on the parameters taken once, and the gamma terms once per distinct x."""

    def __init__(self, x: Floats, m: Floats) -> None:
        self.x, self.m_x = x, m * x
        self.log_m, self.log_x = np.log(m), np.log(x)
        self.distinct, self.index = np.unique(x, return_inverse=True)

    def log_likelihood(self, params: Floats) -> Floats:
        p, q, gamma = params
        pxs = p * self.distinct
        per_x = gammaln(pxs + q) - gammaln(pxs) - gammaln(q) + q * np.log(gamma)
        px = p * self.x
        likelihood: Floats = (
            per_x[self.index]
            + (px - 1) * self.log_m
            + px * self.log_x
            - (px + q) * np.log(gamma + self.m_x)
        )
        return likelihood


def fit_gamma_gamma(x: Floats, m: Floats) -> GammaGamma:
    """Fitted on the customers who bought again (x > 0) with a positive mean spend."""
    kept = (x > 0) & (m > 0)
    spends = _Spends(x[kept], m[kept])

    def cost(log_params: Floats) -> float:
        return -float(np.sum(spends.log_likelihood(np.exp(log_params))))

    found = _maximize(cost, 3)
    p, q, gamma = np.exp(found.x)
    return GammaGamma(float(p), float(q), float(gamma), -float(found.fun))


def expected_spend(model: GammaGamma, x: Floats, m: Floats) -> Floats:
    """Each customer's expected value per purchase: their mean, shrunk towards the
    population's by how few purchases it rests on (the population's for x = 0)."""
    p, q, gamma, _ = model
    below = p * x + q - 1
    # The mean exists only where p x + q > 1: elsewhere none (NaN), never a negative spend.
    with np.errstate(divide="ignore", invalid="ignore"):
        spend: Floats = np.where(below > 0, (p * (gamma + x * m)) / below, np.nan)
    return spend


class _Optimum(NamedTuple):
    x: Floats  # the log-parameters
    fun: float  # the cost there


def _maximize(cost: Callable[[Floats], float], count: int) -> _Optimum:
    """Minimize `cost` over log-parameters (so that the parameters stay positive), from
    1 each, by L-BFGS-B (numerical gradients); a second run from there settles it."""
    found = minimize(cost, np.zeros(count), method="L-BFGS-B")
    settled = minimize(cost, found.x, method="L-BFGS-B")
    best = settled if settled.fun <= found.fun else found
    return _Optimum(np.asarray(best.x, dtype=np.float64), float(best.fun))
