"""The two certified numbers of a certificate (docs/math.md §4, §8; proofs/rigorous_psd.md):
an upper bound on the objective J(U, alpha) of a network and a lower bound on p*_inf from a dual
point by the scaling lemma. Both go through the loss, which supplies the rigorous loss-specific
parts (Loss.value_upper_bound, Loss.best_dual_scale, Loss.certified_dual_value).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..activations import Polynomial
from ..losses import Loss
from .arith import SAFETY, TINY, U_ROUND, down, gamma, up


ROW_BLOCK = 4096      # rows per block: extra memory O(block * (d + m)), never O(n * d)


def outputs_with_error(X: np.ndarray, act: Polynomial, U: np.ndarray, alpha: np.ndarray,
                       block_rows: int = ROW_BLOCK):
    """(yhat, err): the network outputs f(x_i) = sum_j alpha_j sigma(x_i^T u_j) computed in floating
    point, and err with |yhat_i - f(x_i)| <= err_i exactly. X (n, d), U (d, m), alpha (m,); (n,) each.
    Each stage carries an absolute error bound. Rows are independent: computed block by block."""
    n = X.shape[0]
    f = np.empty(n)
    ef = np.empty(n)
    for lo in range(0, n, block_rows):
        f[lo:lo + block_rows], ef[lo:lo + block_rows] = _outputs_block(
            np.asarray(X[lo:lo + block_rows], float), act, U, alpha)
    return f, ef


def _outputs_block(X: np.ndarray, act: Polynomial, U: np.ndarray, alpha: np.ndarray):
    # Every (rows, m) array below is updated in place (a block of a large network is hundreds of
    # MB, and a fresh temporary per operation was most of verify's time); each in-place step is the
    # same floating-point operation as the formula in its comment (products of two floats commute).
    d = X.shape[1]
    m = alpha.shape[0]
    a, b, c = act.a, act.b, act.c
    T = X @ U                                                # t_ij = x_i^T u_j
    eT = np.abs(X) @ np.abs(U)
    eT *= gamma(d)
    eT *= SAFETY
    eT += TINY                                               # eT = (gamma(d) |X||U|) SAFETY + TINY
    S = a * T
    S += b
    S *= T
    S += c                                                   # S = sigma(t_hat) = (a T + b) T + c
    # |sigma(t) - sigma(t_hat)| <= |t - t_hat| (|a| (2|t_hat| + eT) + |b|), plus 4 roundings in S:
    # eS = eT (|a| (2|T| + eT) + |b|) + gamma(4) ((|a| |T| + |b|) |T| + |c|)
    absT = np.abs(T, out=T)
    eS = 2 * absT
    eS += eT
    eS *= abs(a)
    eS += abs(b)
    eS *= eT
    del eT
    rounding = abs(a) * absT
    rounding += abs(b)
    rounding *= absT
    rounding += abs(c)
    rounding *= gamma(4)
    eS += rounding
    del rounding, absT, T
    eS *= SAFETY
    eS += TINY
    f = S @ alpha
    abs_alpha = np.abs(alpha)
    ef = (gamma(m) * (np.abs(S, out=S) @ abs_alpha) + eS @ abs_alpha) * SAFETY + TINY
    return f, ef


def objective_upper_bound(loss: Loss, X: np.ndarray, y: np.ndarray, act: Polynomial, U: np.ndarray,
                          alpha: np.ndarray, beta: float) -> float:
    """A float >= J(U, alpha) = L(f(X)) + beta |alpha|_1, exactly. X (n, d), y (n,), U (d, m), alpha (m,).
    May be inf (overflow): the caller refuses a non-finite bound."""
    m = alpha.shape[0]
    yhat, err = outputs_with_error(X, act, U, alpha)
    loss_bound = loss.value_upper_bound(yhat, err, y)
    l1 = float(np.abs(alpha).sum())
    # gamma(m + 2): the m-term sum and the product with beta; the final addition and the products
    # with (1 + gamma) are covered by the last factor (1 + 4u) and the two upward steps
    total = loss_bound + beta * l1 * (1 + gamma(m + 2))
    return up(up(total) * (1 + 4 * U_ROUND))


def _mantissas(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, E) int64 arrays with A = M * 2^E exactly (|M| < 2^53; frexp's mantissa times 2^53)."""
    mant, exp = np.frexp(np.asarray(A, float))
    return (mant * 2.0 ** 53).astype(np.int64), exp.astype(np.int64) - 53


