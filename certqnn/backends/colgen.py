"""Exact column generation (math §9): certified global optima beyond full enumeration.

Restricted master: the Lasso of math §3 over a working set of atoms, solved exactly and warm
started round to round (feature-sign search with Cholesky solves). Pricing with w = grad L(y_hat):
find atoms with |phi_u^T w| = |u~^T Q(w) u~| > beta. Heuristic pricing (1-flip local search from
the current atoms and random points) runs first and as long as it finds violators; exact pricing
(oracles.max_abs_quadratic: meet in the middle for small p, branch and bound beyond) finishes.
The stopping test is the certified relative gap: the scaling lemma (math §4) with the rho bound
that the exact oracle proved, so the Result's lower bound holds for every network of any width.
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..errors import UnsupportedProblemError
from ..lifting import neuron_outputs, q_matrix
from ..network import QuantizedNetwork
from ..pricing import blas_single_thread, max_abs_quadratic, one_flip_ascent, quadratic_value, shor_shift
from ..problem import QNNProblem
from ..progress import progress
from ..result import DualData, Result, Status
from .base import Backend, register

MAX_COLGEN_DIM = 64          # binary variables per neuron; exact pricing is exponential in the worst case


# -- restricted master ------------------------------------------------------------------------
def feature_sign(G: np.ndarray, c: np.ndarray, beta: float, a0: np.ndarray, max_steps: int | None = None) -> np.ndarray:
    """Exact minimiser of a^T G a / 2 - c^T a + beta |a|_1 by feature-sign search (Lee et al. 2007)
    started from a0. G: (m, m) Gram matrix (PSD), c: (m,). Every step solves the KKT system of the
    active set with fixed signs (Cholesky; least squares when the active atoms are dependent) and
    takes the best point among the sign changes on the segment, so the objective never increases."""
    a = np.array(a0, float)
    m = c.shape[0]
    max_steps = max_steps or 20 * m + 100
    scale = max(1.0, float(np.abs(c).max(initial=0.0)), beta)
    enter_tol = 1e-12 * scale

    def objective(x):
        A = np.flatnonzero(x)
        xa = x[A]
        return 0.5 * xa @ G[np.ix_(A, A)] @ xa - c[A] @ xa + beta * np.abs(xa).sum()

    force_enter = False
    for _ in range(max_steps):
        A0 = np.flatnonzero(a)
        grad = G[:, A0] @ a[A0] - c
        theta = np.sign(a)
        entering = force_enter or bool(np.all(np.abs(grad[A0] + beta * theta[A0]) <= 1e-10 * scale))
        force_enter = False
        if entering:
            viol = np.abs(grad) - beta
            viol[A0] = -np.inf
            j = int(np.argmax(viol))
            if viol[j] <= enter_tol:
                return a
            theta[j] = -np.sign(grad[j])
        A = np.flatnonzero(theta)
        GA = G[np.ix_(A, A)]
        rhs = c[A] - beta * theta[A]
        cur = a[A]
        x = None
        try:
            fac = cho_factor(GA, check_finite=False)
            diag = np.abs(np.diag(fac[0]))
            if diag.min() > 1e-7 * diag.max():            # condition number below ~1e14
                x = cho_solve(fac, rhs, check_finite=False)
        except np.linalg.LinAlgError:
            pass
        if x is None:
            # dependent (or nearly dependent) active atoms: work in the eigenbasis of G_AA
            lam, V = np.linalg.eigh(GA)
            null = lam <= 1e-13 * max(float(lam[-1]), 1e-300)
            if null.any():
                N = V[:, null]
                v = N @ (N.T @ rhs)
                # along a null direction the prediction is fixed and f changes at rate -rhs^T v:
                # exchange atoms (move until the first coefficient reaches zero) if that descends
                if rhs @ v > 0 and np.all(theta[A][cur == 0] * v[cur == 0] >= 0):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ts = np.where(cur * v < 0, -cur / v, np.inf)
                    if np.isfinite(ts.min()):
                        trial = a.copy()
                        trial[A] = cur + ts.min() * v
                        trial[A[int(np.argmin(ts))]] = 0.0
                        if objective(trial) < objective(a):
                            a = trial
                            continue
            inv = np.where(null, 0.0, 1.0 / np.where(null, 1.0, lam))
            x = V @ (inv * (V.T @ rhs))
        d = x - cur
        # discrete line search over the sign changes on the segment cur -> x (f is convex on it)
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = np.where(cur * d < 0, -cur / d, np.inf)
        cand = np.unique(np.concatenate([ts[(ts > 0) & (ts < 1)], [1.0]]))
        g_dir = float(grad[A] @ d)                        # grad = G a - c, a is zero off A
        curv = 0.5 * float(d @ GA @ d)
        pts = cur[None, :] + cand[:, None] * d[None, :]
        vals = cand * g_dir + cand ** 2 * curv + beta * np.abs(pts).sum(1)    # f(point) - f(a) + base
        base = beta * float(np.abs(cur).sum())
        i = int(np.argmin(vals))
        if vals[i] >= base - 1e-15 * max(abs(base), 1.0):
            if entering:
                return a                                  # no descent left: optimal to rounding
            force_enter = True                            # the active set is as good as rounding allows
            continue
        new = pts[i]
        new[ts == cand[i]] = 0.0                          # the coefficients that reached zero
        new[np.abs(new) <= 1e-15 * np.abs(new).max(initial=1.0)] = 0.0
        a[A] = new
    return a


class RestrictedMaster:
    """The Lasso over a working set of atoms, kept between rounds.

    S: (p, m) +-1 atoms (canonical sign u_1 = +1 when sigma is even); Phi: (n, m) = sigma(Xb S);
    G = Phi^T Phi (m, m); c = Phi^T y (m,); alpha: (m,) the current (optimal) coefficients.
    """

    def __init__(self, Xb: np.ndarray, problem: QNNProblem):
        self.Xb, self.act, self.y, self.beta = Xb, problem.activation, problem.y, problem.beta
        self.even = problem.activation.is_even
        p, n = Xb.shape[1], Xb.shape[0]
        self.S = np.zeros((p, 0))
        self.Phi = np.zeros((n, 0))
        self.G = np.zeros((0, 0))
        self.c = np.zeros(0)
        self.alpha = np.zeros(0)
        self._keys: set[bytes] = set()

    def canonical(self, S: np.ndarray) -> np.ndarray:
        S = np.asarray(S, float).reshape(self.Xb.shape[1], -1)
        return S * np.where(S[:1] < 0, -1.0, 1.0) if self.even and S.shape[0] else S

    def add(self, S_new: np.ndarray) -> int:
        """Add the atoms not yet in the working set; returns how many were new."""
        S_new = self.canonical(S_new)
        fresh, cols = set(), []
        for j, col in enumerate(S_new.T):
            key = col.astype(np.int8).tobytes()
            if key not in self._keys and key not in fresh:
                fresh.add(key)
                cols.append(j)
        if not cols:
            return 0
        self._keys |= fresh
        S_new = S_new[:, cols]
        P_new = neuron_outputs(self.Xb, self.act, S_new)
        cross = self.Phi.T @ P_new
        self.G = np.block([[self.G, cross], [cross.T, P_new.T @ P_new]])
        self.S = np.hstack([self.S, S_new])
        self.Phi = np.hstack([self.Phi, P_new])
        self.c = np.concatenate([self.c, P_new.T @ self.y])
        self.alpha = np.concatenate([self.alpha, np.zeros(len(cols))])
        return len(cols)

    def keep(self, mask: np.ndarray):
        mask = np.asarray(mask, bool) | (self.alpha != 0)
        self.S, self.Phi, self.c, self.alpha = self.S[:, mask], self.Phi[:, mask], self.c[mask], self.alpha[mask]
        self.G = self.G[np.ix_(mask, mask)]
        self._keys = {col.astype(np.int8).tobytes() for col in self.S.T}

    def solve(self) -> float:
        """Re-optimise alpha from the previous one; returns J = L(Phi alpha) + beta |alpha|_1."""
        self.alpha = feature_sign(self.G, self.c, self.beta, self.alpha)
        return self.objective()

    def prediction(self) -> np.ndarray:
        nz = np.flatnonzero(self.alpha)
        return self.Phi[:, nz] @ self.alpha[nz]

    def objective(self) -> float:
        r = self.prediction() - self.y
        return 0.5 * float(r @ r) + self.beta * float(np.abs(self.alpha).sum())


# -- the backend --------------------------------------------------------------------------------
def _dual_bound(loss, w, y, beta, rho_bar):
    s = loss.best_dual_scale(w, y, beta / rho_bar if rho_bar > 0 else np.inf)
    return loss.dual_value(s * w, y)


def heuristic_violators(Q: np.ndarray, starts: np.ndarray, level: float, rng: np.random.Generator,
                        restarts: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """1-flip local search of +-u~^T Q u~ from `starts` (p, k), their random 2-flip neighbours and
    `restarts` random points; returns the sign vectors (p, j) with |value| > level and |values|."""
    p = Q.shape[0] - 1
    cols = [np.where(rng.random((p, restarts)) < 0.5, -1.0, 1.0)]
    if starts.size:
        cols.append(starts)
        kick = starts.copy()                        # escape the current atoms' basins
        idx = rng.integers(0, p, size=(2, starts.shape[1]))
        kick[idx[0], np.arange(starts.shape[1])] *= -1
        kick[idx[1], np.arange(starts.shape[1])] *= -1
        cols.append(kick)
    S0 = np.hstack(cols)
    F = np.hstack([one_flip_ascent(Q, S0), one_flip_ascent(-Q, S0)])
    vals = np.abs(quadratic_value(Q, F))
    hit = vals > level
    return F[:, hit], vals[hit]


@register
class ColumnGenerationBackend(Backend):
    name = "colgen"
    exact = True
    description = "exact: column generation, local-search + exact (meet in the middle / branch and bound) pricing"

    def supports(self, problem: QNNProblem):
        if problem.loss.name != "squared":
            return False, f"colgen supports the squared loss only (got {problem.loss.name})"
        p = problem.binary_dim
        if p > MAX_COLGEN_DIM:
            return False, (f"colgen prices exactly over 2^{p} sign vectors, beyond its limit d*bits <= "
                           f"{MAX_COLGEN_DIM}; use --backend sdp")
        return True, ""

    def solve(self, problem: QNNProblem, tol: float = 1e-6, time_limit: float | None = None,
              max_rounds: int = 1000, per_round: int = 64, restarts: int = 64, max_atoms: int = 1500,
              pricing: str = "auto", seed: int = 0, **options) -> Result:
        """tol: target certified relative gap; time_limit: seconds (status "time_limit" with a valid
        bound when hit); per_round: atoms added per round; restarts: random local-search starts;
        max_atoms: working-set cap; pricing: exact oracle "auto" | "mitm" | "bnb"."""
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        start = time.perf_counter()
        with blas_single_thread():
            out = self._run(problem, tol, time_limit, max_rounds, per_round, restarts, max_atoms, pricing, seed, start)
        return out

    def _run(self, problem, tol, time_limit, max_rounds, per_round, restarts, max_atoms, pricing, seed, start):
        from ..limits import VERIFY_EXACT_MAX_DIM as MAX_VERIFY_EXACT_DIM

        rng = np.random.default_rng(seed)
        Xb = problem.binary_design()
        act, y, beta, loss = problem.activation, problem.y, problem.beta, problem.loss
        even = act.is_even
        level = beta * (1.0 + 0.1 * tol)          # a violator must beat beta by more than this
        deadline = math.inf if time_limit is None else start + float(time_limit)
        master = RestrictedMaster(Xb, problem)
        w = loss.gradient(np.zeros(problem.n), y)
        Q = q_matrix(Xb, act, w)
        found, _ = heuristic_violators(Q, np.zeros((Xb.shape[1], 0)), -np.inf, rng, restarts)
        master.add(found)
        stats = {"rounds": 0, "pricing_calls": 0, "exact_pricing_calls": 0, "exact_pricing_seconds": 0.0,
                 "heuristic_pricing_seconds": 0.0, "master_seconds": 0.0, "bnb_nodes": 0}
        best_lb, rel_gap = -math.inf, math.inf
        rho_found, rho_ub = math.nan, math.inf     # for the current w: best value found, certified bound
        status = Status.OPTIMAL_INACCURATE
        with progress(total=None, desc="colgen", unit="round") as bar:
            for rounds in range(1, max_rounds + 1):
                stats["rounds"] = rounds
                t0 = time.perf_counter()
                obj = master.solve()
                stats["master_seconds"] += time.perf_counter() - t0
                w = loss.gradient(master.prediction(), y)
                Q = q_matrix(Xb, act, w)
                rho_found, rho_ub = math.nan, math.inf
                if time.perf_counter() > deadline:
                    status = Status.TIME_LIMIT
                    break
                # heuristic pricing
                t0 = time.perf_counter()
                support = master.S[:, master.alpha != 0]
                cand, vals = heuristic_violators(Q, support, level, rng, restarts)
                stats["heuristic_pricing_seconds"] += time.perf_counter() - t0
                stats["pricing_calls"] += 1
                added = self._add_best(master, cand, vals, per_round)
                if added:
                    self._trim(master, Q, beta, max_atoms)
                    bar.set_postfix(J=f"{obj:.8g}", rel_gap=f"{rel_gap:.2e}", atoms=master.S.shape[1], refresh=False)
                    bar.update()
                    continue
                # exact pricing (certifies rho, or finds the violators local search missed)
                t0 = time.perf_counter()
                remaining = None if math.isinf(deadline) else max(0.0, deadline - time.perf_counter())
                ext = max_abs_quadratic(Q, even, method=pricing, time_limit=remaining, starts=support,
                                        top=per_round, threshold=level)
                stats["exact_pricing_seconds"] += time.perf_counter() - t0
                stats["exact_pricing_calls"] += 1
                stats["bnb_nodes"] += ext.nodes
                rho_found, rho_ub = ext.rho, ext.rho_upper_bound
                lb = _dual_bound(loss, w, y, beta, rho_ub)
                best_lb = max(best_lb, lb)
                rel_gap = (obj - lb) / max(abs(obj), 1e-12)
                bar.set_postfix(J=f"{obj:.8g}", rel_gap=f"{rel_gap:.2e}", atoms=master.S.shape[1], refresh=False)
                bar.update()
                if rel_gap <= tol:
                    status = Status.OPTIMAL
                    break
                if not (ext.exact or rho_ub <= level):
                    status = Status.TIME_LIMIT          # the oracle ran out of the time budget
                    break
                C = np.hstack([ext.argmax, ext.argmin])
                cv = np.abs(quadratic_value(Q, C))
                if not self._add_best(master, C[:, cv > level], cv[cv > level], per_round):
                    break                           # every violator is already in: as accurate as it gets
                self._trim(master, Q, beta, max_atoms)
                if time.perf_counter() > deadline:
                    status = Status.TIME_LIMIT
                    break
        obj = master.objective()
        used = master.alpha != 0
        S, alpha = master.S[:, used], master.alpha[used]
        network = QuantizedNetwork(problem.levels.collapse(S), alpha)
        pruned = problem.width is not None and network.width > problem.width
        if pruned:
            from .rounding import prune_to_width
            network = prune_to_width(problem, S, alpha)
            if status == Status.OPTIMAL:
                status = Status.FEASIBLE             # the lower bound is p*_inf's, not the width-m optimum's
        ub = problem.objective(network.U, network.alpha)
        p = Xb.shape[1]
        lb = _dual_bound(loss, w, y, beta, rho_ub) if math.isfinite(rho_ub) else None
        z_plus = z_minus = None
        if p > MAX_VERIFY_EXACT_DIM:
            # the verifier cannot enumerate rho here: give certify() good
            # Shor diagonals, z = mu + lambda_max(+-Q - Diag mu) 1, for its fallback certificate
            _, mu_p = shor_shift(Q)
            _, mu_m = shor_shift(-Q)
            z_plus = mu_p + np.linalg.eigvalsh(Q - np.diag(mu_p))[-1]
            z_minus = mu_m + np.linalg.eigvalsh(-Q - np.diag(mu_m))[-1]
        info = {"rho_certified_by": "exact", "rho": rho_found, "rho_upper_bound": rho_ub,
                "best_lower_bound": best_lb,
                "relative_gap": (ub - lb) / max(abs(ub), 1e-12) if lb is not None else math.inf,
                "atoms": int(used.sum()), "atoms_in_working_set": int(master.S.shape[1]), "pruned_to_width": bool(pruned), **stats}
        return Result(status=status, backend=self.name, network=network, lower_bound=lb, upper_bound=ub,
                      dual=DualData(w=w, z_plus=z_plus, z_minus=z_minus), iterations=stats["rounds"],
                      seconds=time.perf_counter() - start, info=info)

    @staticmethod
    def _add_best(master: RestrictedMaster, cand: np.ndarray, vals: np.ndarray, k: int) -> int:
        if cand.size == 0:
            return 0
        order = np.argsort(-vals, kind="stable")
        cand = master.canonical(cand[:, order])
        _, first = np.unique(cand.T, axis=0, return_index=True)
        cand = cand[:, np.sort(first)]
        keys = master._keys
        new = [j for j, col in enumerate(cand.T) if col.astype(np.int8).tobytes() not in keys][:k]
        return master.add(cand[:, new]) if new else 0

    @staticmethod
    def _trim(master: RestrictedMaster, Q: np.ndarray, beta: float, max_atoms: int):
        """Drop unused atoms far from the dual constraint (they rarely return); cap the set size."""
        score = np.abs(quadratic_value(Q, master.S)) / beta
        keep = score >= 0.5
        if keep.sum() > max_atoms:
            # the cap never drops violators (score > 1): they would only be found again
            cut = min(np.sort(score)[-max_atoms], 1.0)
            keep &= score >= cut
        master.keep(keep)
