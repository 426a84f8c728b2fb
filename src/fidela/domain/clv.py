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
from scipy.special import betaln, digamma, gammaln, hyp2f1

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
    return _Counts(x, t_x, T).log_likelihood(params)[0]


def bgnbd_gradient(params: Floats, x: Floats, t_x: Floats, T: Floats) -> Floats:  # noqa: N803
    """The gradient of the customers' summed log-likelihood with respect to (r, alpha, a, b)."""
    return _Counts(x, t_x, T).log_likelihood(params)[1]


class _Counts:
    """Customers' summaries, with what depends only on `x` computed once per distinct x
    (a few dozen values for thousands of customers): one evaluation is then a few
    vector operations, which matters at half a million customers."""

    def __init__(self, x: Floats, t_x: Floats, T: Floats) -> None:  # noqa: N803
        self.x, self.t_x, self.T = x, t_x, T
        self.distinct, self.index, self.count = np.unique(
            x, return_inverse=True, return_counts=True
        )
        self.repeat = x > 0

    def log_likelihood(self, params: Floats) -> tuple[Floats, Floats]:
        """Each customer's log-likelihood, and the gradient of their sum."""
        r, alpha, a, b = params
        xs, x, index = self.distinct, self.x, self.index
        # Per distinct x: the gamma and beta terms, and log(b + x - 1) where x > 0.
        per_x = gammaln(r + xs) - gammaln(r) + betaln(a, b + xs) - betaln(a, b)
        after_last = np.where(xs > 0, b + xs - 1, 1.0)
        drop_x = np.log(a) - np.log(after_last)
        log_t = np.log(alpha + self.T)
        log_t_x = np.log(alpha + self.t_x)
        alive = -(r + x) * log_t
        # After the last purchase, the customer dropped out: only for those who bought again.
        dropped = np.where(self.repeat, drop_x[index] - (r + x) * log_t_x, -np.inf)
        either = np.logaddexp(alive, dropped)
        likelihood: Floats = per_x[index] + r * np.log(alpha) + either
        # The gradient: the per-x terms weighted by how many customers share each x, and
        # the two branches by their shares of each customer's likelihood.
        still = np.exp(alive - either)
        gone = 1.0 - still
        n = len(x)
        ab = a + b
        gradient = np.array(
            [
                np.dot(self.count, digamma(r + xs) - digamma(r))
                + n * np.log(alpha)
                - np.dot(still, log_t)
                - np.dot(gone, log_t_x),
                n * r / alpha - np.dot(r + x, still / (alpha + self.T) + gone / (alpha + self.t_x)),
                np.dot(self.count, digamma(ab) - digamma(ab + xs)) + np.sum(gone) / a,
                np.dot(self.count, digamma(b + xs) - digamma(ab + xs) - digamma(b) + digamma(ab))
                - np.dot(gone, 1.0 / after_last[index]),
            ]
        )
        return likelihood, gradient


def fit_bgnbd(x: Floats, t_x: Floats, T: Floats) -> BgNbd:  # noqa: N803
    """The parameters that maximize the likelihood of the customers' summaries."""
    counts = _Counts(x, t_x, T)
    r, alpha, a, b, log_likelihood = _maximize(counts.log_likelihood, 4)
    return BgNbd(r, alpha, a, b, log_likelihood)


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


def gamma_gamma_log_likelihood(params: Floats, x: Floats, m: Floats) -> Floats:
    """Each repeat customer's log-likelihood under Gamma-Gamma with params (p, q, gamma)."""
    return _Spends(x, m).log_likelihood(params)[0]


def gamma_gamma_gradient(params: Floats, x: Floats, m: Floats) -> Floats:
    """The gradient of the summed log-likelihood with respect to (p, q, gamma)."""
    return _Spends(x, m).log_likelihood(params)[1]


class _Spends:
    """Repeat customers' purchases and mean spend, with the logarithms that do not depend
    on the parameters taken once, and the gamma terms once per distinct x."""

    def __init__(self, x: Floats, m: Floats) -> None:
        self.x, self.m_x = x, m * x
        self.log_m, self.log_x = np.log(m), np.log(x)
        self.distinct, self.index, self.count = np.unique(
            x, return_inverse=True, return_counts=True
        )

    def log_likelihood(self, params: Floats) -> tuple[Floats, Floats]:
        """Each customer's log-likelihood, and the gradient of their sum."""
        p, q, gamma = params
        xs, x = self.distinct, self.x
        pxs = p * xs
        per_x = gammaln(pxs + q) - gammaln(pxs) - gammaln(q) + q * np.log(gamma)
        px = p * x
        log_spent = np.log(gamma + self.m_x)
        likelihood: Floats = (
            per_x[self.index] + (px - 1) * self.log_m + px * self.log_x - (px + q) * log_spent
        )
        n = len(x)
        gradient = np.array(
            [
                np.dot(self.count * xs, digamma(pxs + q) - digamma(pxs))
                + np.dot(x, self.log_m + self.log_x - log_spent),
                np.dot(self.count, digamma(pxs + q))
                - n * digamma(q)
                + n * np.log(gamma)
                - np.sum(log_spent),
                n * q / gamma - np.sum((px + q) / (gamma + self.m_x)),
            ]
        )
        return likelihood, gradient


def fit_gamma_gamma(x: Floats, m: Floats) -> GammaGamma:
    """Fitted on the customers who bought again (x > 0) with a positive mean spend."""
    kept = (x > 0) & (m > 0)
    spends = _Spends(x[kept], m[kept])
    p, q, gamma, log_likelihood = _maximize(spends.log_likelihood, 3)
    return GammaGamma(p, q, gamma, log_likelihood)


def expected_spend(model: GammaGamma, x: Floats, m: Floats) -> Floats:
    """Each customer's expected value per purchase: their mean, shrunk towards the
    population's by how few purchases it rests on (the population's for x = 0)."""
    p, q, gamma, _ = model
    below = p * x + q - 1
    # The mean exists only where p x + q > 1: elsewhere none (NaN), never a negative spend.
    with np.errstate(divide="ignore", invalid="ignore"):
        spend: Floats = np.where(below > 0, (p * (gamma + x * m)) / below, np.nan)
    return spend


Likelihood = Callable[[Floats], tuple[Floats, Floats]]


def _maximize(log_likelihood: Likelihood, count: int) -> list[float]:
    """The parameters that maximize the summed `log_likelihood`, then its value there.

    L-BFGS-B minimizes the negated sum over log-parameters (so that the parameters stay
    positive), from 1 each, with the exact gradient (the chain rule's factor for a
    log-parameter is the parameter itself); if it stops before converging, a second run
    goes on from there.
    """

    def cost(log_params: Floats) -> tuple[float, Floats]:
        params = np.exp(log_params)
        each, gradient = log_likelihood(params)
        return -float(np.sum(each)), -gradient * params

    best = minimize(cost, np.zeros(count), jac=True, method="L-BFGS-B")
    if not best.success:
        again = minimize(cost, best.x, jac=True, method="L-BFGS-B")
        best = again if again.fun <= best.fun else best
    return [*(float(value) for value in np.exp(best.x)), -float(best.fun)]