def _row_integers(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(I, e): an object array I of Python ints (b, k) and int64 e (b,) with A[i] = I[i] * 2^e[i]
    exactly -- one exponent per row, so the integers stay as short as the row's spread allows."""
    M, E = _mantissas(A)
    E = np.where(M == 0, E.max(initial=0) if E.size else 0, E)      # zeros do not pull the exponent down
    e = E.min(axis=1) if A.shape[1] else np.zeros(A.shape[0], np.int64)
    shift = np.where(M == 0, 0, E - e[:, None])
    ints = M.astype(object)
    small = shift <= 9                     # 53 + 9 bits fit an int64: shift in numpy, exactly
    if np.all(small):
        ints = (M << shift).astype(object)
    else:
        ints[small] = (M[small] << shift[small]).astype(object)
        big = np.argwhere(~small)
        for i, k in big.tolist():
            ints[i, k] = int(M[i, k]) << int(shift[i, k])
    return ints, e


def _dyadic_sum(terms) -> Fraction:
    """sum_k v_k 2^e_k exactly, for (int v_k, int e_k) pairs."""
    if not terms:
        return Fraction(0)
    e0 = min(e for _, e in terms)
    total = sum(v << (e - e0) for v, e in terms)
    return Fraction(total << e0) if e0 >= 0 else Fraction(total, 1 << -e0)


def exact_objective(loss: Loss, X: np.ndarray, y: np.ndarray, act: Polynomial, U: np.ndarray,
                    alpha: np.ndarray, beta: float, block_rows: int = 1024) -> Fraction | None:
    """J(U, alpha) = L(f(X)) + beta |alpha|_1 exactly, in rational arithmetic (None when the loss has
    no exact rational value). Costs n*d*m Python integer products (about 0.1 us each) and n*m
    rational evaluations of sigma: the verifier uses it only when a claimed upper bound falls
    between J and the floating-point bound, a few ulps apart. Rows in blocks: the extra memory is
    O(block_rows * d) integers plus the n rational outputs."""
    U = np.asarray(U, float)
    m = U.shape[1] if U.ndim == 2 else 0
    alpha = np.asarray(alpha, float)
    # every float is dyadic, so each f(x_i) is an integer times a power of two: sigma and the sum
    # over neurons are done on (integer, exponent) pairs, with one Fraction per row at the end
    (am, bm, cm), (ea, eb, ec) = (v.tolist() for v in _mantissas(np.array([act.a, act.b, act.c])))
    lm, el = (v.tolist() for v in _mantissas(alpha))
    Ui, eu = _row_integers(U.T) if m else (np.zeros((0, X.shape[1]), dtype=object), np.zeros(0, np.int64))
    Ui, eu = Ui.T, eu.tolist()                              # (d, m): column j is u_j * 2^-eu[j]
    live = [j for j in range(m) if lm[j]]
    yhat = []
    for lo in range(0, X.shape[0], block_rows):
        Xi, ex = _row_integers(np.asarray(X[lo:lo + block_rows], float))
        T_int = Xi.dot(Ui) if Xi.size and Ui.size else np.zeros((Xi.shape[0], m), dtype=object)
        for row, e in zip(T_int.tolist(), ex.tolist()):
            terms = []                                      # (integer, exponent) summands of f(x_i)
            for j in live:
                T, k, L = int(row[j]), e + eu[j], lm[j]     # t_j = T 2^k, alpha_j = L 2^el[j]
                terms += [(L * am * T * T, el[j] + ea + 2 * k), (L * bm * T, el[j] + eb + k), (L * cm, el[j] + ec)]
            yhat.append(_dyadic_sum(terms))
    value = loss.exact_value(yhat, y)
    if value is None:
        return None
    return value + Fraction(float(beta)) * sum((abs(Fraction(v)) for v in alpha.tolist()), Fraction(0))


def scaled_dual_lower_bound(loss: Loss, w: np.ndarray, y: np.ndarray, rho_bar: float, beta: float,
                            scale: float | None = None) -> tuple[float | None, float]:
    """(LB, s): LB <= -L*(s w), with s * rho_bar <= beta exactly in rationals, so s w is dual
    feasible and LB <= p*_inf (scaling lemma, docs/math.md §4). w, y (n,).

    scale: the s to use (clipped to [0, beta / rho_bar]); by default the loss's best_dual_scale.
    LB is None when s w lies outside the domain of L* (no bound from this point).
    """
    w = np.asarray(w, float)
    y = np.asarray(y, float)
    smax = math.inf if rho_bar <= 0 else beta / rho_bar
    if scale is None:
        scale = loss.best_dual_scale(w, y, smax)
    s = min(max(float(scale), 0.0), smax)
    if not math.isfinite(s):          # NaN from an overflowing heuristic: s = 0 is always feasible
        s = 0.0
    if rho_bar > 0:
        F = Fraction
        while F(s) * F(rho_bar) > F(beta):
            s = down(s)
    return loss.certified_dual_value(w, y, s), s
