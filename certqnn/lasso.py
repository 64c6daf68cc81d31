"""The exact Lasso over a fixed set of atoms: min_a L(Phi a) + beta |a|_1 (docs/math.md §3, §7).

Atoms sigma(X u) are highly collinear (they live in a lifted space of dimension <= (p+1)(p+2)/2),
which makes coordinate descent crawl. The Lasso is solved by feature-sign search (an active set
method with fixed signs: exact KKT solves on the active atoms, line searches to the sign changes),
warm started from any point, and the result is checked against the KKT conditions; an interior
point QP (certqnn.qp) is the safety net should the search ever stop short. Atoms are then dropped
without changing the prediction or the l1 norm (Carathéodory reduction, docs/math.md §1), so the
returned alpha has at most rank + 1 nonzeros. The solution carries its own duality gap.

The loss enters through its model (Loss.model), and l1_fit is the one place that dispatches on it:
* "quadratic": L(v) = kappa/2 |v - t|^2 + const turns the problem into
  min a^T G a / 2 - c^T a + beta |a|_1  with G = kappa Phi^T Phi, c = kappa Phi^T t (feature sign);
* "smooth" (logistic, squared hinge, Huber): proximal Newton, each step the exact Lasso of the
  local quadratic model (feature sign again) and a backtracking line search on the true objective;
  the dual point is w = grad L(Phi a);
* "piecewise_linear" (hinge, absolute): the linear program min sum xi + beta |a|_1 with
  xi_i >= slope_ik (Phi a)_i + intercept_ik, solved by dual simplex (HiGHS); the dual point is the
  convex combination of the slopes given by the LP multipliers, which lies in the conjugate's
  domain by construction (a subgradient of L at Phi a that makes the dual feasible).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf, dpstrf, dtrtrs

from .gaps import dual_lower_bound
from .losses import Loss, SquaredLoss, master_model, quadratic_model
from .qp import l1_qp

_EPS = np.finfo(float).eps
_ROUND = 64 * _EPS          # relative size of the rounding error of one gradient entry, with room
_KKT_TOL = 1e-9             # refit falls back to the QP when the KKT residual exceeds this * beta


@dataclass
class LassoSolution:
    alpha: np.ndarray      # (m,)
    objective: float       # L(Phi alpha) + beta |alpha|_1
    lower_bound: float     # g(s w): a lower bound for the restricted problem
    gap: float             # objective - lower_bound
    w: np.ndarray | None = None   # (n,) the dual point behind lower_bound


def _solve_active(GA: np.ndarray, rhs: np.ndarray):
    """x with G_AA x = rhs by pivoted Cholesky (rank revealing: plain Cholesky's pivots can look
    healthy on a singular Gram matrix) plus one step of iterative refinement, so the KKT residual
    is at rounding level even when G_AA is ill-conditioned. None when G_AA is (numerically)
    singular: condition number beyond ~1e13, the eigenbasis threshold of feature_sign."""
    k = GA.shape[0]
    U, piv, rank, info = dpstrf(GA, tol=-1.0)
    if info < 0 or rank < k:
        return None
    pivots = np.abs(np.diag(U))
    if pivots[-1] ** 2 <= 1e-13 * pivots[0] ** 2:
        return None
    perm = piv - 1                                          # P^T G P = U^T U, Fortran indices

    def solve(b):
        z, _ = dtrtrs(U, b[perm], lower=0, trans=1)
        out = np.empty(k)
        out[perm], _ = dtrtrs(U, z, lower=0, trans=0)
        return out

    x = solve(rhs)
    return x + solve(rhs - GA @ x)


def feature_sign(G: np.ndarray, c: np.ndarray, beta: float, a0: np.ndarray | None = None,
                 max_steps: int | None = None) -> np.ndarray:
    """Exact minimiser of f(a) = a^T G a / 2 - c^T a + beta |a|_1 by feature-sign search
    (Lee, Battle, Raina, Ng 2007), started from a0 (default 0). G: (m, m) PSD, c: (m,).

    Each step fixes the signs theta of the active set A and solves the KKT system
    G_AA x = c_A - beta theta_A (Cholesky with refinement; in the eigenbasis when the active atoms
    are dependent). When x keeps the signs it is the exact minimiser on that face and is taken;
    otherwise the best point among the sign changes on the segment to x is, so f never increases.
    An atom enters when its |(G a - c)_j| exceeds beta by more than the rounding error of that
    entry. Returns a (m,)."""
    G = np.asarray(G, float)
    c = np.asarray(c, float)
    m = c.shape[0]
    a = np.zeros(m) if a0 is None else np.array(a0, float).reshape(m)
    if m == 0:
        return a
    max_steps = max_steps or 20 * m + 100
    tiny = 1e-300 + _ROUND * 1e-3 * beta
    # |G_ji| <= sqrt(G_jj G_ii) (G is PSD) bounds the terms of (G a)_j: the rounding error of
    # grad_j is at most ~ eps (norm_j max_i norm_i |a|_1 + |c_j|), in O(m) per step
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    err0 = _ROUND * (np.abs(c) + beta) + tiny

    def objective(x):
        A = np.flatnonzero(x)
        xa = x[A]
        return 0.5 * xa @ G[np.ix_(A, A)] @ xa - c[A] @ xa + beta * np.abs(xa).sum()

    force_enter = resolved = False
    for _ in range(max_steps):
        A0 = np.flatnonzero(a)
        grad = a[A0] @ G[A0] - c                      # = G a - c; rows of G are contiguous, columns are not
        err = err0 + (_ROUND * norms.max(initial=0.0) * float(np.abs(a[A0]).sum())) * norms
        theta = np.sign(a)
        active_ok = bool(np.all(np.abs(grad[A0] + beta * theta[A0]) <= err[A0]))
        # after one re-solve of the same face the residual is as small as rounding allows
        entering = force_enter or active_ok or resolved
        force_enter = resolved = False
        if entering:
            viol = np.abs(grad) - beta - err
            viol[A0] = -np.inf
            j = int(np.argmax(viol))
            if viol[j] <= 0:
                return a
            theta[j] = -np.sign(grad[j])
        A = np.flatnonzero(theta)
        GA = G[np.ix_(A, A)]
        cur = a[A]
        g = grad[A] + beta * theta[A]        # gradient of the smooth face function at cur
        d = _solve_active(GA, -g)
        exact_face = d is not None
        if d is None:
            # dependent (or nearly dependent) active atoms: work in the eigenbasis of G_AA
            lam, V = np.linalg.eigh(GA)
            null = lam <= 1e-13 * max(float(lam[-1]), 1e-300)
            if null.any():
                N = V[:, null]
                v = -N @ (N.T @ g)
                # along a null direction the prediction is fixed and f changes at rate -|N^T g|^2:
                # exchange atoms (move until the first coefficient reaches zero) if that descends
                if np.all(theta[A][cur == 0] * v[cur == 0] >= 0):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ts = np.where(cur * v < 0, -cur / v, np.inf)
                    if np.isfinite(ts.min()):
                        trial = a.copy()
                        trial[A] = cur + ts.min() * v
                        trial[A[int(np.argmin(ts))]] = 0.0
                        if objective(trial) < objective(a):
                            a = trial
                            continue
            # the smallest step to a minimiser of the face function (range part): for an entering
            # atom it points the right way, d_j theta_j = -g_j pinv(G_AA)_jj theta_j > 0
            inv = np.where(null, 0.0, 1.0 / np.where(null, 1.0, lam))
            d = -(V @ (inv * (V.T @ g)))
            d = d + V @ (inv * (V.T @ (-g - GA @ d)))                # one refinement step
        if exact_face and np.all(np.sign(cur + d) == theta[A]):
            # the minimiser of f on this face keeps its signs: it is the exact step
            a[A] = cur + d
            resolved = not entering
            continue
        step = _line_search(cur, d, float(grad[A] @ d), 0.5 * float(d @ GA @ d), beta)
        if step is None:
            if entering:
                return a                                  # no descent left: optimal to rounding
            force_enter = True                            # the active set is as good as rounding allows
            continue
        a[A] = step
    return a


def _line_search(cur: np.ndarray, d: np.ndarray, g_dir: float, curv: float, beta: float):
    """Best point among the sign changes on the segment cur + t d, t in (0, 1], and its end, or
    None when none descends beyond rounding. f(cur + t d) - f(cur) = t g_dir + t^2 curv +
    beta sum_i (|cur_i + t d_i| - |cur_i|) is evaluated term by term without the large common
    part |cur|_1, so descents far below eps * f are still seen (they matter for the KKT residual)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = np.where(cur * d < 0, -cur / d, np.inf)             # where coefficient i reaches zero
    cand = np.unique(np.concatenate([ts[(ts > 0) & (ts < 1)], [1.0]]))
    T = cand[:, None]
    s = np.where(cur != 0, np.sign(cur), np.sign(d))[None, :]
    crossed = T > ts[None, :]
    # |cur_i + t d_i| - |cur_i| = s_i t d_i before the crossing, -s_i (2 cur_i + t d_i) after
    dl1 = np.where(crossed, -s * (2 * cur[None, :] + T * d[None, :]), s * T * d[None, :]).sum(1)
    delta = cand * g_dir + cand ** 2 * curv + beta * dl1
    i = int(np.argmin(delta))
    noise = 16 * _EPS * (cand[i] * abs(g_dir) + cand[i] ** 2 * abs(curv)
                         + beta * (cand[i] * np.abs(d).sum() + 2 * np.abs(cur[ts < cand[i]]).sum()))
    if not delta[i] < -noise:
        return None
    new = cur + cand[i] * d
    new[ts == cand[i]] = 0.0                                  # the coefficients that reach zero here
    new[np.abs(new) <= 1e-15 * np.abs(new).max(initial=1.0)] = 0.0
    return new


