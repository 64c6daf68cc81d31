"""From a relaxation's solution to a quantized network (docs/math.md §7): Grothendieck sampling of
neurons from dense or factored blocks (relaxation_factor), screening by reduced cost, heuristic
column generation by local search over the restricted Lasso of docs/math.md §3 (IncrementalMaster:
feature sign on an updated Cholesky factor, for working sets of ~n atoms), and the one
width-pruning path (prune_to_width) every backend uses.

Every budget here is counted in work (samples, pricing rounds, local-search starts), so a seed
fixes the network; the only wall-clock stop is a deadline derived from the user's time limit."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scipy.linalg import solve_triangular

from . import limits
from .blas import cholesky_upper, symmetric_matvec, upper_product, upper_solve
from .column_generation import (Budget, LocalSearchPricer, PricingState, RestrictedMaster, SmoothingCenter, _expired,
                                column_generation)
from .lasso import _line_search, refit
from .lifting import neuron_outputs, q_matrix
from .losses import master_model
from .network import QuantizedNetwork
from .pricing import blas_single_thread, blas_thread_count, one_flip_ascent, quadratic_value
from .problem import QNNProblem


def unit_diagonal(Z: np.ndarray) -> np.ndarray | None:
    """Z_hat = Z / sqrt(diag diag^T), projected onto the PSD cone; None if Z is (near) zero."""
    d = np.diag(Z).copy()
    if d.max(initial=0.0) <= 1e-12:
        return None
    d = np.sqrt(np.clip(d, 1e-12 * d.max(), None))
    Zh = 0.5 * (Z + Z.T) / np.outer(d, d)
    vals, vecs = np.linalg.eigh(Zh)
    Zh = (vecs * np.clip(vals, 0, None)) @ vecs.T
    s = np.sqrt(np.clip(np.diag(Zh), 1e-300, None))
    return Zh / np.outer(s, s)


def block_report(Zh: np.ndarray | None, t: float) -> dict:
    """Tightness facts of one lifted block: t, numerical rank, and the sin((pi/2) Z_hat) >= 0 test."""
    if Zh is None:
        return {"t": float(t), "rank": 0, "sin_psd": True, "sin_min_eig": 0.0}
    vals = np.linalg.eigvalsh(Zh)
    rank = int(np.sum(vals > 1e-6 * max(vals[-1], 1e-300)))
    sin_min = float(np.linalg.eigvalsh(np.sin(0.5 * np.pi * Zh))[0])
    return {"t": float(t), "rank": rank, "sin_psd": bool(sin_min >= -1e-8), "sin_min_eig": sin_min}


@dataclass(frozen=True)
class LowRankFactor:
    """A lifted block in factored form, Z = t V V^T: V (p+1, r) with unit-norm rows (so
    Z_hat = V V^T has unit diagonal), t = Z[p, p] >= 0. A first-order (Burer-Monteiro) engine
    returns blocks like this; a dense block becomes one through relaxation_factor."""

    V: np.ndarray
    t: float


def relaxation_factor(Z) -> LowRankFactor | None:
    """The one entry point for a relaxation block, dense or factored: Z (p+1, p+1) PSD, a
    LowRankFactor, or any object with attributes V (p+1, r) and t. Returns the normalized factor
    (rows of V rescaled to unit norm, columns of a dense block's zero eigenvalues dropped), or None
    when the block is (near) zero."""
    if hasattr(Z, "V") and hasattr(Z, "t"):
        V = np.asarray(Z.V, float)
        if V.ndim != 2 or not np.all(np.isfinite(V)):
            raise ValueError(f"factor V must be a finite 2-D array, got shape {np.shape(Z.V)}")
        t = float(Z.t)
        norms = np.linalg.norm(V, axis=1)
        if t <= 0 or norms.max(initial=0.0) <= 1e-12:
            return None
        # a row of norm 0 carries no direction: give it a fresh coordinate (independent sign)
        V = np.hstack([V, (norms <= 1e-12)[:, None].astype(float)]) if np.any(norms <= 1e-12) else V
        return LowRankFactor(V / np.linalg.norm(V, axis=1)[:, None], t)
    Z = np.asarray(Z, float)
    Zh = unit_diagonal(Z)
    if Zh is None:
        return None
    return LowRankFactor(_factor_of(Zh), float(Z[-1, -1]))


def _factor_of(Zh: np.ndarray) -> np.ndarray:
    """V (p+1, r) with V V^T = Zh (unit diagonal, PSD), r = the numerical rank."""
    vals, vecs = np.linalg.eigh(Zh)
    keep = vals > 1e-12 * max(float(vals[-1]), 1e-300)
    V = vecs[:, keep] * np.sqrt(vals[keep])
    return V / np.linalg.norm(V, axis=1)[:, None]


def factor_samples(F: LowRankFactor, k: int, rng: np.random.Generator) -> np.ndarray:
    """k neurons u = v_{1:p} v_{p+1}, v = sign(V g), g ~ N(0, I_r), plus the rounding of the leading
    singular vector of V: shape (p, k + 1), +-1 entries. E[u~ u~^T] = (2/pi) arcsin(V V^T)."""
    V = F.V
    G = V @ rng.standard_normal((V.shape[1], k))
    S = np.where(G >= 0, 1.0, -1.0)
    top = np.linalg.svd(V, full_matrices=False)[0][:, 0]
    S = np.hstack([S, np.where(top >= 0, 1.0, -1.0)[:, None]])   # leading-eigenvector rounding
    return S[:-1] * S[-1]


def grothendieck_samples(Zh, k: int, rng: np.random.Generator) -> np.ndarray:
    """k neurons u = v_{1:p} v_{p+1}, v = sign(g), g ~ N(0, Zh): shape (p, k + 1) with +-1 entries
    (the last column rounds the leading eigenvector). Zh: unit-diagonal (p+1, p+1), or a factor
    (relaxation_factor). E[u~ u~^T] = (2/pi) arcsin(Zh) (Grothendieck's identity)."""
    F = relaxation_factor(Zh) if hasattr(Zh, "V") else LowRankFactor(_factor_of(np.asarray(Zh, float)), 1.0)
    return factor_samples(F, k, rng)


def one_flip_search(Q: np.ndarray, S: np.ndarray, maximize: bool, max_sweeps: int = 1000) -> np.ndarray:
    """Greedy 1-flip ascent of +-u~^T Q u~ for each column of S (p, k); returns improved copy
    (pricing.one_flip_ascent on Q or -Q)."""
    return one_flip_ascent(Q if maximize else -Q, S, max_sweeps=max_sweeps)


def network_from_atoms(problem: QNNProblem, S: np.ndarray, alpha: np.ndarray) -> QuantizedNetwork:
    """The network with binary atoms S (p, k) and weights alpha (k,), pruned to problem.width."""
    if problem.width is not None and S.shape[1] > problem.width:
        return prune_to_width(problem, S, alpha)
    return QuantizedNetwork(problem.levels.collapse(S), alpha)


def _refit_atoms(problem: QNNProblem, Xb: np.ndarray, S: np.ndarray, alpha0=None):
    S = np.unique(S.T, axis=0).T
    sol = refit(neuron_outputs(Xb, problem.activation, S), problem.y, problem.beta, problem.loss, alpha0=alpha0)
    return S, sol


def screen(Q: np.ndarray, S: np.ndarray, keep: int) -> np.ndarray:
    """The `keep` distinct columns of S with the largest |u~^T Q u~| = |phi_u^T w| (the atoms that
    can enter the Lasso support are those with |phi_u^T w| close to beta)."""
    S = np.unique(S.T, axis=0).T
    if S.shape[1] <= keep:
        return S
    score = np.abs(quadratic_value(Q, S))
    return S[:, np.argsort(-score, kind="stable")[:keep]]


# -- the fast master of the heuristic phase ---------------------------------------------------
class _ActiveFactor:
    """Upper Cholesky factor U (k, k) of G_AA + ridge I over the atoms `act` (k,), some of them
    dead (held at 0; `alive` (k,) marks the rest). A leaving atom is not removed from U (an
    O(k^2) update each time); it is held at 0 through W = U^-T E (k, #dead), E its unit columns:
    min x^T G x / 2 - b^T x subject to x_dead = 0 is x = U^-1 (y + W lam), y = U^-T b,
    lam = -(W^T W)^-1 W^T y. The dead are compacted away (one refactorization) when more than
    max_dead pile up. U is the top-left corner of a square buffer with room to grow: an entering
    atom writes one row and column (not a copy of U), dropping the last ones is free, and the
    triangular solves and products take the corner as it lies (certqnn.blas)."""

    def __init__(self, G: np.ndarray, act: np.ndarray, ridge: float, max_dead: int = 32):
        self.G, self.ridge, self.max_dead = G, ridge, max_dead
        self.pivots = 0
        self._build(np.asarray(act, int))

    # room for this many more atoms, or an eighth more, when a buffer is made or grown
    ROOM = 64

    def _build(self, act):
        self._buf = None                                 # the old factor is not needed: one buffer at a time
        self.act = act
        self.alive = np.ones(act.size, bool)
        k = act.size
        self._buf = np.empty((k + max(self.ROOM, k // 8),) * 2)
        U = self._buf[:k, :k]
        for lo in range(0, k, 256):                      # gathered by row blocks: no second k x k array
            U[lo:lo + 256] = self.G[act[lo:lo + 256]][:, act]
        U[np.diag_indices(k)] += self.ridge
        if not cholesky_upper(U):                        # factored in place, in the buffer
            raise np.linalg.LinAlgError("the active Gram block is not positive definite")
        self.W = np.zeros((k, 0))
        self.dead: list[int] = []

    @property
    def U(self) -> np.ndarray:
        """The factor (k, k): a view of the buffer's corner."""
        return self._buf[:self.k, :self.k]

    def _room(self, k_new: int):
        """Make the buffer hold at least k_new atoms (a copy of U only when it is full)."""
        if k_new > self._buf.shape[0]:
            k = self.k
            grown = np.empty((k_new + max(self.ROOM, k_new // 8),) * 2)
            grown[:k, :k] = self.U
            self._buf = grown

    def release(self):
        """Free the factor's arrays (a caller that will build a new one)."""
        self._buf = self.W = None

    def snapshot(self):
        """The state remove() may change, for restore(): remove() writes a new buffer, so the old
        one is not touched."""
        return self._buf, self.W, self.act, self.alive, list(self.dead)

    def restore(self, state):
        self._buf, self.W, self.act, self.alive, self.dead = state

    @property
    def k(self) -> int:
        return self.act.size

    def compact(self):
        self._build(self.act[self.alive])

    def factor_product(self, x: np.ndarray) -> np.ndarray:
        """U x (k,), reading U's triangle only (BLAS trmv)."""
        return upper_product(self.U, x)

    def gram_product(self, x: np.ndarray) -> np.ndarray:
        """G_AA x = U^T U x - ridge x (k,) without reading G."""
        return upper_product(self.U, upper_product(self.U, x), transpose=True) - self.ridge * x

    def _held_columns(self, positions: np.ndarray) -> np.ndarray:
        """U^-T E (k, r) for the unit columns E at positions (r,): the columns of W that hold those
        atoms at 0. U^-T e_p is 0 above p, so one solve on the factor's trailing corner from the
        first of them does it (a third of the work for one atom, on average)."""
        columns = np.zeros((self.k, positions.size))
        if positions.size:
            p0 = int(positions.min())
            E = np.zeros((self.k - p0, positions.size))
            E[positions - p0, np.arange(positions.size)] = 1.0
            columns[p0:] = upper_solve(self._buf[p0:self.k, p0:self.k], E, transpose=True)
        return columns

    def _ut(self, b):
        return upper_solve(self.U, np.asarray(b, float), transpose=True)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x (k,) minimising x^T (G_AA + ridge I) x / 2 - b^T x with the dead coordinates at 0."""
        if not self.k:
            return np.zeros(0)
        y = self._ut(b)
        if self.W.shape[1]:
            y = y - self.W @ np.linalg.solve(self.W.T @ self.W, self.W.T @ y)
        x = upper_solve(self.U, y)
        x[~self.alive] = 0.0
        return x

    def schur(self, j: int):
        """(y, r2_live, r2_full): y = U^-T G_Aj, and the squared distance of atom j (in the G metric,
        with the ridge) to the span of the live atoms and of all atoms of the factor."""
        y = self._ut(self.G[self.act, j])
        r2_full = self.G[j, j] + self.ridge - y @ y
        r2_live = r2_full
        if self.W.shape[1]:
            v = self.W.T @ y
            r2_live = r2_full + v @ np.linalg.solve(self.W.T @ self.W, v)
        return y, r2_live, r2_full

    def append(self, j: int, y: np.ndarray, r2_full: float):
        k, r = self.k, np.sqrt(r2_full)
        self._room(k + 1)
        buf = self._buf
        buf[:k, k], buf[k, k] = y, r
        buf[k, :k] = 0.0
        self.W = np.vstack([self.W, -(y @ self.W)[None, :] / r])   # the last row of U'^-T E
        self.act = np.append(self.act, j)
        self.alive = np.append(self.alive, True)

    def append_block(self, J: np.ndarray, small: np.ndarray) -> np.ndarray:
        """Append the atoms J (in order) that stay independent of the factor and of each other
        (squared pivot > small[j]), with one allocation; returns the appended atoms."""
        G, k = self.G, self.k
        Y = self._ut(G[np.ix_(self.act, J)]) if k else np.zeros((0, len(J)))
        M = G[np.ix_(J, J)] + self.ridge * np.eye(len(J)) - Y.T @ Y
        keep = []
        for t in range(len(J)):                          # greedy: J is short (the batch)
            trial = keep + [t]
            try:
                R = np.linalg.cholesky(M[np.ix_(trial, trial)])
            except np.linalg.LinAlgError:
                continue
            if R[-1, -1] ** 2 > small[J[t]]:
                keep = trial
        if not keep:
            return np.zeros(0, int)
        R22 = np.linalg.cholesky(M[np.ix_(keep, keep)]).T
        b = len(keep)
        self._room(k + b)
        buf = self._buf
        buf[:k, k:k + b], buf[k:k + b, k:k + b] = Y[:, keep], R22
        buf[k:k + b, :k] = 0.0
        rows = -solve_triangular(R22, Y[:, keep].T @ self.W, trans="T", check_finite=False)
        self.W = np.vstack([self.W, rows])
        new = np.asarray(J)[keep]
        self.act = np.append(self.act, new)
        self.alive = np.append(self.alive, np.ones(b, bool))
        return new

    def kill(self, positions):
        positions = np.asarray(positions, int)
        if not positions.size:
            return
        self.W = np.hstack([self.W, self._held_columns(positions)])
        self.alive[positions] = False
        self.dead.extend(positions.tolist())
        if len(self.dead) > self.max_dead:
            self.compact()

    def remove(self, pos: int):
        """Drop the live atom at position pos from the factor in O(k^2): deleting column pos of U
        leaves rows pos.. upper Hessenberg, and Givens rotations of adjacent rows restore the
        triangle (U^T U is unchanged by them). The held-at-0 columns W are rebuilt (O(k^2 #dead)):
        cheaper than the O(k^3) refactorization the pivots of a rank-deficient Gram would force."""
        k = self.k
        U = np.delete(self.U, pos, axis=1)
        for r in range(pos, k - 1):
            a, b = U[r, r], U[r + 1, r]
            h = math.hypot(a, b)
            if h == 0.0:
                continue
            c, s = a / h, b / h
            top, bottom = U[r, r:].copy(), U[r + 1, r:].copy()
            U[r, r:] = c * top + s * bottom
            U[r + 1, r:] = c * bottom - s * top
            U[r + 1, r] = 0.0                            # zero by construction: keep the triangle exact
        # a new buffer (snapshot() relies on it): the pivots that remove atoms are rare
        self._buf = np.empty((k - 1 + max(self.ROOM, (k - 1) // 8),) * 2)
        self._buf[:k - 1, :k - 1] = U[:k - 1]
        self.act, self.alive = np.delete(self.act, pos), np.delete(self.alive, pos)
        self.dead = [q - (q > pos) for q in self.dead]
        # the full solve, not _held_columns: its trailing-corner solves round differently, and the
        # pivot paths (digits) follow the last bits
        E = np.zeros((k - 1, len(self.dead)))
        E[self.dead, np.arange(len(self.dead))] = 1.0
        self.W = self._ut(E) if self.dead else np.zeros((k - 1, 0))

    def revive(self, pos: int):
        col = self.dead.index(pos)
        self.W = np.delete(self.W, col, axis=1)
        self.dead.pop(col)
        self.alive[pos] = True

    def truncate(self, k0: int):
        """Forget the atoms appended after position k0 (none of them dead): the corner shrinks."""
        self.W = self.W[:k0]
        self.act, self.alive = self.act[:k0], self.alive[:k0]


def incremental_feature_sign(G: np.ndarray, c: np.ndarray, beta: float, a0: np.ndarray | None = None,
                             max_steps: int | None = None, tol: float = 1e-7, batch: int = 1,
                             max_pivots: int | None = None, factor: _ActiveFactor | None = None
                             ) -> tuple[np.ndarray, int, _ActiveFactor]:
    """min a^T G a / 2 - c^T a + beta |a|_1 (G (m, m) PSD, c (m,)) by feature sign with a Cholesky
    factor of the active Gram block kept up to date (_ActiveFactor: an entering atom appends a row,
    O(k^2); a leaving one is held at 0 until a batch of them is compacted away), so a step costs
    O(k^2) instead of lasso.feature_sign's O(k^3) factorization. For the heuristic phase of the
    rounding, where the working set grows to ~n atoms: a tiny ridge keeps the factor defined, an
    atom dependent on the active ones enters by a pivot (it replaces one of them) or is skipped, and
    the search stops at KKT residual <= tol * beta, after max_steps steps (work budget), or when no
    step descends; every iterate has f <= f(a0). batch: how many violators enter at once when the
    face is solved (1: classic feature sign; more: fewer steps while the working set grows).
    max_pivots: stop after that many exchanges (None: no cap) -- on a rank-deficient Gram (more
    atoms than the span of their outputs) the exchanges can go on for thousands of steps, each
    lowering f very little. factor: the factor a former search ended with, reused when its live
    atoms are a0's nonzero ones (their Gram block has not changed; saves the O(k^3) factorization
    that starts a search), else built anew. Returns (a (m,), steps, the final factor)."""
    m = c.shape[0]
    a = np.zeros(m) if a0 is None else np.array(a0, float).reshape(m)
    if m == 0:
        return a, 0, _ActiveFactor(G, np.zeros(0, int), 0.0)
    small = 1e-9 * np.maximum(np.diag(G), 1e-300)       # a squared pivot below this: dependent
    skipped = np.zeros(m, bool)
    nonzero = np.flatnonzero(a)
    if factor is not None and np.array_equal(np.sort(factor.act[factor.alive]), nonzero):
        F = factor
        F.G, F.pivots = G, 0                            # G's view of the master's buffer moves with its adds
    else:
        if factor is not None:
            factor.release()                            # freed before its successor is built (k x k each)
        F = _ActiveFactor(G, nonzero, 1e-12 * max(float(np.max(np.diag(G))), 1e-300))
    ridge = F.ridge                                     # the ridge its factor was built with
    max_steps = max_steps if max_steps is not None else 20 * m + 100
    steps, resolved = 0, False
    while steps < max_steps:
        steps += 1
        theta = np.sign(a[F.act])                        # 0 on the dead
        live = F.act[F.alive]
        if resolved:
            # after an exact solve of this face its residual is as small as the (ridged) factor allows
            face_solved = True
        else:
            # whether the face is solved needs only the face's gradient: G_AA a_A from the factor
            # (k x k triangles) instead of G a (an m x m triangle); after a line search, most steps
            grad_act = F.gram_product(a[F.act]) - c[F.act]
            face_solved = np.abs(grad_act[F.alive] + beta * theta[F.alive]).max(initial=0.0) <= tol * beta
        # the violators need the whole gradient: one triangle of G read, half a dgemv's traffic
        grad = symmetric_matvec(G, a) - c if face_solved else None
        resolved = False
        single = F.k
        if face_solved:
            viol = np.abs(grad) - beta                   # the face is solved: let the worst violator in
            viol[live] = -np.inf
            viol[skipped] = -np.inf
            j = int(np.argmax(viol))
            if viol[j] <= tol * beta:
                break
            if not _enter(F, j, a, grad, beta, G, small, skipped):
                if max_pivots is not None and F.pivots > max_pivots:
                    break
                continue                                 # a pivot changed a, or j was skipped
            theta = np.sign(a[F.act])                    # the factor may have been compacted
            first = int(np.flatnonzero(F.act == j)[0])
            theta[first] = -np.sign(grad[j])
            single = F.k
            # the next worst violators enter with it (batch): f >= the face function, with equality
            # at the current point, so the step below descends as long as every entering atom moves
            # the way of its sign (checked below); dependent ones wait their turn
            viol[j] = -np.inf
            viol[F.act] = -np.inf                        # the dead wait for their turn as the first
            extra = np.argsort(-viol)[:batch - 1]
            extra = extra[viol[extra] > tol * beta]
            if extra.size:
                new = F.append_block(extra, small)
                theta = np.append(theta, -np.sign(grad[new]))
        L = F.alive
        A = F.act
        x = F.solve(c[A] - beta * theta)
        if F.k > single and (np.any(np.sign(x[single:]) != theta[single:]) or np.sign(x[first]) != theta[first]):
            # an extra entering atom would start against its sign (f above the face function at
            # once): take the classic single-atom step; the extras sit last, so truncating drops them
            F.truncate(single)
            theta, L, A = theta[:single], F.alive, F.act
            x = F.solve(c[A] - beta * theta)
        cur = a[A[L]]
        if np.all(np.sign(x[L]) == theta[L]):
            a[A[L]] = x[L]                               # the face minimiser keeps its signs: take it
            resolved = True
            continue
        d_full = x - a[A]
        d_full[~L] = 0.0
        d = d_full[L]
        Ud = F.factor_product(d_full)
        slope = float((grad[A[L]] if grad is not None else grad_act[L]) @ d)   # no entry: A is the top's
        new = _line_search(cur, d, slope, 0.5 * (float(Ud @ Ud) - ridge * float(d @ d)), beta)
        if new is None:
            break                                        # no descent left beyond rounding
        a[A[L]] = new
        F.kill(np.flatnonzero(L)[new == 0])
    return a, steps, F


def _enter(F: _ActiveFactor, j: int, a, grad, beta, G, small, skipped) -> bool:
    """Bring the violator j into the factor (True), or pivot / skip it (False; a may change)."""
    if j in set(F.act[~F.alive].tolist()):
        F.revive(int(np.flatnonzero(F.act == j)[0]))
        return True
    y, r2_live, r2_full = F.schur(j)
    if r2_live > small[j]:
        if r2_full <= small[j]:                          # dependent only through dead atoms: drop them
            F.compact()
            y, r2_live, r2_full = F.schur(j)
            if r2_full <= small[j]:
                skipped[j] = True
                return False
        F.append(j, y, r2_full)
        return True
    # phi_j = Phi_live x (numerically): trading x for phi_j keeps the prediction and, as j violates,
    # lowers the l1 norm until a live coefficient reaches 0 (a pivot)
    x = F.solve(G[F.act, j])
    sigma = -np.sign(grad[j])
    cur = a[F.act]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(F.alive & (cur * sigma * x > 0), cur / (sigma * x), np.inf)
    i = int(np.argmin(ratios))
    if not np.isfinite(ratios[i]):
        skipped[j] = True
        return False
    step_j = ratios[i] * sigma
    step = -step_j * x                                   # the move of the factor's atoms (0 on the dead)
    step[i] = -cur[i]
    # f(a + step) - f(a) = grad^T step + step^T G step / 2 + beta (|a + step|_1 - |a|_1), with
    # G_AA = U^T U - ridge I: O(k^2) in BLAS instead of gathering G[A, A] twice
    Us = F.factor_product(step)
    quad = Us @ Us - F.ridge * (step @ step) + 2.0 * step_j * (G[F.act, j] @ step) + G[j, j] * step_j ** 2
    change = (grad[F.act] @ step + grad[j] * step_j + 0.5 * quad
              + beta * (np.abs(cur + step).sum() - np.abs(cur).sum() + abs(step_j)))
    trial = a.copy()
    trial[F.act] = cur + step
    trial[F.act[i]], trial[j] = 0.0, step_j
    if change >= 0.0:
        skipped[j] = True                                # no descent by the exchange: leave j out
        return False
    # atom i leaves for good (removed from the factor: keeping it dead would leave j dependent on
    # the factor and force a full refactorization at every pivot)
    kept = F.snapshot()
    F.remove(i)
    y, r2_live, r2_full = F.schur(j)
    if r2_live <= small[j]:
        F.restore(kept)
        skipped[j] = True                                # still dependent without atom i: leave j out
        return False
    if r2_full <= small[j]:
        F.compact()
        y, r2_live, r2_full = F.schur(j)
    F.append(j, y, r2_full)
    a[:] = trial
    F.pivots += 1
    return False


class IncrementalMaster(RestrictedMaster):
    """The restricted master of the heuristic phase: quadratic losses by incremental_feature_sign
    (at most max_steps steps per solve, a work budget), other losses as RestrictedMaster. Its
    alpha is feasible, so the objective it reports is an honest upper bound; it proves nothing."""

    def __init__(self, Xb: np.ndarray, problem: QNNProblem, max_steps: int | None = None, batch: int = 16,
                 capacity: int = 0, gram_capacity: int | None = None, streamed: bool = False):
        super().__init__(Xb, problem, capacity, gram_capacity, streamed)
        self.max_steps, self.batch = max_steps, batch
        self.steps = 0
        self._factor: _ActiveFactor | None = None       # the last search's factor, for the next one
        if self.quadratic:
            # measured on synthetic 1000 x 50 and digits (docs/math.md §7): a large |phi_u^T w| is
            # mostly a large |phi_u| there, and ranking by value fills the rounds with such atoms
            self.rank = "gain"

    # exchanges per solve, as a multiple of the atoms, before the exact feature sign takes over
    PIVOTS_PER_ATOM = 0.25

    def solve(self) -> float:
        if not self.quadratic:
            return super().solve()
        m = self.c.shape[0]
        self.alpha, steps, self._factor = incremental_feature_sign(
            self.G, self.c, self.beta, self.alpha, self.max_steps, batch=self.batch,
            max_pivots=int(self.PIVOTS_PER_ATOM * m) + 8, factor=self._factor)
        self.steps += steps
        if self.max_steps is None or steps < self.max_steps:
            # stopped before its step budget but not at a KKT point: the pivot cap fired (a
            # rank-deficient working set); lasso.feature_sign, warm started here, handles the
            # dependent atoms in the eigenbasis of the face and finishes exactly
            grad = symmetric_matvec(self.G, self.alpha) - self.c
            if np.max(np.abs(grad), initial=0.0) > self.beta * (1.0 + 1e-6):
                self._factor = None
                return super().solve()
        self.w = None
        return self.objective()

    def keep(self, mask: np.ndarray):
        order = super().keep(mask)
        if self._factor is not None:
            # the factor's atoms by their new positions; it is dropped when one of them left
            where = np.full(np.shape(mask)[0], -1)
            where[order] = np.arange(order.size)
            act = where[self._factor.act]
            self._factor.act = act
            if np.any(act < 0):
                self._factor = None
        return order

    def reduced(self, used, obj):
        self._factor = None                             # the reduction's own k x k Gram is the peak: not two
        return super().reduced(used, obj)

    def solve_exactly(self) -> float:
        """One solve without the step budget (the exact Lasso of the working set), warm started."""
        budget, self.max_steps = self.max_steps, None
        try:
            return self.solve()
        finally:
            self.max_steps = budget


class RelaxationPricer(LocalSearchPricer):
    """Local-search pricing warm started from the relaxation: each call draws `samples` fresh
    Grothendieck neurons from every factor (relaxation_factor) besides LocalSearchPricer's starts
    (the master's atoms, their 2-flip kicks, `restarts` random points). Work per call:
    2 (2 k + restarts + blocks (samples + 1)) 1-flip ascents, k = the master's atoms."""

    name = "relaxation_local_search"

    def __init__(self, factors: list, samples: int = 32, restarts: int = 16, rng: np.random.Generator | None = None):
        super().__init__(restarts=restarts, rng=rng)
        self.factors, self.samples = factors, samples

    def price(self, Q, state):
        extra = [factor_samples(F, self.samples, self.rng) for F in self.factors]
        if extra:
            state = PricingState(np.hstack([state.atoms, *extra]), state.level, state.top, state.even, state.deadline)
        return super().price(Q, state)


# the rounding's dual smoothing: its rounds price at lambda w_master + (1 - lambda) w_relaxation
# first. Measured at 80 rounds (docs/math.md §7): lambda = 0.1 gives synthetic 1000 x 50 0.0530
# (1: 0.0586) and digits 2.422 (1: 2.580), with ranking by gain; 0 stalls at once (w_relaxation is
# nearly dual feasible)
SMOOTHING = 0.1


# streamed outputs: at most atom_cap / this atoms per round. The rounds bring in the same 2 x atom_cap
# atoms either way; smaller rounds choose them better for more recomputations. Measured at n = 1e5,
# d = 100 (cap 2000; rounding stage, docs/math.md §7): 128 / 96 / 64 / 32 atoms a round end 3.3 / 0.95
# / 0.14 / 0.02 % above the bound in about 1 / 1.2 / 1.7 / 3.3 times the time of 128
STREAMED_ROUND_FRACTION = 32


def atom_cap(n: int, streamed: bool = False) -> int:
    """Atoms the rounding's master may bring in (at most twice this over the rounds): those whose (n,)
    outputs it can hold (limits.ROUNDING_MAX_ENTRIES / n), or with streamed outputs (recomputed each
    round: work, not memory) limits.ROUNDING_STREAMED_ENTRIES / n, at most ROUNDING_STREAMED_MAX_ATOMS
    (measured at n = 5e4, d = 100: 4000 atoms took 13 minutes for a gap of 8e-5; docs/math.md §7)."""
    if streamed:
        return max(min(limits.ROUNDING_STREAMED_ENTRIES // max(n, 1), limits.ROUNDING_STREAMED_MAX_ATOMS), 16)
    return max(limits.ROUNDING_MAX_ENTRIES // max(n, 1), 16)


def streams_outputs(problem: QNNProblem) -> bool:
    """Whether the rounding's master recomputes its atoms' outputs instead of holding them: when
    holding them would allow fewer atoms than recomputing (large n), for quadratic losses (whose
    master reads only the Gram matrix; docs/math.md §7)."""
    quadratic = master_model(problem.loss, problem.y) in ("quadratic", None)
    return quadratic and atom_cap(problem.n, streamed=True) > atom_cap(problem.n)


def improve_by_pricing(problem: QNNProblem, Xb: np.ndarray, S: np.ndarray, rounds: int = 200,
                       starts_per_round: int = 16, rng: np.random.Generator | None = None,
                       max_new: int = 64, deadline: float | None = None, factors: list | None = None,
                       samples_per_round: int = 32, master_steps: int | None = None,
                       min_decrease: float | None = None, max_atoms: int = Budget.max_atoms,
                       max_working_set: int | None = None, center: np.ndarray | None = None,
                       smoothing: float = 1.0, moving_center: bool = True, streamed: bool = False):
    """Heuristic column generation (certqnn.column_generation with local-search pricing only):
    the Lasso over the atoms S (p, k) (IncrementalMaster), then local-search new neurons against
    Q(w) of the residual and add the `max_new` most violated ones per round, while the objective
    improves. factors: relaxation factors (relaxation_factor) whose fresh samples seed every
    pricing round (RelaxationPricer); none: random starts only.
    Work budget: at most `rounds` rounds of `starts_per_round` random local-search starts (plus
    starts from the current atoms and samples_per_round samples per factor), at most master_steps
    feature-sign steps per master solve (None: no cap; with a cap the final working set gets one
    uncapped solve, so the weights returned are the exact Lasso's on the atoms found), stop early
    when a round lowers the objective by less than the fraction min_decrease, stop when the master
    holds max_working_set atoms (None: no such stop; with a master_steps cap the set is first
    solved exactly and cut to the atoms with a weight, and the rounds go on if that freed a
    quarter of it); center, smoothing: dual smoothing of the pricing toward the dual point center
    (n,), or a SmoothingCenter to read its moves afterwards (column_generation; smoothing = 1:
    none; moving_center: the center follows Wentges's rule); deadline: time.perf_counter() instant from
    the user's time limit, or None. Returns (S, alpha, objective, stop) with alpha != 0 and stop the
    reason the loop ended (column_generation.STOPS; "time_limit" when the deadline fired).
    streamed: the master recomputes its outputs instead of holding them (streams_outputs)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    pricer = (RelaxationPricer(factors, samples_per_round, starts_per_round, rng) if factors
              else LocalSearchPricer(restarts=starts_per_round, rng=rng))
    S = np.unique(np.asarray(S, float).T, axis=0).T
    # room for every atom the budget can bring in (at most twice the rounding's memory cap, the most
    # round_relaxation lets enter; a larger budget grows the buffer when it fills)
    capacity = min(S.shape[1] + rounds * max_new, max(2 * atom_cap(Xb.shape[0], streamed), S.shape[1]))
    # G's room: the working set never passes max_working_set by more than one round's atoms
    gram_capacity = capacity if max_working_set is None else min(capacity, max(max_working_set + max_new, S.shape[1]))
    master = IncrementalMaster(Xb, problem, max_steps=master_steps, capacity=0 if streamed else capacity,
                               gram_capacity=gram_capacity, streamed=streamed)
    if streamed:
        master.data_threads = blas_thread_count()      # the rounds below run single-threaded
    left, atoms0 = rounds, S
    if center is not None and smoothing < 1.0:
        center = SmoothingCenter.of(center, problem, moving_center)   # one center for every run below
    with blas_single_thread():
        while True:
            # `left` pricing calls, each followed by a master solve (rounds = 0: the refit of S only)
            budget = Budget(max_rounds=left + 1, max_pricings=left, per_round=max_new, deadline=deadline,
                            max_atoms=max_atoms, min_decrease=min_decrease, max_working_set=max_working_set)
            run = column_generation(problem, [pricer], budget, tol=1e-8, atoms0=atoms0, Xb=Xb,
                                    desc="rounding: local-search pricing", master=master, center=center,
                                    smoothing=smoothing)
            left, atoms0 = left - run.stats["pricing_calls"], None
            if (run.stop != "working_set" or master_steps is None or not master.quadratic or left <= 0
                    or _expired(deadline)):
                break
            # rough masters leave small weights that the trim cannot drop: solve the working set
            # exactly, keep only the atoms with a weight, and go on if that freed a quarter of it
            master.solve_exactly()
            master.keep(np.zeros(master.S.shape[1], bool))
            if master.S.shape[1] > 0.75 * max_working_set:
                break
        if master_steps is not None and master.quadratic and not _expired(deadline):
            # the rounds solved their masters only roughly (a step budget): one exact solve of the
            # final working set, warm started, gives the best weights on the atoms found
            obj = master.solve_exactly()
            S, alpha, obj = master.reduced(master.alpha != 0, obj)
            if obj < run.objective:
                return S, alpha, obj, run.stop
    return run.S, run.alpha, run.objective, run.stop


def prune_to_width(problem: QNNProblem, S: np.ndarray, alpha: np.ndarray) -> QuantizedNetwork:
    """Greedy removal of the neuron with the smallest |alpha_j| |phi_j| and exact refit (warm started
    from the remaining weights), until at most problem.width neurons remain. S: (p, k) +-1 binary
    neurons, alpha: (k,). The one width-pruning path: every backend goes through it."""
    Xb = problem.binary_design()
    m = problem.width
    S = np.asarray(S, float)
    alpha = np.asarray(alpha, float)
    while S.shape[1] > m:
        Phi = neuron_outputs(Xb, problem.activation, S)
        drop = int(np.argmin(np.abs(alpha) * np.linalg.norm(Phi, axis=0)))
        S = np.delete(S, drop, axis=1)
        sol = refit(np.delete(Phi, drop, axis=1), problem.y, problem.beta, problem.loss,
                    alpha0=np.delete(alpha, drop))
        keep = sol.alpha != 0
        S, alpha = S[:, keep], sol.alpha[keep]
    return QuantizedNetwork(problem.levels.collapse(S), alpha)


def _block_t(Z) -> float:
    """t = Z[p, p] of a dense block or a factor."""
    return float(Z.t) if hasattr(Z, "V") and hasattr(Z, "t") else float(np.asarray(Z, float)[-1, -1])


def round_relaxation(problem: QNNProblem, Xb: np.ndarray, Z_plus, Z_minus, w: np.ndarray, samples: int = 64,
                     local_search: bool = True, seed: int = 0, max_candidates: int = 128, pricing_rounds: int = 200,
                     starts_per_round: int = 16, deadline: float | None = None, per_round: int = 64,
                     samples_per_round: int = 32, master_steps: int | None = None,
                     min_decrease: float | None = None, smoothing: float = SMOOTHING, moving_center: bool = True):
    """From a relaxation's solution to a network (docs/math.md §7). Z_plus, Z_minus: the lifted
    blocks, each dense (p+1, p+1) or factored (LowRankFactor: Z = t V V^T); w (n,): the dual point.

    Sample `samples` neurons per block (sign of V g, plus sin((pi/2) Z_hat) samples when that
    matrix is PSD) and 1-flip each against -+Q(w), keep the `max_candidates` with the largest
    |u~^T Q(w) u~| (screening by reduced cost), then heuristic column generation from them
    (improve_by_pricing: at most `pricing_rounds` rounds adding `per_round` atoms, each round's
    local search started from the atoms, `starts_per_round` random points and `samples_per_round`
    fresh samples per block; master_steps: feature-sign steps per round's Lasso solve, None: exact;
    smoothing: the rounds price at smoothing w_master + (1 - smoothing) w_center first, 1: at w_master
    only; w_center starts at w and, with moving_center, follows Wentges's rule: reported as
    "center_moves").
    Everything is counted in work and seeded by `seed`; deadline:
    time.perf_counter() instant from the user's time limit, or None. local_search off: the exact
    refit of the screened samples only. The master holds an (n, atoms) matrix of neuron outputs, or
    on large n recomputes them each round (streams_outputs; reported as "outputs": "streamed"):
    candidates, atoms per round and the working set are capped at atom_cap(n) atoms (reported as
    "atom_cap" when that binds), and the rounds stop once the master holds
    limits.ROUNDING_MAX_WORKING_SET atoms (its Gram and factor). Returns (network, info)."""
    rng = np.random.default_rng(seed)
    act = problem.activation
    Q = q_matrix(Xb, act, w)
    cands, factors = [], []
    info = {}
    # the local search's master may recompute its outputs (large n); the refit of the screened
    # candidates alone holds them
    streamed = local_search and streams_outputs(problem)
    cap = atom_cap(Xb.shape[0], streamed)
    if streamed:
        info["outputs"] = "streamed"
    if cap < max(max_candidates, per_round, Budget.max_atoms):
        info["atom_cap"] = int(cap)
        # atoms with a nonzero weight are never trimmed (on large n the Lasso keeps nearly all),
        # so the rounds themselves are limited: at most 2 x atom_cap atoms ever enter the master
        max_candidates = min(max_candidates, cap)
        per_round = min(per_round, max(cap // (STREAMED_ROUND_FRACTION if streamed else 8), 8))
        pricing_rounds = min(pricing_rounds, (2 * cap - max_candidates) // per_round)
    for label, Z, maximize in (("plus", Z_plus, False), ("minus", Z_minus, True)):
        F = relaxation_factor(Z)
        Zh = None if F is None else F.V @ F.V.T
        info[f"block_{label}"] = block_report(Zh, _block_t(Z))
        if F is None:
            continue
        factors.append(F)
        block = [factor_samples(F, samples, rng)]
        if info[f"block_{label}"]["sin_psd"]:
            block.append(grothendieck_samples(unit_diagonal(np.sin(0.5 * np.pi * Zh)), samples, rng))
        block = np.hstack(block)
        if local_search:
            block = np.hstack([block, one_flip_search(Q, block, maximize=maximize)])
        cands.append(block)
    if not cands:
        cands.append(np.where(rng.random((Xb.shape[1], samples)) < 0.5, -1.0, 1.0))
    S = np.hstack(cands)
    info["candidates"] = int(np.unique(S.T, axis=0).shape[0])
    S = screen(Q, S, max_candidates)
    if local_search:
        center = SmoothingCenter(w, problem, moving_center)
        S, alpha, _, info["pricing_stop"] = improve_by_pricing(
            problem, Xb, S, rounds=pricing_rounds, starts_per_round=starts_per_round, rng=rng, max_new=per_round,
            deadline=deadline, factors=factors, samples_per_round=samples_per_round, master_steps=master_steps,
            min_decrease=min_decrease, max_atoms=min(Budget.max_atoms, cap),
            max_working_set=limits.ROUNDING_MAX_WORKING_SET, center=center, smoothing=smoothing, streamed=streamed)
        if smoothing < 1.0:
            info["center_moves"] = center.moves
    else:
        S, sol = _refit_atoms(problem, Xb, S)
        keep = sol.alpha != 0
        S, alpha = S[:, keep], sol.alpha[keep]
    info["unconstrained_support"] = int(np.count_nonzero(alpha))
    return network_from_atoms(problem, S, alpha), info
