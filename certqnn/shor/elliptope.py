"""The inner problem of the Shor bound on a D x D matrix (docs/math.md §5, §12):

    lambda_E(Q) = max { <Q, Y> : Y >= 0, diag(Y) = 1 } = min { 1^T z : Diag(z) - Q >= 0 }

(the max-cut SDP and its dual). `elliptope_bound(Q)` returns z with Diag(z) - Q positive definite
and 1^T z <= lambda_E(Q) + tol * |lambda_E(Q)|: the diagonal that certifies rho_bar for the
scaling lemma, computed by a log-barrier (interior-point) method on the D variables z. Each Newton
step costs two Cholesky factorizations of D x D matrices; the data (n rows) is never touched.

Barrier: phi_eta(z) = 1^T z - eta log det(Diag(z) - Q). Its minimizer z_eta has
1^T z_eta - lambda_E(Q) <= D eta (Y = eta (Diag(z_eta) - Q)^{-1} is feasible for the max-cut SDP
with duality gap <eta I, Diag(z_eta) - Q>... = D eta), so the path is followed until D eta is below
the tolerance. Only strictly feasible z are ever returned; a caller still proves the PSD
condition rigorously (certqnn.trusted.psd) before using 1^T z.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, LinAlgError


def _factor(z: np.ndarray, Q: np.ndarray):
    try:
        return cho_factor(np.diag(z) - Q, lower=True, check_finite=False)
    except LinAlgError:
        return None


def elliptope_bound(Q: np.ndarray, rel_tol: float = 1e-9, max_newton: int = 400,
                    z0: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """z (D,) with Diag(z) - Q > 0 and 1^T z within rel_tol of lambda_E(Q); Q symmetric (D, D).

    z0: an optional strictly feasible start (e.g. the last call's answer for a nearby Q).
    Returns (z, facts) with facts = {"newton": steps, "gap": D * eta at the end (the proven
    suboptimality of 1^T z up to the centering accuracy)}.
    """
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    D = Q.shape[0]
    scale = float(np.abs(Q).max()) or 1.0
    if z0 is not None and _factor(np.asarray(z0, float), Q) is not None:
        z = np.array(z0, float)
    else:
        # z = lambda_max(Q) + margin is strictly feasible
        z = np.full(D, np.linalg.eigvalsh(Q)[-1] + 1e-3 * scale)
    eta = max(abs(z.sum()), scale) / D
    newton = 0
    while True:
        for _ in range(60):
            fac = _factor(z, Q)
            R = cho_solve(fac, np.eye(D), check_finite=False)
            grad = 1.0 - eta * np.diag(R)
            hess = eta * R * R
            try:
                step = -cho_solve(cho_factor(hess, lower=True, check_finite=False), grad, check_finite=False)
            except LinAlgError:
                step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
            decrement = float(-grad @ step)
            newton += 1
            value = z.sum() - 2 * eta * np.log(np.diag(fac[0])).sum()
            t = 1.0
            while t > 1e-14:
                trial = z + t * step
                fac_t = _factor(trial, Q)
                if fac_t is not None:
                    trial_value = trial.sum() - 2 * eta * np.log(np.diag(fac_t[0])).sum()
                    if trial_value <= value - 0.25 * t * decrement:
                        break
                t *= 0.5
            else:
                break
            z = trial
            if decrement < 1e-2 * eta or newton >= max_newton:
                break
        total = abs(z.sum())
        if D * eta <= rel_tol * max(total, 1e-12 * scale) or newton >= max_newton:
            return z, {"newton": newton, "gap": D * eta}
        eta *= 0.1
