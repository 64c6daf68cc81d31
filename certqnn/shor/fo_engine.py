"""Engine `fo`: the Shor bound without the conic data (docs/math.md §12, §13).

It solves the Shor SDP for the quadratic loss 1/2 |v - t|^2 (after the backend's rescaling),
primal and dual,

    min  1/2 |A(Z+ - Z-) - t|^2 + beta (tau+ + tau-)   over Z+- >= 0 with diag(Z+-) = tau+- 1,
    max_{w, z+, z-}  -t^T w - 1/2 |w|^2   s.t.  Diag(z+) - Q(w) >= 0,  Diag(z-) + Q(w) >= 0,
                                                1^T z+ = 1^T z- = beta,

by one of three methods (`method`, default "bm-admm"):

* "bm": Burer-Monteiro on the primal. Z+- = tau+- V+- V+-^T with V+- (D, rank) of unit rows
  (so V V^T is in the elliptope {E >= 0, diag(E) = 1}); for fixed V the best tau >= 0 is a
  2-variable quadratic program (_best_scales), which leaves a smooth function of (V+, V-) on a
  product of spheres, minimized by Riemannian L-BFGS (tangent projection row by row, retraction
  by normalizing rows, pairs transported by projection, Armijo backtracking). Each gradient is
  2 tau+ Q(r) V+ and -2 tau- Q(r) V- with r = tau+ A(E+) - tau- A(E-) - t (Danskin: tau is held at
  its minimizer), so an iteration costs 3 passes: A(E+), A(E-), Q(r). Its iterate is feasible, so
  its value is an upper bound at no cost; the dual point is w = r (whose dual objective equals the
  primal value; only rho_bar <= beta is violated, and the scaling lemma repairs that).
* "admm": the alternating direction method of multipliers on the dual's (w, z) / slack split (the
  "boundary point" method), with the multipliers X+, X- (the primal matrices: Z+ = X-, Z- = X+):

  1. (w, z) step: a quadratic problem. Its optimality conditions give w = -t + A(V) with V the
     solution of (mu I + 2 T A^*A T) V = 2 T Q(t) - T(R+ - R-) on range(T), where
     T(M) = offdiag(M) + tr(M)/D I; solved by conjugate gradients warm-started from the last
     iterate, each product two passes over the data, either as it stands in D x D matrices
     (_MatrixWStep) or, when the rows are fewer than dim range(T), in R^n through the Woodbury
     identity (_RowWStep: A(V) = u with (mu I + 2 A T A^*) u = A(rhs); no eigenvalue near mu, so
     5x fewer CG steps there). The images needed for w and Q(w) are summed along from the CG
     directions', so they cost no pass.
  2. slack step: S = projection of Diag(z) -+ Q(w) - mu X onto the PSD cone (D x D eigensolve).
  3. multiplier step: X = (S - (Diag(z) -+ Q(w) - mu X)) / mu  (PSD by construction).
  mu starts at a multiple of the mean eigenvalue of T A^*A T (one random probe, 2 passes) and is
  adapted by square-root steps so that the primal and dual residuals stay balanced.
* "bm-admm": Burer-Monteiro until its objective stalls (at most BM_WARM_ITERS iterations), then
  ADMM started from its point: X-+ = Z+-, V = Z+ - Z- (so w = r), slacks from one slack step.
  The Burer-Monteiro phase finds a good primal point in few passes but its dual converges slowly
  (the factors approach the directions where Diag(z) -+ Q(r) is not yet PSD only slowly); ADMM
  converges in the dual. Measured (docs/math.md §13): on n = 1e4, d = 200 the start turns a 93 %
  proven gap after ~4000 passes into 2 %; to 1e-4 on smaller problems both cost the same passes.
  max_iters counts the ADMM iterations.

Memory is O(n + D^2) besides the data; the data is read only through the two passes
Q(w) = sum_i w_i M(x_i) and A(V)_i = <M(x_i), V> (certqnn.rows.RowSource, block by block, or
summed over MPI ranks that each hold a block of rows).

Precision ("single" | "double" | "auto": single from n D^2 >= SINGLE_PRECISION_MIN_WORK on): in
single the iterations' passes multiply a single-precision copy of the rows (LocalRows; each block's
product summed in double), about twice as fast. Burer-Monteiro tolerates that as it stands. The
ADMM (w, z) step does not: w = -t + A(V) is a small difference of large vectors, and single-
precision images of the warm start drifted the run off (measured at n = 1e4, d = 200: bound 0.00817
instead of 0.00839 after 60 iterations). So each (w, z) step is an iterative refinement: the warm
start's images (and the right-hand side's, in rows) come from exact passes, and CG in single solves
for the correction only (2 exact passes per iteration in matrices, 3 in rows). Every bound check,
primal value and the first passes (Q(t), twice: the faster is the unit of "passes' time") are exact.

Never trust this solver: every few iterations the current w is turned into a bound by the scaling
lemma (docs/math.md §4) with rho_bar from the inner elliptope problem solved to high accuracy
(certqnn.shor.elliptope); the best such (w, z+, z-) is returned and certify() re-proves it
rigorously. A feasible primal point (Burer-Monteiro: the iterate itself; ADMM: the multipliers
rescaled to diag(Z) = tau 1) bounds the SDP value from above, so the run reports a proven SDP gap
and stops when it is below eps (or at max_iters, or at the caller's wall-clock limit).
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from ..result import Status
from .elliptope import elliptope_bound
from .solution import ShorSolution


def offdiag_trace(M: np.ndarray) -> np.ndarray:
    """T(M) = offdiag(M) + (tr M / D) I: the orthogonal projection onto matrices whose diagonal is
    a multiple of the identity (the diagonals that Z+ - Z- can have)."""
    out = np.array(M, float)
    out[np.diag_indices_from(out)] = np.trace(M) / M.shape[0]
    return out


def psd_parts(N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Pi+(N), Pi+(N) - N): the projection onto the PSD cone and minus the negative part."""
    lam, U = np.linalg.eigh(0.5 * (N + N.T))
    pos = (U * np.maximum(lam, 0.0)) @ U.T
    return pos, pos - N


