"""Hypothesis strategies for the test suite, built on the public certqnn.testing helpers."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from certqnn.testing import (DEFAULT_ACTIVATIONS, DEFAULT_LEVELS, brute_force_optimum,  # noqa: F401
                             make_problem, problems)

#: Problems small enough that brute force over Q^d and both backends run in milliseconds.
tiny_problems = problems(max_n=16, max_d=4, max_binary_dim=6)

#: The default strategy of certqnn.testing (n 4..30, d 1..6, d*bits <= 8).
default_problems = problems()

#: Width-limited problems (cardinality constraint m = 1 or 2).
width_limited_problems = problems(max_n=14, max_d=3, max_binary_dim=6, widths=(1, 2))

seeds = st.integers(0, 2 ** 32 - 1)


@st.composite
def lasso_instances(draw, max_n=12, max_m=8, collinear=True):
    """(Phi, y, beta) with beta a drawn fraction of max|Phi^T y| (so alpha != 0)."""
    n = draw(st.integers(2, max_n))
    m = draw(st.integers(1, max_m))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((n, m))
    if collinear and m > 1 and draw(st.booleans()):
        r = draw(st.integers(1, min(n, m)))
        Phi = rng.standard_normal((n, r)) @ rng.standard_normal((r, m))      # rank r
        if draw(st.booleans()):
            Phi[:, -1] = Phi[:, 0]                                               # exact duplicate
    y = rng.standard_normal(n)
    frac = draw(st.sampled_from([0.01, 0.05, 0.2, 0.5, 0.9]))
    beta = frac * float(np.max(np.abs(Phi.T @ y)))
    return Phi, y, max(beta, 1e-3)


def perturb(x, how):
    """Tamper with a number: how = ("ulp", k) | ("rel", r) | ("abs", a) | ("set", v)."""
    kind, v = how
    if kind == "ulp":
        for _ in range(abs(v)):
            x = math.nextafter(x, math.inf if v > 0 else -math.inf)
        return x
    if kind == "rel":
        return x * (1.0 + v)
    if kind == "abs":
        return x + v
    return v


def value_of(Q, u):
    """u~^T Q u~ for one sign vector u (p,), computed directly (independent of certqnn.pricing)."""
    ut = np.append(u, 1.0)
    return float(ut @ Q @ ut)
