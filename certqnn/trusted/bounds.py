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


def outputs_with_error(X: np.ndarray, act: Polynomial, U: np.ndarray, alpha: np.ndarray):
    """(yhat, err): the network outputs f(x_i) = sum_j alpha_j sigma(x_i^T u_j) computed in floating
    point, and err with |yhat_i - f(x_i)| <= err_i exactly. X (n, d), U (d, m), alpha (m,); (n,) each.
    Each stage carries an absolute error bound."""
    d = X.shape[1]
    m = alpha.shape[0]
    a, b, c = act.a, act.b, act.c
    T = X @ U                                                # t_ij = x_i^T u_j
    eT = (gamma(d) * (np.abs(X) @ np.abs(U))) * SAFETY + TINY
    S = (a * T + b) * T + c                                  # sigma(t_hat)
    # |sigma(t) - sigma(t_hat)| <= |t - t_hat| (|a| (2|t_hat| + eT) + |b|), plus 4 roundings in S
    eS = eT * (abs(a) * (2 * np.abs(T) + eT) + abs(b)) + gamma(4) * ((abs(a) * np.abs(T) + abs(b)) * np.abs(T) + abs(c))
    eS = eS * SAFETY + TINY
    f = S @ alpha
    ef = (gamma(m) * (np.abs(S) @ np.abs(alpha)) + eS @ np.abs(alpha)) * SAFETY + TINY
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


def _dyadic(A: np.ndarray) -> tuple[np.ndarray, int]:
    """(I, e) with A = I * 2^-e exactly: I an object array of Python ints (every float is dyadic)."""
    flat = [Fraction(float(v)) for v in np.asarray(A, float).ravel()]
    e = max((q.denominator.bit_length() - 1 for q in flat), default=0)
    ints = [q.numerator << (e - (q.denominator.bit_length() - 1)) for q in flat]
    return np.array(ints, dtype=object).reshape(np.shape(A)), e


def exact_objective(loss: Loss, X: np.ndarray, y: np.ndarray, act: Polynomial, U: np.ndarray,
                    alpha: np.ndarray, beta: float) -> Fraction | None:
    """J(U, alpha) = L(f(X)) + beta |alpha|_1 exactly, in rational arithmetic (None when the loss has
    no exact rational value). Costs about n*d*m Python integer products: the verifier uses it only
    when a claimed upper bound falls between J and the floating-point bound, a few ulps apart."""
    Xi, ex = _dyadic(X)
    Ui, eu = _dyadic(U)
    T_int = Xi.dot(Ui) if Xi.size and Ui.size else np.zeros((X.shape[0], U.shape[1]), dtype=object)
    den = 1 << (ex + eu)
    a, b, c = (Fraction(float(v)) for v in (act.a, act.b, act.c))
    al = [Fraction(float(v)) for v in np.asarray(alpha, float)]
    yhat = []
    for row in T_int:
        total = Fraction(0)
        for t_num, aj in zip(row, al):
            if aj:
                t = Fraction(int(t_num), den)
                total += aj * ((a * t + b) * t + c)
        yhat.append(total)
    value = loss.exact_value(yhat, y)
    if value is None:
        return None
    return value + Fraction(float(beta)) * sum((abs(v) for v in al), Fraction(0))


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