def feasible_primal(Xm: np.ndarray) -> np.ndarray:
    """A point of {Z >= 0, Z_kk = Z_DD} near the PSD matrix Xm: Diag(s) Xm Diag(s) with
    s_k = sqrt(t / Xm_kk), t = the largest diagonal entry (a congruence keeps Z PSD)."""
    d = np.clip(np.diag(Xm), 0.0, None)
    t = float(d.max()) if d.size else 0.0
    if t <= 0.0:
        return np.zeros_like(Xm)
    s = np.sqrt(t / np.maximum(d, t * 1e-300))
    s[d <= 0.0] = 0.0
    Z = (Xm * s).T * s
    Z[np.diag_indices_from(Z)] = t
    return Z


def _best_scales(pp, mm, pm, pt, mt, beta):
    """argmin over tau >= 0 of 1/2 |tau0 a+ - tau1 a- - t|^2 + beta (tau0 + tau1), given the inner
    products pp = a+.a+, mm = a-.a-, pm = a+.a-, pt = a+.t, mt = a-.t (a 2-variable convex QP:
    the best of the interior stationary point and the two edges)."""
    cands = [(0.0, 0.0)]
    if pp > 0:
        cands.append((max((pt - beta) / pp, 0.0), 0.0))
    if mm > 0:
        cands.append((0.0, max((-mt - beta) / mm, 0.0)))
    det = pp * mm - pm * pm
    if det > 1e-12 * max(pp * mm, 1e-300):
        # gradient zero: pp tau0 - pm tau1 = pt - beta, -pm tau0 + mm tau1 = -mt - beta
        b0, b1 = pt - beta, -mt - beta
        t0, t1 = (mm * b0 + pm * b1) / det, (pm * b0 + pp * b1) / det
        if t0 >= 0 and t1 >= 0:
            cands.append((t0, t1))

    def f(c):
        return 0.5 * (c[0] ** 2 * pp + c[1] ** 2 * mm - 2 * c[0] * c[1] * pm) - c[0] * pt + c[1] * mt + beta * (c[0] + c[1])
    return min(cands, key=f)


# iterations by default (for "bm-admm": ADMM iterations after the Burer-Monteiro start): an ADMM
# iteration costs tens of passes when n < m (docs/math.md §13), so 60 keeps the default run at
# n = 1e4, d = 200 to minutes; --max-iters raises it (every check is a bound)
DEFAULT_MAX_ITERS = 60
METHODS = ("bm-admm", "bm", "admm")
DEFAULT_METHOD = "bm-admm"

_CONTROLLER = []


