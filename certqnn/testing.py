"""Public testing helpers for certqnn and for code built on it.

    from certqnn.testing import problems, brute_force_optimum, assert_within_certified_gap

    @given(problems(max_d=3))
    def test_my_trainer(problem):
        net = my_trainer(problem)
        assert_within_certified_gap(net, problem, rel=0.05)

* :func:`problems` is a `hypothesis <https://hypothesis.readthedocs.io>`_ strategy drawing small,
  well-conditioned :class:`~certqnn.QNNProblem` instances. Hypothesis is imported lazily inside
  that function only, so ``import certqnn.testing`` works without it; install the ``test`` extra
  (``pip install 'certqnn[test]'``) to use the strategy.
* :func:`brute_force_optimum` computes ``p*_inf`` (docs/math.md §3) for tiny problems *independently of
  the enumeration backend*: it enumerates every weight vector of the ORIGINAL level set ``Q^d``
  (not the binary reduction of docs/math.md §2), builds every atom ``sigma(X u)`` and solves the Lasso over
  all of them with :func:`certqnn.lasso.refit`; the dual bound is recomputed here.
* :func:`assert_within_certified_gap` asserts that a network's objective is within a relative gap
  of a *certified* lower bound (from the enumeration or SDP backend plus :func:`certqnn.certify`,
  which re-verifies it), with a message that says by how much it missed.

Everything here depends on numpy and certqnn only (plus hypothesis for :func:`problems`).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .activations import Polynomial
from .network import QuantizedNetwork
from .gaps import relative_gap
from .problem import QNNProblem
from .quantization import Levels

__all__ = ["problems", "DEFAULT_ACTIVATIONS", "DEFAULT_LEVELS", "brute_force_optimum", "BruteForceOptimum",
           "assert_within_certified_gap", "beta_max", "make_problem"]

#: Activations drawn by default: the classic quadratic, and ones with b != 0 (odd part, so u and -u
#: are different atoms) and c != 0 (constant part).
DEFAULT_ACTIVATIONS: tuple = ((1.0, 0.0, 0.0), (1.0, 0.0, 0.5), (1.0, 0.5, 0.0), (0.5, 1.0, -0.25),
                              (1.0, -1.0, 0.3), (-1.0, 0.5, 0.0))
#: Level sets drawn by default.
DEFAULT_LEVELS: tuple = ("binary", "ternary", "kbit:2")

BRUTE_FORCE_MAX_ATOMS = 1 << 12     # |Q|^d weight vectors enumerated at most


# -- data --------------------------------------------------------------------------------------
def _atoms_binary(problem: QNNProblem, max_dim: int = 14) -> np.ndarray | None:
    """All atoms sigma(X~ s), s in {+-1}^p, shape (n, 2^p); None when p > max_dim."""
    p = problem.binary_dim
    if p > max_dim:
        return None
    j = np.arange(1 << p)
    S = 1.0 - 2.0 * ((j[None, :] >> np.arange(p)[:, None]) & 1)
    return problem.activation(problem.binary_design() @ S)


def beta_max(X, y, activation, levels="binary", samples: int = 4096, seed: int = 0) -> float:
    """max_u |phi_u^T y|: the smallest beta for which alpha = 0 is optimal (docs/math.md §4 at w = -y).

    Exact (by enumeration) when d*bits <= 14; otherwise a lower estimate from `samples` random
    weight vectors (so a beta below it still gives a nontrivial solution)."""
    prob = QNNProblem(X, y, activation=activation, levels=levels, beta=1.0)
    Phi = _atoms_binary(prob)
    if Phi is None:
        rng = np.random.default_rng(seed)
        S = np.where(rng.random((prob.binary_dim, samples)) < 0.5, -1.0, 1.0)
        Phi = prob.activation(prob.binary_design() @ S)
    return float(np.max(np.abs(Phi.T @ prob.y)))


def make_problem(seed: int, n: int, d: int, activation=(1.0, 0.0, 0.0), levels="binary",
                 beta_fraction: float = 0.2, target: str = "planted", noise: float = 0.1,
                 width: int | None = None) -> QNNProblem:
    """A deterministic, well-conditioned problem from a seed.

    X has i.i.d. normal entries scaled so that x^T u has unit variance for u drawn uniformly from
    the level set; y is a planted quantized network plus noise ('planted'), its sign ('labels',
    y in {-1, +1}) or pure noise ('noise'), normalised to unit RMS. beta = beta_fraction * beta_max
    (see :func:`beta_max`), so any beta_fraction in (0, 1) gives a solution with alpha != 0.
    """
    rng = np.random.default_rng(seed)
    lv = Levels.parse(levels)
    act = activation if isinstance(activation, Polynomial) else Polynomial(*activation)
    vals = lv.values
    rms = float(np.sqrt(np.mean(vals ** 2)))
    X = rng.standard_normal((n, d)) / (rms * math.sqrt(d))
    if target == "noise":
        y = rng.standard_normal(n)
    else:
        k = int(rng.integers(1, 4))
        U = rng.choice(vals, size=(d, k))
        a = rng.standard_normal(k)
        y = act(X @ U) @ a
        y = y - (y.mean() if target == "labels" else 0.0)
        y = y + noise * (np.std(y) + 1e-3) * rng.standard_normal(n)
        if target == "labels":
            y = np.where(y >= 0, 1.0, -1.0)
    rms_y = float(np.sqrt(np.mean(y ** 2)))
    y = y / rms_y if rms_y > 0 else np.ones(n)
    bmax = beta_max(X, y, act, lv)
    beta = beta_fraction * bmax if bmax > 0 else 1.0
    return QNNProblem(X, y, activation=act, levels=lv, beta=beta, width=width)


def problems(max_n: int = 30, max_d: int = 6, *, min_n: int = 4, min_d: int = 1, levels=DEFAULT_LEVELS,
             activations=DEFAULT_ACTIVATIONS, max_binary_dim: int = 8, targets=("planted", "labels", "noise"),
             beta_fractions=(0.02, 0.6), widths=(None,)):
    """Hypothesis strategy drawing small, well-conditioned QNNProblems (needs the `test` extra).

    Only integers and choices are drawn; the data come from a numpy generator seeded by a drawn
    integer (see :func:`make_problem`), so failures shrink to a seed and replay exactly.

    max_n, min_n: sample count range (default 4..30). max_d, min_d: feature count range (default
    1..6), further limited so that d * bits <= max_binary_dim (default 8: brute force and exact
    enumeration stay instant). levels: level specs to draw from (default binary, ternary, kbit:2).
    activations: (a, b, c) triples or Polynomials (default :data:`DEFAULT_ACTIVATIONS`: includes
    (1, 0, 0) and ones with b != 0 and c != 0). targets: kinds of y. beta_fractions: (lo, hi) range
    of beta / beta_max (beta_max = the smallest beta with the all-zero solution; a fraction in
    (0, 1) keeps solutions nontrivial). widths: width values to draw from (None = p*_inf).
    """
    try:
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("certqnn.testing.problems needs hypothesis: pip install 'certqnn[test]'") from exc

    parsed = [Levels.parse(lv) for lv in levels]
    usable = [lv for lv in parsed if lv.n_bits * min_d <= max_binary_dim]
    if not usable:
        raise ValueError(f"no level set in {levels!r} fits max_binary_dim={max_binary_dim} with d >= {min_d}")
    if not 1 <= min_n <= max_n or not 1 <= min_d <= max_d:
        raise ValueError("need 1 <= min_n <= max_n and 1 <= min_d <= max_d")
    lo, hi = beta_fractions
    if not 0 < lo <= hi:
        raise ValueError("beta_fractions must satisfy 0 < lo <= hi")
    # beta / beta_max on a log grid of integers (no raw float draws)
    grid = np.geomspace(lo, hi, 33) if hi > lo else np.array([lo])

    @st.composite
    def _problem(draw):
        lv = draw(st.sampled_from(usable))
        d = draw(st.integers(min_d, max(min_d, min(max_d, max_binary_dim // lv.n_bits))))
        n = draw(st.integers(min_n, max_n))
        act = draw(st.sampled_from(list(activations)))
        target = draw(st.sampled_from(list(targets)))
        frac = float(grid[draw(st.integers(0, len(grid) - 1))])
        width = draw(st.sampled_from(list(widths)))
        seed = draw(st.integers(0, 2 ** 32 - 1))
        return make_problem(seed, n, d, activation=act, levels=lv, beta_fraction=frac, target=target,
                            width=width)

    return _problem()


# -- brute force --------------------------------------------------------------------------------
@dataclass
class BruteForceOptimum:
    """p*_inf of a tiny problem by enumeration over Q^d.

    value: J of the returned network (an upper bound on p*_inf, equal to it up to the Lasso's
    accuracy); lower_bound: the dual bound g(s w) of docs/math.md §4 with the exact rho over all atoms
    (a lower bound on p*_inf up to floating-point rounding); U (d, k), alpha (k,): an optimal
    network; atoms: number of distinct atoms enumerated. float(result) is `value`.
    """

    value: float
    lower_bound: float
    U: np.ndarray
    alpha: np.ndarray
    atoms: int

    def __float__(self) -> float:
        return float(self.value)

    @property
    def gap(self) -> float:
        return self.value - self.lower_bound


def brute_force_optimum(problem: QNNProblem, max_atoms: int = BRUTE_FORCE_MAX_ATOMS) -> BruteForceOptimum:
    """p*_inf by enumerating EVERY u in Q^d of the problem's original level set (docs/math.md §3).

    Independent of the enumeration backend and of the binary reduction (docs/math.md §2): weights come
    from `problem.levels.values`, atoms are sigma(X u) evaluated on the original data, duplicate
    atoms (u and -u when b = 0) and zero atoms are dropped, and the Lasso over all remaining atoms
    is solved by certqnn.lasso.refit. The width of the problem is ignored (this is p*_inf).
    Any loss the Lasso master models. Raises ValueError when |Q|^d > max_atoms.
    """
    from .lasso import refit

    vals = np.asarray(problem.levels.values, float)
    d = problem.d
    count = vals.size ** d
    if count > max_atoms:
        raise ValueError(f"brute force over |Q|^d = {vals.size}^{d} = {count} weight vectors exceeds max_atoms={max_atoms}")
    U_all = np.array(list(itertools.product(vals, repeat=d)), dtype=float).T.reshape(d, -1)   # (d, |Q|^d)
    Phi = problem.activation(problem.X @ U_all)
    keep = np.any(Phi != 0.0, axis=0)
    Phi, U_all = Phi[:, keep], U_all[:, keep]
    _, first = np.unique(Phi.T, axis=0, return_index=True)
    first = np.sort(first)
    Phi, U_all = Phi[:, first], U_all[:, first]
    y, beta = problem.y, problem.beta
    loss = problem.loss
    if Phi.shape[1] == 0:
        value = loss.value(np.zeros(problem.n), y)
        lower = loss.dual_value(np.zeros(problem.n), y)
        return BruteForceOptimum(value, lower, np.zeros((d, 0)), np.zeros(0), 0)
    sol = refit(Phi, y, beta, loss)
    alpha = sol.alpha
    nz = alpha != 0
    U, alpha = U_all[:, nz], alpha[nz]
    value = problem.objective(U, alpha)
    # dual bound recomputed here (docs/math.md §4): rho = max over ALL atoms
    if loss.name == "squared":
        w = Phi[:, nz] @ alpha - y
        rho = float(np.max(np.abs(Phi.T @ w)))
        ww, wy = float(w @ w), float(w @ y)
        if ww == 0.0:
            lower = 0.0
        else:
            s = min(max(-wy / ww, 0.0), beta / rho if rho > 0 else math.inf)
            lower = -s * wy - 0.5 * s * s * ww
    else:
        w = sol.w
        rho = float(np.max(np.abs(Phi.T @ w)))
        smax = beta / rho if rho > 0 else math.inf
        lower = loss.dual_value(loss.best_dual_scale(w, y, smax) * w, y)
    return BruteForceOptimum(float(value), float(lower), U, alpha, int(Phi.shape[1]))


# -- certified-gap assertion --------------------------------------------------------------------
def _as_network(network) -> QuantizedNetwork:
    if isinstance(network, QuantizedNetwork):
        return network
    if hasattr(network, "network") and isinstance(network.network, QuantizedNetwork):
        return network.network          # a Result
    if isinstance(network, tuple) and len(network) == 2:
        return QuantizedNetwork(*network)
    raise TypeError(f"expected a QuantizedNetwork, a Result or a (U, alpha) pair, got {type(network).__name__}")


def assert_within_certified_gap(network, problem: QNNProblem, rel: float, lower_bound: float | None = None,
                                backend: str = "auto", **options) -> float:
    """Assert J(network) - LB <= rel * max(|J(network)|, 1e-12) for a certified lower bound LB.

    network: a QuantizedNetwork, a Result, or a (U, alpha) pair. lower_bound: a lower bound you
    already trust (e.g. from a verified certificate); otherwise one is computed by running
    certqnn's `backend` ('auto': enumeration when d*bits <= 12, else sdp; extra `options` go to
    solve) and certify(), which re-verifies it. The network must lie on the level grid and respect
    problem.width, and LB must not exceed J (beyond 1e-9 relative: that would mean an invalid bound).
    Returns the relative gap; raises AssertionError with the numbers otherwise.
    """
    from . import certify, solve

    net = _as_network(network)
    U, alpha = net.U, net.alpha
    if U.shape != (problem.d, alpha.shape[0]):
        raise AssertionError(f"network shapes U {U.shape}, alpha {alpha.shape} do not fit d = {problem.d}")
    off = ~problem.levels.contains(U, tol=1e-9 * max(1.0, float(np.max(np.abs(problem.levels.values)))))
    if np.any(off):
        i, j = np.argwhere(off)[0]
        raise AssertionError(f"network weight U[{i}, {j}] = {U[i, j]!r} is not in the level set "
                             f"{problem.levels.values.tolist()}")
    if problem.width is not None and alpha.shape[0] > problem.width:
        raise AssertionError(f"network has {alpha.shape[0]} neurons, the problem allows width {problem.width}")
    J = problem.objective(U, alpha)
    if lower_bound is None:
        name = backend
        if name == "auto":
            name = "enumeration" if problem.binary_dim <= 12 else "sdp"
        cert = certify(problem, solve(problem, backend=name, **options))
        lb, source = cert.lower_bound, f"certified by backend '{name}' (certificate upper bound {cert.upper_bound!r})"
    else:
        lb, source = float(lower_bound), "given"
    gap = J - lb
    relgap = relative_gap(J, lb)
    if relgap < -1e-9:
        raise AssertionError(
            f"the lower bound LB = {lb!r} ({source}) exceeds the network objective J = {J!r}: "
            f"the bound is invalid or the objective is wrong. Problem: {problem.describe()}.")
    if not relgap <= rel:
        raise AssertionError(
            f"network objective J = {J!r} is not within relative gap {rel:g} of the certified lower bound "
            f"LB = {lb!r} ({source}): gap = {gap:.6g}, relative gap = {relgap:.6g} > {rel:g}. "
            f"Problem: {problem.describe()}; network width {alpha.shape[0]}.")
    return float(relgap)
