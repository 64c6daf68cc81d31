"""One column-generation loop (docs/math.md §3, §9): a restricted master, a list of pricers, a budget.

Restricted master: the Lasso of docs/math.md §3 over a working set of atoms phi_u = sigma(Xb u),
solved by lasso.l1_fit for the loss's model (feature sign for quadratic losses, proximal Newton
for smooth ones, a linear program for piecewise-linear ones) and warm started round to round. Its
dual point w (grad L(y_hat), or the LP's dual point) prices every atom: |phi_u^T w| = |u~^T Q(w) u~| > beta means u improves the
master. Pricers are tried in order each round until one returns a violator:

* LocalSearchPricer: 1-flip local search from the current atoms and random points (cheap, finds
  violators but proves nothing);
* ExactPricer: meet in the middle or branch and bound (certqnn.pricing.max_abs_quadratic); it
  also returns the exact rho(w) = max_u |phi_u^T w|, or a certified upper bound on it when the
  user's deadline cuts the search.

With a certified bound rho_bar >= rho(w) the scaling lemma (docs/math.md §4) gives a lower bound
on p*_inf, and the loop stops when the certified relative gap is <= tol, when no pricer finds a
new violator, or when the work budget (rounds, pricer calls) is spent. Work budgets make runs
reproducible; the only wall-clock stop is the deadline from the user's time limit, and the run
says when it fired.
"""
from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .gaps import dual_lower_bound, relative_gap
from .lasso import caratheodory_reduce, feature_sign, l1_fit
from .lifting import neuron_outputs, q_matrix
from .losses import master_model, quadratic_model
from .pricing import blas_single_thread, blas_threads, max_abs_quadratic, one_flip_ascent, quadratic_value
from .problem import QNNProblem
from .progress import progress


