"""BG/NBD and Gamma-Gamma without a database: the likelihoods, their exact gradients
and the fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from fidela.domain import clv
from fidela.domain.clv import Floats

RNG = np.random.default_rng(7)
X = RNG.poisson(1.5, 500).astype(float)
BIG_T = RNG.uniform(20, 40, 500)
T_X = np.where(X > 0, BIG_T * RNG.uniform(0.2, 1.0, 500), 0.0)
M = RNG.gamma(5.0, 3.0, 500)


def test_the_likelihood_is_highest_at_the_fit() -> None:
    fitted = clv.fit_bgnbd(X, T_X, BIG_T)
    best = np.array(fitted[:4])
    at_best = np.sum(clv.bgnbd_log_likelihood(best, X, T_X, BIG_T))
    assert at_best == pytest.approx(fitted.log_likelihood)
    for factor in (0.9, 1.1):
        nudged = best.copy()
        nudged[0] *= factor
        assert np.sum(clv.bgnbd_log_likelihood(nudged, X, T_X, BIG_T)) < at_best


@pytest.mark.parametrize(
    "params", [(0.24, 4.4, 0.79, 2.4), (1.0, 1.0, 1.0, 1.0), (3.0, 0.5, 2.0, 0.3)]
)
def test_the_bgnbd_gradient_is_the_likelihoods_slope(params: tuple[float, ...]) -> None:
    def summed(at: Floats) -> float:
        return float(np.sum(clv.bgnbd_log_likelihood(at, X, T_X, BIG_T)))

    point = np.array(params)
    exact = clv.bgnbd_gradient(point, X, T_X, BIG_T)
    assert exact == pytest.approx(approx_fprime(point, summed, 1e-7), rel=1e-5, abs=1e-3)


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (1.0, 1.0, 1.0), (0.5, 9.0, 2.0)])
def test_the_gamma_gamma_gradient_is_the_likelihoods_slope(params: tuple[float, ...]) -> None:
    repeat = X > 0

    def summed(at: Floats) -> float:
        return float(np.sum(clv.gamma_gamma_log_likelihood(at, X[repeat], M[repeat])))

    point = np.array(params)
    exact = clv.gamma_gamma_gradient(point, X[repeat], M[repeat])
    assert exact == pytest.approx(approx_fprime(point, summed, 1e-7), rel=1e-5, abs=1e-3)


def test_gamma_gamma_recovers_the_parameters_it_was_drawn_from() -> None:
    rng = np.random.default_rng(11)
    p, q, gamma = 6.0, 4.0, 15.0
    purchases = rng.integers(1, 8, 20_000).astype(float)
    nu = rng.gamma(q, 1 / gamma, purchases.size)  # each customer's scale
    means = np.array(
        [rng.gamma(p, 1 / v, int(n)).mean() for v, n in zip(nu, purchases, strict=True)]
    )
    fitted = clv.fit_gamma_gamma(purchases, means)
    assert [fitted.p, fitted.q, fitted.gamma] == pytest.approx([p, q, gamma], rel=0.1)