def kkt_residual(G: np.ndarray, c: np.ndarray, beta: float, a: np.ndarray) -> float:
    """Largest violation of the Lasso optimality conditions, relative to beta:
    (G a - c)_j = -beta sign(a_j) where a_j != 0 and |(G a - c)_j| <= beta where a_j = 0."""
    grad = G @ a - c
    nz = a != 0
    act = np.abs(grad[nz] + beta * np.sign(a[nz])).max(initial=0.0)
    off = (np.abs(grad[~nz]) - beta).max(initial=0.0)
    return max(act, off, 0.0) / beta


def _householder_null(q: np.ndarray) -> np.ndarray:
    """Orthonormal basis (r, r-1) of {h : q^T h = 0} for q of shape (r,)."""
    r = q.shape[0]
    v = q / np.linalg.norm(q)
    v = v.copy()
    v[0] += 1.0 if v[0] >= 0 else -1.0
    H = np.eye(r) - 2.0 * np.outer(v, v) / (v @ v)     # reflector mapping q to a multiple of e_1
    return H[:, 1:]


def _no_null_vector(gram: np.ndarray, level: float) -> bool:
    """Whether every eigenvalue of gram (k, k; upper triangle) exceeds level, by one Cholesky of
    gram - level I (a copy; k^3 / 3 flops against the eigensolver's ~10 k^3). With level >= the
    eigensolver's threshold (the trace bounds the largest eigenvalue), True means the search for
    null vectors would find none -- the common case of fewer atoms than rows."""
    shifted = np.array(gram, order="F")
    shifted[np.diag_indices_from(shifted)] -= level
    _, info = dpotrf(shifted, lower=0, clean=0, overwrite_a=1)
    return info == 0