# -- the restricted master --------------------------------------------------------------------
class RestrictedMaster:
    """The Lasso over a working set of atoms, kept between rounds (docs/math.md §3).

    With the loss's quadratic model L(v) = kappa/2 |v - t|^2 + const the master is
    min a^T G a / 2 - c^T a + beta |a|_1 with G = kappa Phi^T Phi, c = kappa Phi^T t, kept up to
    date atom by atom; other losses are solved by lasso.l1_fit from Phi (G, c stay empty).
    S: (p, m) +-1 atoms (canonical sign u_1 = +1 when sigma is even); Phi: (n, m) = sigma(Xb S);
    G: (m, m); c: (m,); alpha: (m,) the current (optimal) coefficients; w: (n,) the master's dual point.

    streamed (quadratic losses only): Phi is not held (self.Phi is None) but recomputed from Xb and S
    by blocks of rows whenever G, c or a prediction need it, so the memory is O(m^2) instead of
    O(n m), for about n p m more flops per round (docs/math.md §7).
    """

    # columns of neuron outputs computed per matrix product (bounds the temporaries to n x this)
    OUTPUT_CHUNK = 256
    # streamed: rows per block are chosen so that a block's outputs, rows x atoms, hold about this many
    STREAM_BLOCK_ENTRIES = 1 << 21
    streamed = False
    # streamed: BLAS threads for its passes over the data (large products; the master's own small
    # calls run single-threaded), None: as they are
    data_threads: int | None = None

    def __init__(self, Xb: np.ndarray, problem: QNNProblem, capacity: int = 0, gram_capacity: int | None = None,
                 streamed: bool = False):
        """capacity: atoms to reserve room for in Phi's buffer; gram_capacity: in G's (None: capacity).
        Each buffer grows by half when full."""
        self.Xb, self.act, self.y, self.beta = Xb, problem.activation, problem.y, problem.beta
        self.loss = problem.loss
        self.quadratic = master_model(problem.loss, problem.y) in ("quadratic", None)
        if self.quadratic:
            self.kappa, self.t, _ = quadratic_model(problem.loss, problem.y, "the Lasso master")
        elif streamed:
            raise ValueError("streamed outputs need a quadratic loss (the master then reads only G and c)")
        self.even = problem.activation.is_even
        p, n = Xb.shape[1], Xb.shape[0]
        self.S = np.zeros((p, 0))
        self.streamed = bool(streamed)
        # Phi is a view of the first m columns of a Fortran-ordered buffer: atoms are appended and
        # compacted in place, so a round never holds two copies of the (n, m) outputs
        self._buffer = np.empty((n, 0 if streamed else max(int(capacity), 0)), order="F")
        self.Phi = None if streamed else self._buffer[:, :0]
        self._predicted = None                         # streamed: (alpha, Phi alpha) of the last prediction
        # G likewise: the top-left m x m corner of a square buffer, so a round never holds two m x m
        # copies (pages of np.empty are committed only when written: the unused room costs no memory)
        size = max(int(capacity if gram_capacity is None else gram_capacity), 0) if self.quadratic else 0
        self._gram = np.empty((size, size))
        self.G = self._gram[:0, :0]
        self.c = np.zeros(0)
        self.alpha = np.zeros(0)
        self.w: np.ndarray | None = None
        self._keys: set[bytes] = set()

    def canonical(self, S: np.ndarray) -> np.ndarray:
        S = np.asarray(S, float).reshape(self.Xb.shape[1], -1)
        return S * np.where(S[:1] < 0, -1.0, 1.0) if self.even and S.shape[0] else S

    def add(self, S_new: np.ndarray) -> int:
        """Add the atoms (p, k) not yet in the working set, with weight 0; returns how many were new."""
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
        self._predicted = None
        self._append(S_new[:, cols])
        self.S = np.hstack([self.S, S_new[:, cols]])
        self.alpha = np.concatenate([self.alpha, np.zeros(len(cols))])
        return len(cols)

    def _row_blocks(self, atoms: int):
        """Slices of the rows, each block's outputs of `atoms` atoms about STREAM_BLOCK_ENTRIES entries."""
        n = self.Xb.shape[0]
        rows = max(64, self.STREAM_BLOCK_ENTRIES // max(atoms, 1))
        return [slice(lo, min(lo + rows, n)) for lo in range(0, n, rows)]

    def _streamed_outputs(self, *atoms: np.ndarray):
        """Per block of rows (_row_blocks): (rows, [sigma(Xb[rows] S) for S in atoms]), with the data
        passes' BLAS threads (data_threads)."""
        with blas_threads(self.data_threads):
            for rows in self._row_blocks(sum(S.shape[1] for S in atoms)):
                yield rows, [neuron_outputs(self.Xb[rows], self.act, S) for S in atoms]

    def _append(self, S_new: np.ndarray) -> None:
        """Extend the data-dependent parts (Phi, and G, c for a quadratic loss) by the atoms S_new (p, k)."""
        if self.streamed:
            # G's new columns from the outputs of each block of rows, old atoms' recomputed
            m, k = self.S.shape[1], S_new.shape[1]
            cross, block, c_new = np.zeros((m, k)), np.zeros((k, k)), np.zeros(k)
            for rows, (P_old, P_new) in self._streamed_outputs(self.S, S_new):
                cross += P_old.T @ P_new
                block += P_new.T @ P_new
                c_new += P_new.T @ self.t[rows]
            self._extend_gram(self.kappa * cross, self.kappa * block)
            self.c = np.concatenate([self.c, self.kappa * c_new])
            return
        n, m, k = self.Phi.shape[0], self.Phi.shape[1], S_new.shape[1]
        if m + k > self._buffer.shape[1]:
            grown = np.empty((n, max(m + k, m + m // 2)), order="F")
            grown[:, :m] = self.Phi
            self._buffer = grown
        P_new = self._buffer[:, m:m + k]
        for lo in range(0, k, self.OUTPUT_CHUNK):
            P_new[:, lo:lo + self.OUTPUT_CHUNK] = neuron_outputs(self.Xb, self.act, S_new[:, lo:lo + self.OUTPUT_CHUNK])
        if self.quadratic:
            self._extend_gram(self.kappa * (self.Phi.T @ P_new), self.kappa * (P_new.T @ P_new))
            self.c = np.concatenate([self.c, self.kappa * (P_new.T @ self.t)])
        self.Phi = self._buffer[:, :m + k]

    def _extend_gram(self, cross: np.ndarray, block: np.ndarray) -> None:
        """G <- [[G, cross], [cross^T, block]] in G's buffer; cross (m, k), block (k, k)."""
        m, k = cross.shape
        if m + k > self._gram.shape[0]:
            size = max(m + k, m + m // 2)
            grown = np.empty((size, size))
            grown[:m, :m] = self.G
            self._gram = grown
        g = self._gram
        g[:m, m:m + k] = cross
        g[m:m + k, :m] = cross.T
        g[m:m + k, m:m + k] = block
        self.G = g[:m + k, :m + k]

    # add_best's ranking: "value" (largest |phi_u^T w| first) or "gain" (IncrementalMaster)
    rank = "value"
    # "gain": the candidates whose outputs are formed to rank them, as a multiple of the atoms wanted
    GAIN_POOL = 16

    def add_best(self, cand: np.ndarray, values: np.ndarray, k: int) -> int:
        """Add at most k new atoms among the candidates (p, j) with values |phi_u^T w| (j,):
        the largest values first, or with rank "gain" the largest one-atom decrease
        (|phi_u^T w| - beta)^2 / |phi_u|^2 among the GAIN_POOL * k largest values."""
        if cand.size == 0 or k <= 0:
            return 0
        values = np.asarray(values, float)
        order = np.argsort(-values, kind="stable")
        cand, values = self.canonical(cand[:, order]), values[order]
        _, first = np.unique(cand.T, axis=0, return_index=True)
        first = np.sort(first)
        cand, values = cand[:, first], values[first]
        new = [j for j, col in enumerate(cand.T) if col.astype(np.int8).tobytes() not in self._keys]
        if self.rank == "gain" and len(new) > k:
            new = new[:self.GAIN_POOL * k]
            new = [new[i] for i in np.sort(np.argsort(-self._one_atom_gain(cand[:, new], values[new]),
                                                      kind="stable")[:k])]
        new = new[:k]
        return self.add(cand[:, new]) if new else 0

    def _one_atom_gain(self, S: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(|phi_u^T w| - beta)^2 / |phi_u|^2 for the columns u of S (p, j): up to the factor
        1 / (2 kappa), the decrease of a quadratic master when u alone enters at its best weight.
        A large |phi_u^T w| from an atom with large outputs buys little: this ranks by what it buys."""
        if self.streamed:
            # by blocks of rows: a chunk of columns over all n rows would be the round's largest array
            sq = np.zeros(S.shape[1])
            for _, (P,) in self._streamed_outputs(S):
                sq += np.einsum("ij,ij->j", P, P)
        else:
            sq = np.empty(S.shape[1])
            for lo in range(0, S.shape[1], self.OUTPUT_CHUNK):
                P = neuron_outputs(self.Xb, self.act, S[:, lo:lo + self.OUTPUT_CHUNK])
                sq[lo:lo + self.OUTPUT_CHUNK] = np.einsum("ij,ij->j", P, P)
        return (np.abs(values) - self.beta) ** 2 / np.maximum(sq, np.finfo(float).tiny)

    def keep(self, mask: np.ndarray):
        """Keep the atoms in mask (m,) and every atom with a nonzero weight. The kept atoms do not
        keep their order: the last ones fill the holes, so only the moved atoms' rows and columns
        of Phi and G are copied (O(moved * m) instead of O(m^2) per trim, the rounding's every round).
        Returns order (m_kept,): the former position of the atom now at each position."""
        mask = np.asarray(mask, bool) | (self.alpha != 0)
        self._predicted = None
        m, size = mask.size, int(mask.sum())
        holes = np.flatnonzero(~mask[:size])            # places to fill, in [0, size)
        movers = size + np.flatnonzero(mask[size:])     # kept atoms beyond the new end, as many as holes
        order = np.arange(size)
        order[holes] = movers                           # order[i]: the old position of the atom now at i
        self.S, self.alpha = self.S[:, order], self.alpha[order]
        if self.Phi is not None:                       # None: a master whose outputs are spread over agents
            self._buffer[:, holes] = self._buffer[:, movers]
            self.Phi = self._buffer[:, :size]
        if self.quadratic and size < m:
            self.c, g = self.c[order], self._gram
            # rows first (over all m columns), then columns (over the new rows): movers >= size > holes,
            # so no source is overwritten before it is read
            g[holes, :m] = g[movers, :m]
            g[:size, holes] = g[:size, movers]
            self.G = g[:size, :size]
        self._keys = {col.astype(np.int8).tobytes() for col in self.S.T}
        return order

    def trim(self, Q: np.ndarray, max_atoms: int):
        """Drop unused atoms far from the dual constraint (they rarely return) and cap the set at
        max_atoms; violators (|u~^T Q u~| > beta) are never dropped, they would only be found again."""
        score = np.abs(quadratic_value(Q, self.S)) / self.beta
        keep = score >= 0.5
        if keep.sum() > max_atoms:
            cut = min(np.sort(score)[-max_atoms], 1.0)
            keep &= score >= cut
        self.keep(keep)

    def solve(self) -> float:
        """Re-optimise alpha from the previous one; returns J = L(Phi alpha) + beta |alpha|_1."""
        if self.quadratic:
            self.alpha = feature_sign(self.G, self.c, self.beta, self.alpha)
            self.w = None
        else:
            self.alpha, self.w = l1_fit(self.Phi, self.y, self.beta, self.loss, self.alpha)
        return self.objective()

    def prediction(self, alpha: np.ndarray | None = None) -> np.ndarray:
        """Phi alpha, shape (n,) (alpha (m,): the master's weights when None)."""
        a = self.alpha if alpha is None else alpha
        if not self.streamed:
            return self.Phi @ a                          # no copy of the used columns (n x k)
        if self._predicted is not None and np.array_equal(self._predicted[0], a):
            return self._predicted[1]                    # a round asks for J and w at the same weights
        used = np.flatnonzero(a)
        out = np.zeros(self.Xb.shape[0])
        for rows, (P,) in self._streamed_outputs(self.S[:, used]):
            out[rows] = P @ a[used]
        self._predicted = (np.array(a, float), out)
        return out

    def gradient(self) -> np.ndarray:
        """The dual point of the master, shape (n,) (docs/math.md §4): w = grad L(y_hat), or for a
        piecewise-linear loss the LP's dual point (a subgradient in the conjugate's domain)."""
        if self.w is not None and self.w.shape == (self.Xb.shape[0],):
            return self.w
        return self.loss.gradient(self.prediction(), self.y)

    def objective(self, alpha: np.ndarray | None = None) -> float:
        a = self.alpha if alpha is None else alpha
        return self.loss.value(self.prediction(a), self.y) + self.beta * float(np.abs(a).sum())

    # -- what the loop asks of the data (a master over sharded data overrides these) -----------
    def dual_matrix(self, w: np.ndarray) -> np.ndarray:
        """Q(w), (p+1, p+1): prices every atom at once (docs/math.md §5)."""
        return q_matrix(self.Xb, self.act, w)

    def dual_bound(self, w: np.ndarray, rho: float) -> float:
        """The scaling-lemma lower bound from w with rho >= max_u |phi_u^T w| (docs/math.md §4)."""
        return dual_lower_bound(self.loss, w, self.y, rho, self.beta)

    def reduced(self, used: np.ndarray, obj: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(S, alpha, J) on the atoms in `used`, with the same prediction and l1 norm on fewer
        atoms when possible (docs/math.md §1); kept only if J does not move."""
        S, alpha = self.S[:, used], self.alpha[used]
        if alpha.size > 1:
            full = _embed(alpha, used)
            if self.streamed:
                # Phi_S^T Phi_S is G's block (G = kappa Phi^T Phi): no pass over the rows
                nonzero = np.flatnonzero(full)
                gram = self.G[np.ix_(nonzero, nonzero)].T         # symmetric: its Fortran-ordered view
                gram /= self.kappa
                full = caratheodory_reduce(None, full, outputs_gram=gram)
            else:
                full = caratheodory_reduce(self.Phi, full)                # no copy of the used columns
            value = self.objective(full)
            if value <= obj + 1e-13 * max(1.0, abs(obj)):
                reduced = full[used]
                keep = reduced != 0
                return S[:, keep], reduced[keep], value
        return S, alpha, obj


# -- pricers ----------------------------------------------------------------------------------
@dataclass
class PricingState:
    """What a pricer may use besides Q(w). atoms: (p, k) the master's atoms with nonzero weight
    (search starts); level: a violator has |u~^T Q u~| > level; top: atoms wanted per side;
    even: sigma is even (u and -u are the same atom); deadline: time.perf_counter() instant or None."""

    atoms: np.ndarray
    level: float
    top: int
    even: bool
    deadline: float | None = None


@dataclass
class Pricing:
    """A pricer's answer. atoms: (p, k) candidates, values: (k,) their |u~^T Q u~|.
    Exact pricers also give rho (the largest value found) and rho_upper_bound >= max_u |u~^T Q u~|
    (certified); complete is False when the deadline cut the search (the bound is still valid)."""

    atoms: np.ndarray
    values: np.ndarray
    rho: float = math.nan
    rho_upper_bound: float = math.inf
    complete: bool = True
    nodes: int = 0


class Pricer(ABC):
    """Finds atoms that violate the dual constraint |u~^T Q(w) u~| <= beta. exact: the answer
    carries a certified rho_upper_bound."""

    name: ClassVar[str] = ""
    exact: ClassVar[bool] = False

    @abstractmethod
    def price(self, Q: np.ndarray, state: PricingState) -> Pricing:
        """Q: (p+1, p+1) = Q(w)."""


class LocalSearchPricer(Pricer):
    """1-flip local search of +-u~^T Q u~ from the master's atoms, their random 2-flip neighbours
    and `restarts` random points (pricing.one_flip_ascent); returns every local optimum above the
    level. Work per call: (2 k + restarts) ascents, k = the number of atoms."""

    name = "local_search"

    def __init__(self, restarts: int = 64, rng: np.random.Generator | None = None):
        self.restarts = restarts
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def price(self, Q, state):
        rng = self.rng
        p = Q.shape[0] - 1
        starts = state.atoms
        cols = [np.where(rng.random((p, self.restarts)) < 0.5, -1.0, 1.0)]
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
        hit = vals > state.level
        return Pricing(F[:, hit], vals[hit])


class ExactPricer(Pricer):
    """max_u |u~^T Q u~| exactly (pricing.max_abs_quadratic): method "mitm" (meet in the middle,
    2^p work), "bnb" (branch and bound, stops at the deadline with a certified bound) or "auto"."""

    name = "exact"
    exact = True

    def __init__(self, method: str = "auto"):
        self.method = method

    def price(self, Q, state):
        remaining = None if state.deadline is None else max(0.0, state.deadline - time.perf_counter())
        ext = max_abs_quadratic(Q, state.even, method=self.method, time_limit=remaining, starts=state.atoms,
                                top=state.top, threshold=state.level)
        C = np.hstack([ext.argmax, ext.argmin])
        cv = np.abs(quadratic_value(Q, C))
        hit = cv > state.level
        return Pricing(C[:, hit], cv[hit], ext.rho, ext.rho_upper_bound,
                       complete=bool(ext.exact or ext.rho_upper_bound <= state.level), nodes=ext.nodes)


# -- the loop ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """Work limits (a run depends only on these and the pricers' seeds) and the user's deadline.

    max_rounds: master solves; per_round: atoms added per round; max_atoms: working-set cap;
    max_pricings: pricer calls (None: no limit); min_decrease: stop when a round lowers the
    objective by less than this fraction (heuristic runs, where no gap can be certified);
    deadline: a time.perf_counter() instant derived from the user's time_limit, or None;
    max_working_set: stop when the trimmed working set still holds this many atoms (its m x m
    Gram and factor are the memory; atoms with a weight are never trimmed; stop "working_set"),
    None: no such stop."""

    max_rounds: int = 1000
    per_round: int = 64
    max_atoms: int = 1500
    max_pricings: int | None = None
    min_decrease: float | None = None
    deadline: float | None = None
    max_working_set: int | None = None


STOPS = ("converged", "no_violator", "budget", "working_set", "stalled", "time_limit")


@dataclass
class ColumnGenerationRun:
    """What column_generation returns.

    S: (p, k) atoms with nonzero weight, alpha: (k,) their weights (Carathéodory-reduced);
    objective: J at (S, alpha); w: (n,) the master's gradient at the last solve; rho: the exact
    max |phi_u^T w| found for that w (nan if it was not priced exactly); rho_upper_bound: a
    certified bound on it (inf if none); lower_bound: the scaling-lemma bound from it (None if
    none); best_lower_bound: the best such bound over all rounds; relative_gap: of objective and
    lower_bound; stop: one of STOPS; working_set: atoms in the master at the end; stats: work counts.
    """

    S: np.ndarray
    alpha: np.ndarray
    objective: float
    w: np.ndarray
    rho: float
    rho_upper_bound: float
    lower_bound: float | None
    best_lower_bound: float | None
    relative_gap: float
    stop: str
    rounds: int
    working_set: int
    stats: dict = field(default_factory=dict)

    @property
    def time_limit_hit(self) -> bool:
        return self.stop == "time_limit"


class SmoothingCenter:
    """The stability center of the dual smoothing (docs/math.md §7): the heuristic pricers search
    Q(lambda w + (1 - lambda) center) first (lambda * FIRST_MOVE_FACTOR until a moving center first
    moves). With moving=True the center follows Wentges's rule:
    after each smoothed search it moves to the searched point scaled by s <= beta / rho_hat (rho_hat:
    the largest |phi_u^T w| the search found, at least beta), when that scaled point's dual value
    -L*(s w) beats the center's. rho_hat comes from a local search, so the value is an estimate (it
    certifies nothing and never reaches a certificate): it only decides which point guides the
    pricing. point: (n,) the start (a relaxation's dual point, dual feasible for the relaxation, so
    its value is taken at a scale <= 1)."""

    def __init__(self, point: np.ndarray, problem: QNNProblem, moving: bool = True):
        self.start = self.point = np.asarray(point, float)
        self.moving, self.moves = moving, 0
        self.loss, self.y = problem.loss, problem.y
        self.value = self._scaled_value(self.point, 1.0)[0]

    @classmethod
    def of(cls, center, problem: QNNProblem, moving: bool = True) -> "SmoothingCenter":
        """center itself when it is a SmoothingCenter (it carries over between runs), else a new one
        starting at the point center (n,)."""
        return center if isinstance(center, cls) else cls(center, problem, moving)

    def _scaled_value(self, w: np.ndarray, smax: float) -> tuple[float, float]:
        """(-L*(s w), s) with the loss's best scale s in [0, smax]."""
        s = self.loss.best_dual_scale(w, self.y, smax)
        return self.loss.dual_value(s * w, self.y), s

    # until a moving center first moves, the searches stay this much closer to it (lambda times this):
    # the relaxation's point is nearly dual feasible, so points near it soon earn the first move,
    # and the center then advances. Measured over 300 rounds on synthetic 1000 x 50 (seeds 0, 1) and
    # digits (docs/math.md §7): better at every round count than without (and than a fixed center)
    FIRST_MOVE_FACTOR = 0.3

    def smoothed(self, w: np.ndarray, smoothing: float) -> np.ndarray:
        """The point the heuristic pricers search first: lambda w + (1 - lambda) center, w (n,)."""
        if self.moving and self.moves == 0:
            smoothing = smoothing * self.FIRST_MOVE_FACTOR
        return smoothing * w + (1.0 - smoothing) * self.point

    def consider(self, w_smooth: np.ndarray, values: np.ndarray, beta: float) -> None:
        """After a search of Q(w_smooth) that found atoms with the values |phi_u^T w_smooth| (k,)."""
        if not self.moving:
            return
        rho_hat = max(float(np.max(values, initial=0.0)), beta)
        value, s = self._scaled_value(w_smooth, beta / rho_hat)
        if value > self.value:
            self.point, self.value, self.moves = s * w_smooth, value, self.moves + 1


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def column_generation(problem: QNNProblem, pricers: list[Pricer], budget: Budget = Budget(), tol: float = 1e-6,
                      atoms0: np.ndarray | None = None, Xb: np.ndarray | None = None,
                      desc: str = "column generation", master: RestrictedMaster | None = None,
                      center: np.ndarray | None = None, smoothing: float = 1.0,
                      moving_center: bool = True) -> ColumnGenerationRun:
    """Solve the Lasso over all 2^p atoms (p*_inf, docs/math.md §3) by column generation.

    pricers: tried in order each round until one returns a new violator (cheap ones first); an
    exact pricer's rho bound gives the certified gap that stops the loop at <= tol. atoms0:
    (p, k) initial working set (default empty). Xb: problem.binary_design() when already built.
    master: the restricted master to use (default: RestrictedMaster on all of the problem's data;
    the loop touches the data only through it, so a master over sharded data plugs in).
    A violator must beat beta by a relative 0.1 tol, so the loop cannot chase rounding noise.
    center (n,), smoothing lambda in (0, 1]: dual smoothing of the heuristic pricers
    (docs/math.md §7): they search Q(lambda w + (1 - lambda) center) first, a point between the
    master's dual point w and a good dual point such as a relaxation's, and search Q(w) only when
    that brings no new atom (a mispricing, counted in stats); the trim then scores by the matrix
    that was priced (center may be a SmoothingCenter, to carry it over from an earlier run).
    moving_center: the center follows Wentges's rule (SmoothingCenter); False:
    it stays where it starts. Exact pricers, and so every certified bound, always use w itself, and
    the loop stops for lack of violators only when Q(w) has none."""
    act, beta = problem.activation, problem.beta
    level = beta * (1.0 + 0.1 * tol)
    if master is None:
        master = RestrictedMaster(problem.binary_design() if Xb is None else Xb, problem)
    if atoms0 is not None and np.size(atoms0):
        master.add(atoms0)
    stats = {"pricing_calls": 0, "exact_pricing_calls": 0, "exact_pricing_seconds": 0.0,
             "heuristic_pricing_seconds": 0.0, "master_seconds": 0.0, "bnb_nodes": 0}
    smoothed = center is not None and smoothing < 1.0
    if smoothed:
        stats["mispricings"] = 0
        center = SmoothingCenter.of(center, problem, moving_center)
    best_lb, stop, rounds = -math.inf, "budget", 0
    rho, rho_ub, prev = math.nan, math.inf, math.inf
    w = master.gradient()
    # a run budgeted in pricing calls alone (the rounding's) has a known end: the bar shows it and
    # an estimate of the time left; a certified run stops at convergence, a timed one at its limit
    total = budget.max_rounds if budget.max_pricings is not None and budget.deadline is None else None
    with blas_single_thread(), progress(total=total, desc=desc, unit="round") as bar:
        for rounds in range(1, budget.max_rounds + 1):
            t0 = time.perf_counter()
            obj = master.solve()
            stats["master_seconds"] += time.perf_counter() - t0
            w = master.gradient()
            Q = master.dual_matrix(w)
            rho, rho_ub = math.nan, math.inf
            bar.set_postfix(J=f"{obj:.8g}", atoms=master.S.shape[1], refresh=False)
            bar.update()
            if _expired(budget.deadline):
                stop = "time_limit"
                break
            if budget.min_decrease is not None and prev - obj <= budget.min_decrease * abs(prev):
                stop = "stalled"
                break
            prev = obj
            if budget.max_working_set is not None and master.S.shape[1] >= budget.max_working_set:
                stop = "working_set"
                break
            state = PricingState(master.S[:, master.alpha != 0], level, budget.per_round, act.is_even, budget.deadline)
            added, stop = 0, None
            for pricer in pricers:
                if budget.max_pricings is not None and stats["pricing_calls"] >= budget.max_pricings:
                    stop = "budget"
                    break
                t0 = time.perf_counter()
                if smoothed and not pricer.exact:
                    w_smooth = center.smoothed(w, smoothing)
                    Q_smooth = master.dual_matrix(w_smooth)
                    out = pricer.price(Q_smooth, state)
                    center.consider(w_smooth, out.values, beta)
                    added = master.add_best(out.atoms, out.values, budget.per_round)
                    if added:
                        stats["pricing_calls"] += 1
                        stats["heuristic_pricing_seconds"] += time.perf_counter() - t0
                        Q = Q_smooth                    # the trim keeps the atoms near what was priced
                        break
                    stats["mispricings"] += 1
                out = pricer.price(Q, state)
                seconds = time.perf_counter() - t0
                stats["pricing_calls"] += 1
                if pricer.exact:
                    stats["exact_pricing_calls"] += 1
                    stats["exact_pricing_seconds"] += seconds
                    stats["bnb_nodes"] += out.nodes
                    rho, rho_ub = out.rho, out.rho_upper_bound
                    lb = master.dual_bound(w, rho_ub)
                    best_lb = max(best_lb, lb)
                    # an exact search cut short has no finite rho bound yet: show the best bound so far
                    shown = f"{relative_gap(obj, best_lb):.2e}" if math.isfinite(best_lb) else "pending"
                    bar.set_postfix(J=f"{obj:.8g}", rel_gap=shown, atoms=master.S.shape[1], refresh=False)
                    if relative_gap(obj, lb) <= tol:
                        stop = "converged"
                        break
                    if not out.complete:
                        stop = "time_limit"             # the deadline cut the exact search
                        break
                else:
                    stats["heuristic_pricing_seconds"] += seconds
                added = master.add_best(out.atoms, out.values, budget.per_round)
                if added:
                    break
            if stop is not None:
                break
            if not added:
                stop = "no_violator"                    # every violator is in already: as accurate as it gets
                break
            master.trim(Q, budget.max_atoms)
            if _expired(budget.deadline):
                stop = "time_limit"
                break
        else:
            stop = "budget"
    if smoothed:
        stats["center_moves"] = center.moves           # since the center was made (it may carry over)
    return _finish(master, w, rho, rho_ub, best_lb, stop, rounds, stats)


def _finish(master, w, rho, rho_ub, best_lb, stop, rounds, stats) -> ColumnGenerationRun:
    S, alpha, obj = master.reduced(master.alpha != 0, master.objective())
    lb = master.dual_bound(w, rho_ub) if math.isfinite(rho_ub) else None
    return ColumnGenerationRun(S, alpha, obj, w, rho, rho_ub, lb, best_lb if math.isfinite(best_lb) else None,
                               relative_gap(obj, lb) if lb is not None else math.inf, stop, rounds,
                               int(master.S.shape[1]), stats)


def _embed(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.zeros(mask.shape[0])
    out[mask] = values
    return out