def small_side():
    """Context: BLAS limited to one thread for the D x D work (eigendecompositions, Cholesky
    factorizations of the inner problem). Measured on a loaded 2-core machine, D = 201: eigh
    0.64 s with two contending BLAS threads vs 0.012 s with one, the inner elliptope solve 21 s vs
    0.45 s; the passes over the data (large products) keep the full pool. It also makes the small
    side's rounding independent of the thread count. Speed only: without threadpoolctl nothing
    changes."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


class LocalRows:
    """The two passes over the rows held by this process (a certqnn.rows.RowSource) and the
    reductions over them. Results do not depend on how the rows are split over processes: the
    passes work on fixed blocks of `block_rows` rows aligned to global row 0, Q(w) adds the blocks'
    partial matrices in global block order, and inner products are correctly rounded sums
    (math.fsum) of the blocks' partial dot products -- so fo:mpi reproduces the one-process run
    bit for bit instead of drifting apart through sixty iterations of an ill-conditioned method.
    `n` is the number of local rows.

    single: the passes' products run on a single-precision copy of the rows (made at the first
    such pass, n p floats), each block's result summed in double; a pass asked for with exact=True
    reads the rows in double as usual (FoEngine says which passes must be exact)."""

    def __init__(self, source, single: bool = False):
        self.source = source
        self.n = source.n
        b = source.block_rows
        self.spans = [(lo, min(lo + b, self.n)) for lo in range(0, self.n, b)]
        self.single = single
        self._single_rows = None
        self.passes = 0
        self.exact_passes = 0

    def _blocks(self, exact):
        """For span k, the blocks argument of RowSource.q_matrix / apply_lifted: None (read the
        rows in double) or [(0, the span's single-precision rows)]."""
        if exact or not self.single:
            self.exact_passes += 1
            return [None] * len(self.spans)
        if self._single_rows is None:
            self._single_rows = [np.concatenate([B for _, B in self.source.rows(lo, hi).blocks()]).astype(np.float32)
                                 for lo, hi in self.spans]
        return [[(0, B)] for B in self._single_rows]

    def _partials(self, w_local, exact):
        return [self.source.rows(lo, hi).q_matrix(w_local[lo:hi], blocks=blocks)
                for (lo, hi), blocks in zip(self.spans, self._blocks(exact))]

    def _in_order(self, partials, D):
        total = np.zeros((D, D))
        for part in partials:
            total += part
        return total

    def q(self, w_local, exact=False):
        """Q(w) (D, D) of the local rows' w (n,): one pass."""
        self.passes += 1
        return self._in_order(self._partials(w_local, exact), self.source.p + 1)

    def a(self, V, exact=False):
        """A(V) (n,) on the local rows, V (D, D) symmetric: one pass."""
        self.passes += 1
        parts = [self.source.rows(lo, hi).apply_lifted(V, blocks=blocks)
                 for (lo, hi), blocks in zip(self.spans, self._blocks(exact))]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _block_dots(self, u, v):
        return [float(u[lo:hi] @ v[lo:hi]) for lo, hi in self.spans]

    def dot(self, u, v) -> float:
        return math.fsum(self._block_dots(u, v))

    def gather(self, v):
        return v

    def agree(self, value):
        return value


class MpiRows(LocalRows):
    """Rows [lo, hi) of this MPI rank, a whole number of blocks (block_aligned_shard); the blocks'
    partial Q's and dot products are gathered from all ranks and combined exactly as one process
    would, so every rank holds the same D x D iterates (the small side is replicated)."""

    def __init__(self, source, comm, single: bool = False):
        super().__init__(source, single)
        self.comm = comm

    def q(self, w_local, exact=False):
        self.passes += 1
        gathered = self.comm.allgather(self._partials(w_local, exact))    # lists in rank order = block order
        return self._in_order([part for rank_parts in gathered for part in rank_parts], self.source.p + 1)

    def dot(self, u, v) -> float:
        gathered = self.comm.allgather(self._block_dots(u, v))
        return math.fsum(x for rank_dots in gathered for x in rank_dots)

    def gather(self, v):
        parts = self.comm.allgather(np.asarray(v, float))
        return np.concatenate(parts)

    def agree(self, value):
        """Rank 0's value on every rank (wall-clock decisions must be taken together)."""
        return self.comm.bcast(value, root=0)


def block_aligned_shard(source, rank: int, size: int):
    """Rows of `source` for MPI rank `rank` of `size`: a consecutive run of whole blocks of
    source.block_rows rows (blocks split as evenly as possible; a rank may get none)."""
    b = source.block_rows
    blocks = -(-source.n // b)
    lo = min(rank * blocks // size * b, source.n)
    hi = min((rank + 1) * blocks // size * b, source.n)
    return source.rows(lo, hi)


def _frobenius(u, v) -> float:
    return float(np.vdot(u, v))


def _conjugate_gradients(apply, rhs, x, ax, reduction, max_iters, dot=_frobenius):
    """Conjugate gradients on a symmetric positive definite operator (D x D matrices under the
    Frobenius inner product, or vectors of rows under `dot`), from x whose image `ax` = apply(x)[0]
    is already known (so a warm start costs no pass). apply(p) returns (image, extras) and the
    extras of the steps are summed with the step lengths by the caller, so it keeps the images it
    needs up to date without recomputing them. Stops when the residual has shrunk by `reduction`
    or after max_iters; returns (x, extras increment list [(step, extras)], steps)."""
    x = x.copy()
    r = rhs - ax
    p = r.copy()
    rr = dot(r, r)
    target = reduction ** 2 * rr
    steps = []
    k = 0
    while k < max_iters and rr > 0:
        Ap, extras = apply(p)
        step = rr / dot(p, Ap)
        x += step * p
        r -= step * Ap
        steps.append((step, extras))
        k += 1
        rr_new = dot(r, r)
        if rr_new <= target:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, steps, k


class _MatrixWStep:
    """The (w, z) step's linear system solved as it stands, in D x D matrices:
    (mu I + 2 T A^*A T) V = rhs, then w = -t + A(V). Each CG product is two passes (A(.), then
    Q(.)); A(V) and Q(A(V)) are summed from the directions' images, so w and Q(w) cost no pass.
    Right when n >= dim range(T): then A^*A has no null space on range(T) to speak of. With
    n < dim range(T) the operator is mu on the null space of A T and mu + 2 lambda(A T A^*) on the
    rest; mu sits far below the rest (balancing takes it there), and CG needs tens of steps to
    be small on both (measured ~35 at n = 1e4, d = 200): _RowWStep avoids that."""

    def __init__(self, rows, D, warm=None):
        self.rows = rows
        if warm is None:
            self.V, self.AV, self.QAV = np.zeros((D, D)), np.zeros(rows.n), np.zeros((D, D))
        else:
            # V = Z+ - Z- gives w = A(V) - t = r, with A(V) and its Q known
            Zp, Zm, r, Qr, y_loc, Qy = warm
            self.V, self.AV, self.QAV = Zp - Zm, r + y_loc, Qr + Qy

    def solve(self, rhs, mu, y_loc, Qy, reduction, max_iters):
        rows = self.rows
        if rows.single:
            # iterative refinement: the carried images again from exact passes, so that CG in
            # single precision solves for a correction (module docstring)
            self.AV = rows.a(self.V, exact=True)
            self.QAV = rows.q(self.AV, exact=True)

        def operator(M):
            a = rows.a(M)
            qa = rows.q(a)
            return mu * M + 2.0 * offdiag_trace(qa), (a, qa)

        self.V, steps, k = _conjugate_gradients(operator, rhs, self.V, mu * self.V + 2.0 * offdiag_trace(self.QAV),
                                                reduction, max_iters)
        for step, (a, qa) in steps:
            self.AV += step * a
            self.QAV += step * qa
        return self.AV - y_loc, self.QAV - Qy, k


class _RowWStep:
    """The same (w, z) step solved in R^n (docs/math.md §13): by the Woodbury identity,
    (mu I + 2 B^*B)^{-1} = (I - 2 B^* (mu I + 2 K)^{-1} B) / mu with B = A T and K = B B^* = A T A^*
    (n x n, never formed), so A(V) = u with (mu I + 2 K) u = A(rhs) (rhs is in range(T)). For
    n < dim range(T) K has full rank and no eigenvalue near mu: measured 7 CG steps per iteration
    instead of 35 at n = 1e4, d = 200, for the same iterates to four digits. One extra pass per
    iteration (A(rhs)); each CG product is two passes (Q(.), then A(T(.))), and Q(u), K u are summed
    from the directions' images. w = -t + u, not -t + A(V_k) = -t + u + r/mu of the inexact V_k:
    the error of u is the residual over eigenvalues of 2 K, not over mu."""

    def __init__(self, rows, D, warm=None):
        self.rows = rows
        if warm is None:
            self.u, self.Ku, self.Qu = np.zeros(rows.n), np.zeros(rows.n), np.zeros((D, D))
        else:
            # u = A(Z+ - Z-) = r + t as for the matrix form; K u = A(T(Q(u))) is one pass
            Zp, Zm, r, Qr, y_loc, Qy = warm
            self.u, self.Qu = r + y_loc, Qr + Qy
            self.Ku = rows.a(offdiag_trace(self.Qu))

    def solve(self, rhs, mu, y_loc, Qy, reduction, max_iters):
        rows = self.rows
        if rows.single:
            # iterative refinement, as in _MatrixWStep; the right-hand side's image exact too
            self.Qu = rows.q(self.u, exact=True)
            self.Ku = rows.a(offdiag_trace(self.Qu), exact=True)

        def operator(p):
            q = rows.q(p)
            kp = rows.a(offdiag_trace(q))
            return mu * p + 2.0 * kp, (kp, q)

        self.u, steps, k = _conjugate_gradients(operator, rows.a(rhs, exact=True), self.u, mu * self.u + 2.0 * self.Ku,
                                                reduction, max_iters, dot=rows.dot)
        for step, (kp, q) in steps:
            self.Ku += step * kp
            self.Qu += step * q
        return self.u - y_loc, self.Qu - Qy, k


def search_the_line(last_check: bool, theta_moved: bool, plain_checks: int, every: int) -> bool:
    """Whether a bound check searches along t (FoEngine.SEARCH_EVERY): at the budget's last check,
    when the last search moved theta off 0, or after every - 1 checks without a search."""
    return last_check or theta_moved or plain_checks >= every - 1


PRECISIONS = ("auto", "single", "double")
# precision "auto": single-precision passes from this n D^2 on (measured on this 2-core machine,
# one BLAS thread: a product with n = 1e4, D = 201 takes 0.027 s in double, 0.015 s in single;
# below ~1e8 the passes are a small part of the engine's time and double costs little)
SINGLE_PRECISION_MIN_WORK = 10 ** 8


def single_precision_pays(n: int, D: int) -> bool:
    """Whether precision "auto" runs the passes in single precision: n D^2 >= SINGLE_PRECISION_MIN_WORK
    (n the global number of rows, so that every MPI rank decides alike)."""
    return n * D * D >= SINGLE_PRECISION_MIN_WORK


def w_step_space(n: int, D: int) -> str:
    """Where the ADMM's (w, z) step is solved: "rows" (R^n) when the n rows are fewer than the
    dimension of range(T), D(D+1)/2 - D + 1, else "matrices" (D x D). n: all rows, over all ranks."""
    return "rows" if n < D * (D + 1) // 2 - D + 1 else "matrices"


class FoEngine:
    """Matrix-free Shor engine (quadratic loss only). See the module docstring."""

    name = "fo"
    CHECK_EVERY = 10        # iterations between two bound evaluations (each one inner elliptope solve)
    CG_REDUCTION = 0.1      # each (w, z) step shrinks the CG residual tenfold (warm start does the rest)
    # in rows, from the Burer-Monteiro start, a looser solve is enough. Measured: the first check
    # within 1e-4 of SCS came at the same ADMM iteration with 0.3 as with 0.1, for 2146 instead of
    # 3564 passes (n = 1000, d = 50) and 2238 instead of 3160 (n = 2000, d = 80); at n = 1e4,
    # d = 200, 60 iterations: bound 0.0083980 vs 0.0083892 for 1083 vs 1413 passes (0.5: 0.0083765,
    # 955). ADMM from zero keeps 0.1 (with 0.3, 150 iterations at n = 1e4, d = 200 ended at a 94 %
    # proven gap instead of 2.2 %), and so do matrices (0.5 at n = 3000, d = 40: gap 3.0e-3 vs 6.4e-4)
    CG_REDUCTION_ROWS = 0.3
    CG_MAX_ITERS = 200
    # mu starts at MU_FACTOR x (mean eigenvalue of T A^*A T) instead of 1: the operator's scale
    # grows like n * D, so a fixed start was far from the balance point on large data and the x2
    # steps took dozens of iterations (each with expensive CG) to get there. Measured (n = 2000,
    # d = 80): the balanced mu is ~5e-4 of the mean eigenvalue; 0.1 with square-root steps gets
    # there in ~10 iterations.
    MU_FACTOR = 0.1
    # golden-section steps of the bound's line search along t (0 = off). Measured on n = 1e4,
    # d = 200: bound 0.0059 vs 0.0039 after 10 iterations, for ~20 inner solves per check (with
    # one BLAS thread ~0.3 s each at D = 201 then, ~0.07 s with the interior-point inner solver);
    # the gain shrinks as ADMM converges.
    LINE_SEARCH = 8
    # a check searches the line only if the last search moved theta off 0, or after SEARCH_EVERY - 1
    # checks without a search, or at the end of the budget. Measured (60 iterations, the same final
    # bound to all digits as searching at every check): n = 1000, d = 50 and n = 2000, d = 80 keep
    # landing on theta = 0 (96 and 116 inner solves instead of 156); n = 1000, d = 100 and
    # n = 500, d = 60 gain at every check (+2.6 % and +0.3 % at the end), and n = 1e4, d = 200 early
    # (x2.8 at the first check, +2.6 % at the fourth) until theta settles at 0 in the last two
    SEARCH_EVERY = 3
    # optional over-relaxed multiplier step X <- (1 - g) X + g (new X), g < (1 + sqrt 5)/2 keeps
    # the dual ADMM convergent; X may then leave the PSD cone, so the feasible primal is built from
    # Pi+(X). Measured: g = 1.6 gave proven gap 0.22 vs 0.25 after 50 iterations on n = 2000,
    # d = 80, but a 4x worse feasible primal on n = 1e4, d = 200 after 30; so off by default.
    RELAX = 1.0
    # residual balancing: every ADAPT_EVERY iterations, if the residual ratio leaves
    # [1/ADAPT_BAND, ADAPT_BAND], mu moves by sqrt(ratio) (at most x ADAPT_MAX) rather than x2
    ADAPT_EVERY = 2
    ADAPT_BAND = 1.5
    ADAPT_SQRT = True
    ADAPT_MAX = 10.0
    # where the ADMM's (w, z) step is solved: "auto" (w_step_space: R^n when n < dim range(T)),
    # "rows" or "matrices" (the same iterates up to the CG tolerance; tests compare them)
    W_STEP = "auto"

    @staticmethod
    def _mean_eigenvalue(rows, D):
        """<G, T A^*A T G> / |G|^2 for a fixed pseudo-random symmetric G in range(T) (2 passes): an
        estimate of the mean eigenvalue of T A^*A T, the scale of the w-step's operator."""
        G = np.random.default_rng(12345).standard_normal((D, D))
        G = offdiag_trace(G + G.T)
        HG = offdiag_trace(rows.q(rows.a(G)))
        return max(float(np.vdot(G, HG)) / float(np.vdot(G, G)), 1e-300)

    # Burer-Monteiro (docs/math.md §13): factor rank (None = D; measured: rank 30 or 40 instead of
    # D = 51 did not converge faster on n = 1000, d = 50), L-BFGS memory, the first step's largest
    # row movement, the start's interior-point tolerance (a loose one keeps the start full rank;
    # measured at 60 ADMM iterations: 3e-2 gave smaller proven SDP gaps than 1e-2 on all of
    # n x d = 1e4 x 200, 1000 x 50, 1000 x 100, 500 x 60, 2000 x 80, and 0.1 a worse one at 1e4 x 200)
    BM_RANK = None
    BM_MEMORY = 10
    BM_FIRST_STEP = 0.1
    BM_START_TOL = 3e-2
    CHECK_EVERY_BM = 20     # method "bm": iterations between two bound evaluations
    # method "bm-admm": at most BM_WARM_ITERS Burer-Monteiro iterations (3 passes each), fewer when
    # the objective fell by less than BM_STALL (relative) over the last BM_STALL_WINDOW of them
    BM_WARM_ITERS = 200
    BM_STALL = 1e-3
    BM_STALL_WINDOW = 20
    # mu for the warm-started ADMM: the cold start's MU_FACTOR x (mean eigenvalue) is far above the
    # balance point (measured ~2e-4 of it on n = 1e4, d = 200), and a warm start should not spend
    # its first iterations walking mu down (measured there, from the same Burer-Monteiro point:
    # 5e-4 reached bound 0.0076 after 988 passes, 0.1 only after 1066 and needed 5 more
    # iterations to balance)
    WARM_MU_FACTOR = 1e-3

    def __init__(self, comm=None, method=DEFAULT_METHOD):
        self.comm = comm
        self.method = method

    @staticmethod
    def available() -> bool:
        return True

    def models(self, model) -> bool:
        return model is None

    def solve(self, Xb, y, beta, act, eps=1e-4, max_iters=DEFAULT_MAX_ITERS, time_limit=None, verbose=False,
              model=None, progress=None, method=None, precision="auto") -> ShorSolution:
        """Xb (n, p) binary design (or a certqnn.rows.RowSource), y (n,) target t, beta > 0.
        eps: stop when (feasible primal value - best bound) <= eps * |primal value|.
        max_iters: iterations of the method (the work budget; for "bm-admm" the ADMM iterations
        after the Burer-Monteiro start). method: "bm-admm" | "bm" | "admm" (None: the engine's).
        precision: the arithmetic of the iterations' passes, "single" | "double" | "auto"
        (single_precision_pays); the bounds and primal values the run reports, and the images the
        ADMM steps start from, always come from passes in double (see the module docstring).
        Returns a ShorSolution whose details carry the best dual point: "dual_w" (n,), "z_plus",
        "z_minus" (D,), and the run's facts."""
        from ..rows import RowSource

        if model is not None:
            raise ValueError("the fo engine models the quadratic loss only")
        start = time.perf_counter()
        source = Xb if isinstance(Xb, RowSource) else RowSource.from_array(np.asarray(Xb, float), activation=act)
        y_all = np.asarray(y, float)
        D = source.p + 1
        if precision not in PRECISIONS:
            raise ValueError(f"unknown fo precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        single = precision == "single" or (precision == "auto" and single_precision_pays(y_all.size, D))
        if self.comm is not None:
            source = block_aligned_shard(source, self.comm.Get_rank(), self.comm.Get_size())
            rows = MpiRows(source, self.comm, single)
            y_loc = y_all[source.lo:source.hi]
        else:
            rows = LocalRows(source, single)
            y_loc = y_all
        method = (method or self.method).lower()
        if method not in METHODS:
            raise ValueError(f"unknown fo method {method!r}; use one of {', '.join(METHODS)}")
        # the unit of "passes' time": a pass in double, timed warm (the first one also pays for
        # first touches of the data and of BLAS buffers: measured up to 30 % slower), so Q(t) is
        # computed twice and the faster of the two is the unit
        pass_seconds = math.inf
        for _ in range(2):
            t_pass = time.perf_counter()
            Qy = rows.q(y_loc, exact=True)
            pass_seconds = min(pass_seconds, time.perf_counter() - t_pass)

        def out_of_time():
            return time_limit is not None and rows.agree(time.perf_counter() - start > time_limit)

        space = w_step_space(y_all.size, D) if self.W_STEP == "auto" else self.W_STEP
        state = {"best": {"lb": -math.inf}, "upper": math.inf, "out_of_time": out_of_time,
                 "primal": (np.zeros((D, D)), np.zeros((D, D))), "status": Status.FEASIBLE, "it": 0,
                 "w_step": space, "theta_moved": True, "plain_checks": 0}
        history = []

        def scaled(yw, ww, rho):
            s_max = 1.0 if rho <= beta else beta / rho
            s = min(max(-yw / ww, 0.0), s_max) if ww > 0 else 0.0
            return -s * yw - 0.5 * s * s * ww

        def dual_value(w_loc, Qw):
            """The scaling lemma's bound for w with rho_bar from the inner problem (float estimate;
            certify() proves it) and the z's that certify it."""
            with small_side():
                zp, _ = elliptope_bound(Qw)
                zm, _ = elliptope_bound(-Qw)
            rho = max(zp.sum(), zm.sum(), 0.0)
            return scaled(rows.dot(y_loc, w_loc), rows.dot(w_loc, w_loc), rho), zp, zm

        def best_on_line(u_loc, Qu, search=True):
            """The best scaling-lemma bound over w = u + theta t (Q(w) = Q(u) + theta Q(t) costs no
            pass): near the optimum w is a small difference of two large vectors, so a small error
            in the A(Z) part leaves w far outside {rho_bar <= beta} and the scaling lemma shrinks it
            to nothing; moving along t repairs exactly that error. Golden-section search on theta in
            [-h, h], h = |u| / |t| (a unimodal guess; every point tried is a valid bound, the best is
            kept). search=False: theta = 0 alone. Returns (lb, w, z+, z-, theta)."""
            uu, tt, ut = rows.dot(u_loc, u_loc), rows.dot(y_loc, y_loc), rows.dot(u_loc, y_loc)
            cache = {}

            def f(theta):
                if theta not in cache:
                    Q = Qu + theta * Qy
                    with small_side():
                        zp, _ = elliptope_bound(Q, rel_tol=1e-7)
                        zm, _ = elliptope_bound(-Q, rel_tol=1e-7)
                    rho = max(zp.sum(), zm.sum(), 0.0)
                    yw = ut + theta * tt
                    ww = uu + 2.0 * theta * ut + theta * theta * tt
                    cache[theta] = (scaled(yw, ww, rho), zp, zm)
                return cache[theta][0]

            h = math.sqrt(uu / tt) if tt > 0 else 0.0
            if search and h > 0 and self.LINE_SEARCH > 0:
                g = (math.sqrt(5.0) - 1.0) / 2.0
                a, b = -h, h
                c, d = b - g * (b - a), a + g * (b - a)
                f(0.0)
                for _ in range(self.LINE_SEARCH):
                    if f(c) >= f(d):
                        b, d = d, c
                        c = b - g * (b - a)
                    else:
                        a, c = c, d
                        d = a + g * (b - a)
            theta = max(cache, key=lambda k: cache[k][0]) if cache else 0.0
            w = u_loc + theta * y_loc
            # the chosen point again at full accuracy (the search used a looser inner tolerance)
            lb, zp, zm = dual_value(w, Qu + theta * Qy)
            return lb, w, zp, zm, theta

        def check(it, w_loc, Qw, up_now, primal, extra=""):
            """A bound from w (best over the line through t), the feasible primal's value up_now,
            the log; True when the run must stop (proven gap <= eps, or the wall clock). Qw and
            up_now must come from exact passes."""
            # the search costs twenty-odd inner solves; where it keeps landing on theta = 0 only
            # every SEARCH_EVERY-th check searches, and the budget's last one always does
            search = search_the_line(it == max_iters, state["theta_moved"], state["plain_checks"], self.SEARCH_EVERY)
            lb, w_c, zp_c, zm_c, theta = best_on_line(w_loc, Qw, search)
            if search:
                state["theta_moved"], state["plain_checks"] = theta != 0.0, 0
            else:
                state["plain_checks"] += 1
            if lb > state["best"]["lb"]:
                state["best"] = {"lb": lb, "w": w_c, "z_plus": zp_c, "z_minus": zm_c, "iteration": it}
            if up_now < state["upper"]:
                state["upper"] = up_now
                state["primal"] = primal()
            best_lb, upper = state["best"]["lb"], state["upper"]
            gap = (upper - best_lb) / max(abs(upper), 1e-12)
            history.append({"iteration": it, "passes": rows.passes, "lower": best_lb, "upper": upper,
                            "seconds": time.perf_counter() - start})
            if progress is not None:
                progress(it, best_lb, upper, rows.passes)
            if verbose:
                print(f"fo:{method} {it:5d}  passes {rows.passes:6d}  lower {best_lb:.10g}  upper {upper:.10g}  "
                      f"gap {gap:.2e}  lb_now {lb:.6g}  {extra}  {time.perf_counter() - start:.1f}s", flush=True)
            if gap <= eps:
                state["status"] = Status.OPTIMAL
                return True
            if out_of_time():
                state["status"] = Status.TIME_LIMIT
                return True
            return False

        if method == "admm":
            facts = self._run_admm(rows, y_loc, Qy, beta, D, int(max_iters), check, state)
        else:
            facts = self._run_bm(rows, y_loc, Qy, beta, D, int(max_iters), check, state, method)
        it = state["it"]
        best, upper = state["best"], state["upper"]
        status = state["status"]
        w_full = rows.gather(best["w"])
        details = {"dual_w": w_full, "z_plus": best["z_plus"], "z_minus": best["z_minus"], "method": method,
                   "passes": rows.passes, "exact_passes": rows.exact_passes,
                   "precision": "single" if single else "double",
                   "pass_seconds": pass_seconds, "iterations": it,
                   "primal_upper": upper, "best_iteration": best["iteration"], "history": history,
                   "solver_status": status.value, "ranks": 1 if self.comm is None else self.comm.Get_size(),
                   "solve_seconds": time.perf_counter() - start, **facts}
        return ShorSolution(Z_plus=state["primal"][0], Z_minus=state["primal"][1], S_plus_diag=None,
                            S_minus_diag=None, status=status, iterations=it, solver_objective=best["lb"],
                            details=details)

    def _run_admm(self, rows, y_loc, Qy, beta, D, max_iters, check, state, warm=None):
        """ADMM on the dual (module docstring); calls check() every CHECK_EVERY iterations.
        warm: (Z+, Z-, r, Q(r)) a primal point and its residual r = A(Z+ - Z-) - t, to start from."""
        space = state["w_step"]
        Xp = np.zeros((D, D)); Xm = np.zeros((D, D))
        Sp = np.zeros((D, D)); Sm = np.zeros((D, D))
        lam_mean = self._mean_eigenvalue(rows, D)
        mu = (self.MU_FACTOR if warm is None else self.WARM_MU_FACTOR) * lam_mean
        if warm is not None:
            # the multipliers are the primal matrices
            Zp_w, Zm_w, r_w, Qr_w = warm
            Xm, Xp = Zp_w.copy(), Zm_w.copy()
            # slacks: one slack step at w = r with S = 0 in the z formula (steps 1-2 below), so the
            # first (w, z) step sees R = S + mu X consistent with the primal point
            Ss = []
            for sign, X in ((1.0, Xp), (-1.0, Xm)):
                N = sign * Qr_w + mu * X
                z = np.diag(N) + (beta - np.trace(N)) / D
                with small_side():
                    Ss.append(psd_parts(np.diag(z) - sign * Qr_w - mu * X)[0])
            Sp, Sm = Ss
        step_class = _RowWStep if space == "rows" else _MatrixWStep
        w_step = step_class(rows, D, None if warm is None else (*warm, y_loc, Qy))
        reduction = self.CG_REDUCTION_ROWS if space == "rows" and warm is not None else self.CG_REDUCTION
        cg_steps = 0
        for it in range(1, max_iters + 1):
            state["it"] = it
            Rp = Sp + mu * Xp
            Rm = Sm + mu * Xm
            rhs = 2.0 * offdiag_trace(Qy) - offdiag_trace(Rp - Rm)
            w_loc, Qw, k = w_step.solve(rhs, mu, y_loc, Qy, reduction, self.CG_MAX_ITERS)
            cg_steps += k
            zp = np.diag(Qw + Rp) + (beta - np.trace(Qw + Rp)) / D
            zm = np.diag(Rm - Qw) + (beta - np.trace(Rm - Qw)) / D
            Np = np.diag(zp) - Qw - mu * Xp
            Nm = np.diag(zm) + Qw - mu * Xm
            with small_side():
                Sp, negp = psd_parts(Np)
                Sm, negm = psd_parts(Nm)
            # dual residual: the constraint Diag(z) -+ Q(w) = S before the multiplier step
            dres = ((np.linalg.norm(Np + mu * Xp - Sp) + np.linalg.norm(Nm + mu * Xm - Sm))
                    / (1.0 + np.linalg.norm(Qw)))
            if self.RELAX == 1.0:
                Xp, Xm = negp / mu, negm / mu
            else:
                Xp = (1.0 - self.RELAX) * Xp + self.RELAX * negp / mu
                Xm = (1.0 - self.RELAX) * Xm + self.RELAX * negm / mu
            if it % self.ADAPT_EVERY == 0:
                # primal residual: diag(Z) = t 1 and the link w = A(Z+ - Z-) - t (one pass)
                link = rows.a(Xm - Xp) - y_loc - w_loc
                pres = ((np.linalg.norm(np.diag(Xp) - Xp[-1, -1]) + np.linalg.norm(np.diag(Xm) - Xm[-1, -1])
                         + math.sqrt(rows.dot(link, link) / D))
                        / (1.0 + np.linalg.norm(Xp) + np.linalg.norm(Xm)))
                ratio = pres / max(dres, 1e-300)
                if ratio > self.ADAPT_BAND:
                    mu *= min(self.ADAPT_MAX, math.sqrt(ratio)) if self.ADAPT_SQRT else 2.0
                elif ratio < 1.0 / self.ADAPT_BAND:
                    mu /= min(self.ADAPT_MAX, math.sqrt(1.0 / ratio)) if self.ADAPT_SQRT else 2.0
            if it % self.CHECK_EVERY == 0 or it == max_iters:
                # Feasible primal: unit-diagonal congruences of the multipliers, scaled by the best
                # (tau+, tau-) >= 0 (a 2-variable QP, 2 passes). Taking tau = the largest diagonal
                # entry instead (as feasible_primal does) overshoots badly while X is far from
                # diag(X) = tau 1, and the gap then measures the rescaling, not the iterate.
                with small_side():
                    Uplus, Uminus = feasible_primal(psd_parts(Xm)[0]), feasible_primal(psd_parts(Xp)[0])
                Uplus = Uplus / Uplus[-1, -1] if Uplus[-1, -1] > 0 else Uplus
                Uminus = Uminus / Uminus[-1, -1] if Uminus[-1, -1] > 0 else Uminus
                ap, am = rows.a(Uplus, exact=True), rows.a(Uminus, exact=True)
                tau = _best_scales(rows.dot(ap, ap), rows.dot(am, am), rows.dot(ap, am), rows.dot(ap, y_loc),
                                   rows.dot(am, y_loc), beta)
                r = tau[0] * ap - tau[1] * am - y_loc
                up_now = 0.5 * rows.dot(r, r) + beta * (tau[0] + tau[1])
                Qw_exact = rows.q(w_loc, exact=True) if rows.single else Qw
                if check(it, w_loc, Qw_exact, up_now, lambda: (tau[0] * Uplus, tau[1] * Uminus),
                         f"mu {mu:.2e}  cg {cg_steps}"):
                    break
        return {"mu": mu, "cg_steps": cg_steps, "w_step": space}

    # -- Burer-Monteiro ------------------------------------------------------------------------
    def _bm_start(self, Qy, D, rank):
        """Factors (2, D, rank) with unit rows: E+ ~ the maximizer of <Q(t), E> over the elliptope
        and E- ~ that of <-Q(t), E>, the best directions at Z = 0 (where the residual is -t). The
        interior point X of a loose interior-point solve is used, so the start has full rank:
        gradient steps V - a G V keep the column space of V, so a rank-deficient start would stay
        rank deficient."""
        out = np.empty((2, D, rank))
        for k, sign in enumerate((1.0, -1.0)):
            Q = sign * Qy
            with small_side():
                _, facts = elliptope_bound(Q, rel_tol=self.BM_START_TOL)
                lam, U = np.linalg.eigh(facts["X"])
            F = U[:, D - rank:] * np.sqrt(np.maximum(lam[D - rank:], 0.0))
            out[k] = F / np.linalg.norm(F, axis=1, keepdims=True)
        return out

    def _run_bm(self, rows, y_loc, Qy, beta, D, max_iters, check, state, method):
        """Riemannian L-BFGS on (V+, V-), unit rows (module docstring); calls check() every
        CHECK_EVERY_BM iterations. With rows.single the iterations' passes are in single precision
        and each check's value, scales and residual are recomputed in double."""
        rank = D if self.BM_RANK is None else max(1, min(D, int(self.BM_RANK)))

        def tangent(V, G):
            # the projection onto the tangent space of the product of spheres at V (row-wise)
            return G - np.sum(G * V, axis=2, keepdims=True) * V

        def retract(V):
            return V / np.linalg.norm(V, axis=2, keepdims=True)

        def value(V, exact=False):
            """f(V) = min over tau >= 0 of 1/2 |tau+ A(E+) - tau- A(E-) - t|^2 + beta (tau+ + tau-)
            (2 passes): (f, tau, residual)."""
            ap, am = rows.a(V[0] @ V[0].T, exact), rows.a(V[1] @ V[1].T, exact)
            tau = _best_scales(rows.dot(ap, ap), rows.dot(am, am), rows.dot(ap, am), rows.dot(ap, y_loc),
                               rows.dot(am, y_loc), beta)
            res = tau[0] * ap - tau[1] * am - y_loc
            return 0.5 * rows.dot(res, res) + beta * (tau[0] + tau[1]), tau, res

        def gradient(V, tau, res):
            """The Riemannian gradient (1 pass, Q(residual)); by Danskin's theorem the minimizing tau
            may be held fixed: d/dV+ = 2 tau+ Q(r) V+, d/dV- = -2 tau- Q(r) V-."""
            Qr = rows.q(res)
            G = np.stack([2.0 * tau[0] * (Qr @ V[0]), -2.0 * tau[1] * (Qr @ V[1])])
            return tangent(V, G), Qr

        def exact_point():
            """(f, tau, residual, Q(residual)) at the current V from exact passes (3 passes when
            the iterations run in single precision, none otherwise)."""
            if not rows.single:
                return f, tau, res, Qr
            fe, te, re = value(V, exact=True)
            return fe, te, re, rows.q(re, exact=True)

        def check_here(it, extra):
            """check() at the current point, with exact values."""
            fc, tc, rc, Qc = exact_point()
            Vc = V
            return check(it, rc, Qc, fc, lambda: (tc[0] * (Vc[0] @ Vc[0].T), tc[1] * (Vc[1] @ Vc[1].T)), extra)

        V = self._bm_start(Qy, D, rank)
        f, tau, res = value(V)
        g, Qr = gradient(V, tau, res)
        mem = []                 # (s, y, 1 / <s, y>), newest last
        backtracks = 0
        warm_only = method == "bm-admm"
        bm_iters = self.BM_WARM_ITERS if warm_only else max_iters
        values = [f]
        no_descent = False
        for it in range(1, bm_iters + 1):
            state["it"] = it
            # two-loop recursion (pairs transported by projection; the direction is projected again)
            q = g.copy()
            alphas = []
            for s, yv, rho in reversed(mem):
                a = rho * float(np.vdot(s, q))
                alphas.append(a)
                q -= a * yv
            if mem:
                s, yv, _ = mem[-1]
                q *= float(np.vdot(s, yv)) / float(np.vdot(yv, yv))
            else:
                # first step (or after a reset): rows move by at most BM_FIRST_STEP
                q *= self.BM_FIRST_STEP / max(float(np.max(np.linalg.norm(g, axis=2))), 1e-300)
            for (s, yv, rho), a in zip(mem, reversed(alphas)):
                b = rho * float(np.vdot(yv, q))
                q += (a - b) * s
            d = -tangent(V, q)
            slope = float(np.vdot(g, d))
            if not slope < 0.0:
                mem = []
                d = -g * (self.BM_FIRST_STEP / max(float(np.max(np.linalg.norm(g, axis=2))), 1e-300))
                slope = float(np.vdot(g, d))
            step = 1.0
            while True:
                V_new = retract(V + step * d)
                f_new, tau_new, res_new = value(V_new)
                if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                    break
                backtracks += 1
                # minimizer of the quadratic through f, slope and f_new, kept in [0.1, 0.5] x step
                quad = -slope * step * step / (2.0 * (f_new - f - slope * step))
                step = min(max(quad, 0.1 * step), 0.5 * step)
            if not f_new <= f:
                # no decrease even at a tiny step (rounding level): restart from the gradient, or
                # stop if that was already the gradient step
                if not mem:
                    no_descent = True
                    break
                mem = []
                values.append(f)
                continue
            g_new, Qr_new = gradient(V_new, tau_new, res_new)
            s = tangent(V_new, step * d)
            yv = g_new - tangent(V_new, g)
            sy = float(np.vdot(s, yv))
            if sy > 1e-12 * float(np.linalg.norm(s)) * float(np.linalg.norm(yv)):
                mem.append((s, yv, 1.0 / sy))
                if len(mem) > self.BM_MEMORY:
                    mem.pop(0)
            V, f, tau, res, g, Qr = V_new, f_new, tau_new, res_new, g_new, Qr_new
            values.append(f)
            if warm_only:
                window = values[-1 - self.BM_STALL_WINDOW:]
                stalled = len(window) > self.BM_STALL_WINDOW and window[0] - f <= self.BM_STALL * abs(f)
                # (the wall clock too: the check after the loop then stops the run)
                if stalled or it == bm_iters or state["out_of_time"]():
                    break
            elif it % self.CHECK_EVERY_BM == 0 or it == bm_iters:
                if check_here(it, f"tau {tau[0]:.3g} {tau[1]:.3g}  |g| {np.linalg.norm(g):.2e}  bt {backtracks}"):
                    break
        facts = {"rank": rank, "bm_iterations": state["it"], "bm_passes": rows.passes, "backtracks": backtracks}
        if not warm_only and no_descent:
            # the loop ended early without a check (no descent left): the final point's bound
            check_here(state["it"], "no descent left")
        if warm_only:
            # one bound from the Burer-Monteiro point (so a zero ADMM budget still has one), then
            # ADMM from its primal matrices; the iteration budget counts the ADMM iterations
            f, tau, res, Qr = exact_point()
            warm = (tau[0] * (V[0] @ V[0].T), tau[1] * (V[1] @ V[1].T), res, Qr)
            state["it"] = 0
            if not check(0, res, Qr, f, lambda: (warm[0], warm[1]), f"bm {facts['bm_iterations']} its"):
                facts.update(self._run_admm(rows, y_loc, Qy, beta, D, max_iters, check, state, warm=warm))
        return facts