_CARATHEODORY_BLOCK = 1024   # rows of Phi per block of the Gram matrix below (a copy of b x k)


def caratheodory_reduce(Phi: np.ndarray | None, alpha: np.ndarray, tol: float = 1e-7,
                        outputs_gram: np.ndarray | None = None) -> np.ndarray:
    """Remove atoms while keeping Phi alpha and |alpha|_1 fixed: move along v with Phi_S v = 0,
    sign_S^T v = 0 until a coefficient reaches 0 (signs never flip, so the l1 norm is linear).
    One eigendecomposition gives the null space; each removal updates it by a reflector.
    outputs_gram: Phi_S^T Phi_S (k, k) of the k atoms with a nonzero weight, in their order, when
    the caller has it (Phi is not read then, and the array is overwritten)."""
    alpha = alpha.copy()
    S = np.flatnonzero(alpha)
    if S.size <= 1:
        return alpha
    # null(A) = null(A^T A) for A = [Phi_S; sign_S^T], with columns normalised first so the
    # threshold is scale-free. k reaches thousands on large data, so one k x k matrix is held: the
    # upper triangle of A^T A accumulated in place by rank updates (syrk) over row blocks (no copy
    # of Phi_S, n x k), scaled in place, and overwritten by the eigensolver (MRRR: O(k) workspace)
    sign = np.sign(alpha[S])
    if outputs_gram is not None:
        gram = outputs_gram
        for lo in range(0, S.size, _CARATHEODORY_BLOCK):             # + sign sign^T, in place
            gram[lo:lo + _CARATHEODORY_BLOCK] += np.outer(sign[lo:lo + _CARATHEODORY_BLOCK], sign)
    else:
        gram = np.asfortranarray(np.outer(sign, sign))
        for lo in range(0, Phi.shape[0], _CARATHEODORY_BLOCK):
            block = Phi[lo:lo + _CARATHEODORY_BLOCK, S]
            a, trans = (block, 1) if block.flags.f_contiguous else (block.T, 0)  # A^T A = a^T a or a a^T
            gram = dsyrk(1.0, a, beta=1.0, c=gram, trans=trans, lower=0, overwrite_c=1)
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    scale = np.where(norms > 0, norms, 1.0)
    gram /= scale[:, None]
    gram /= scale[None, :]
    if _no_null_vector(gram, (tol ** 2) * max(float(np.trace(gram)), 1e-300) * S.size):
        return alpha
    vals, vecs = eigh(gram, lower=False, overwrite_a=True, check_finite=False)
    del gram
    N = vecs[:, vals <= (tol ** 2) * max(vals[-1], 1e-300) * S.size]
    N = N / np.where(norms > 0, norms, 1.0)[:, None]      # back to the original scaling
    if N.shape[1]:
        N, _ = np.linalg.qr(N)
    coef = alpha[S]
    while N.shape[1] > 0 and S.size > 1:
        v = N[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(np.abs(v) > 1e-14, -coef / v, np.inf)
        pos = ratios[(ratios > 0) & np.isfinite(ratios)]
        if pos.size == 0:
            break
        coef = coef + pos.min() * v
        j = int(np.argmin(np.abs(coef)))
        q = N[j]
        N = N @ _householder_null(q) if N.shape[1] > 1 and np.linalg.norm(q) > 1e-15 else (N[:, 1:] if np.linalg.norm(q) > 1e-15 else N)
        N = np.delete(N, j, axis=0)
        coef = np.delete(coef, j)
        S = np.delete(S, j)
    out = np.zeros_like(alpha)
    out[S] = coef
    return out


def refit(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss | None = None,
          alpha0: np.ndarray | None = None, reduce: bool = True) -> LassoSolution:
    """Minimise L(Phi alpha) + beta |alpha|_1 over alpha in R^m; Phi (n, m), y (n,).

    alpha0 (m,): warm start of the feature-sign search (e.g. the previous round's weights padded
    with zeros); the optimum does not depend on it. reduce: drop atoms by Carathéodory reduction."""
    loss = loss or SquaredLoss()
    Phi = np.asarray(Phi, float)
    y = np.asarray(y, float)
    n, m = Phi.shape
    if m == 0:
        obj = loss.value(np.zeros(n), y)
        return LassoSolution(np.zeros(0), obj, obj, 0.0)

    def obj(a):
        return loss.value(Phi @ a, y) + beta * float(np.abs(a).sum())

    def reduced(a):
        # the null directions are numerical: accept the reduction only if J does not move
        r = caratheodory_reduce(Phi, a) if reduce else a
        return r if obj(r) <= obj(a) + 1e-13 * max(1.0, abs(obj(a))) else a

    start = np.zeros(m)
    if alpha0 is not None:
        start = np.array(alpha0, float).reshape(m)
        # a dense warm start (e.g. a Frank-Wolfe iterate) on dependent atoms: same value, fewer atoms
        if np.count_nonzero(start) > 1:
            start = reduced(start)
    model = master_model(loss, y)
    if model in ("quadratic", None):                   # None: quadratic_model names the loss
        kappa, t, _ = quadratic_model(loss, y, "the Lasso master")
        G = kappa * (Phi.T @ Phi)
        c = kappa * (Phi.T @ t)
        alpha = feature_sign(G, c, beta, start)
        if kkt_residual(G, c, beta, alpha) > _KKT_TOL:
            # safety net: an interior point, sparsified, then the same exact search from there
            qp = l1_qp(G, c, beta)
            qp[np.abs(qp) * np.sqrt(np.diag(G)) <= 1e-12 * max(1.0, float(np.abs(c).sum()))] = 0.0
            alpha = min([alpha, feature_sign(G, c, beta, reduced(qp))], key=obj)
        w = None
    else:
        alpha, w = l1_fit(Phi, y, beta, loss, start)
    alpha = reduced(alpha)
    value = obj(alpha)
    if w is None or model == "smooth":
        w = loss.gradient(Phi @ alpha, y)
    rho = float(np.max(np.abs(Phi.T @ w)))
    lb = dual_lower_bound(loss, w, y, rho, beta)
    return LassoSolution(alpha, value, lb, value - lb, w)


def l1_fit(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss, a0: np.ndarray | None = None,
           G: np.ndarray | None = None, c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, w): a minimiser alpha (m,) of L(Phi alpha) + beta |alpha|_1 and the dual point w (n,)
    that prices atoms, for any loss model (see the module docstring). Phi (n, m), y (n,); a0 (m,) a
    warm start; G, c: the quadratic model's Gram data when the caller keeps them (quadratic only)."""
    Phi = np.asarray(Phi, float)
    n, m = Phi.shape
    a0 = np.zeros(m) if a0 is None else np.asarray(a0, float).reshape(m)
    if m == 0:
        return np.zeros(0), loss.gradient(np.zeros(n), y)
    model = master_model(loss, y)
    if model in ("quadratic", None):
        if G is None or c is None:
            kappa, t, _ = quadratic_model(loss, y, "the Lasso master")
            G, c = kappa * (Phi.T @ Phi), kappa * (Phi.T @ t)
        alpha = feature_sign(G, c, beta, a0)
        return alpha, loss.gradient(Phi @ alpha, y)
    if model == "smooth":
        alpha = prox_newton(Phi, y, beta, loss, a0)
        return alpha, loss.gradient(Phi @ alpha, y)
    return l1_lp(Phi, y, beta, loss)


def prox_newton(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss, a0: np.ndarray,
                max_iter: int = 200, tol: float = 1e-11) -> np.ndarray:
    """Minimise F(a) = L(Phi a) + beta |a|_1 for a smooth convex loss by proximal Newton: at a, the
    model L + grad^T Phi d + d^T H d / 2 with H = Phi^T diag(l'') Phi + mu I (mu > 0 keeps the model
    bounded where l'' vanishes, e.g. Huber's linear parts) is minimised exactly by feature sign;
    the step is damped by Armijo backtracking on F. Any H > 0 has the same fixed points (the
    KKT points of F), so the iteration stops when the KKT residual is <= tol * beta."""
    a = np.array(a0, float)
    m = a.shape[0]
    col = float(np.einsum("ij,ij->", Phi, Phi)) / max(m, 1)
    mu = 1e-9 * max(col, 1e-300)

    def F(x):
        return loss.value(Phi @ x, y) + beta * float(np.abs(x).sum())

    def kkt(x):
        # kkt_residual with G = 0 and c = -Phi^T grad L(Phi x): the same conditions for any loss
        g = Phi.T @ loss.gradient(Phi @ x, y)
        nz = x != 0
        act = np.abs(g[nz] + beta * np.sign(x[nz])).max(initial=0.0)
        return max(act, (np.abs(g[~nz]) - beta).max(initial=0.0), 0.0) / beta

    f, res = F(a), kkt(a)
    for _ in range(max_iter):
        if res <= tol:
            break
        yhat = Phi @ a
        grad = Phi.T @ loss.gradient(yhat, y)
        h = loss.curvature(yhat, y)
        H = Phi.T @ (h[:, None] * Phi) + mu * np.eye(m)
        target = feature_sign(H, H @ a - grad, beta, a)
        d = target - a
        descent = float(grad @ d) + beta * (float(np.abs(target).sum()) - float(np.abs(a).sum()))
        trial = None
        if descent < 0:
            t = 1.0
            for _ in range(60):
                cand = target if t == 1.0 else a + t * d       # the full step keeps the model's exact zeros
                if F(cand) <= f + 1e-4 * t * descent:
                    trial = cand
                    break
                t *= 0.5
        if trial is None:
            # near the optimum the predicted decrease is below the rounding of F and Armijo cannot
            # see it; the full Newton step is then judged by the optimality residual instead
            if kkt(target) < res:
                trial = target
            else:
                break
        a = trial
        f, res = F(a), kkt(a)
    return a


def l1_lp(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, w) for a piecewise-linear loss l_i(t) = max_k s_ik t + b_ik (loss.pieces): the LP
    min beta 1^T (a+ + a-) + 1^T xi  s.t.  s_ik Phi_i (a+ - a-) - xi_i <= -b_ik,  a+- >= 0, by dual
    simplex. Its multipliers lambda_ik >= 0 sum to 1 over k (stationarity in xi_i) and
    |Phi^T w| <= beta with w_i = sum_k lambda_ik s_ik (stationarity in a+-): w is the LP dual point,
    clipped into [min_k s_ik, max_k s_ik], the domain of l_i*."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, hstack, kron, identity

    n, m = Phi.shape
    S, B = loss.pieces(y)
    K = S.shape[1]
    # columns scaled to max |entry| 1 (a' = c a, cost beta / c): the LP solver sees moderate
    # coefficients whatever the scale of the atoms; |Phi'^T w| <= beta / c is |Phi^T w| <= beta
    col = np.abs(Phi).max(axis=0)
    col = np.where(np.isfinite(col) & (col > 0), col, 1.0)
    Phi = Phi / col
    rows = (S[:, :, None] * Phi[:, None, :]).reshape(n * K, m)     # row (i, k): s_ik Phi_i
    xi_part = -kron(identity(n, format="csr"), np.ones((K, 1)), format="csr")
    A = hstack([csr_matrix(rows), csr_matrix(-rows), xi_part], format="csr")
    cost = np.concatenate([beta / col, beta / col, np.ones(n)])
    bounds = [(0, None)] * (2 * m) + [(None, None)] * n
    res = linprog(cost, A_ub=A, b_ub=-B.reshape(-1), bounds=bounds, method="highs-ds",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x is None:
        from .errors import SolverError
        raise SolverError(f"the linear program of the {loss.name} master failed: {res.message}")
    alpha = (res.x[:m] - res.x[m:2 * m]) / col
    lam = np.clip(-np.asarray(res.ineqlin.marginals, float).reshape(n, K), 0.0, None)
    tot = lam.sum(1, keepdims=True)
    lam = np.where(tot > 0, lam / np.where(tot > 0, tot, 1.0), 1.0 / K)
    w = np.clip((lam * S).sum(1), S.min(1), S.max(1))
    alpha[np.abs(alpha) <= 1e-14 * max(1.0, float(np.abs(alpha).max(initial=0.0)))] = 0.0
    return alpha, w




