"""Certified upper bounds rho_bar >= max_s |s~^T Q(w) s~| (docs/math.md §5, §6; proofs/lifting.md,
proofs/shor_bound.md, proofs/triangle_cuts.md).

Q(w) is formed in floating point with an elementwise error bound; rho_bar then comes either from a
Shor certificate (two diagonals z+, z- with optional triangle cuts, checked by the rigorous PSD
test) or from exact enumeration of the 2^p sign vectors with a bound on the evaluation's rounding.
"""
from __future__ import annotations

import math

import numpy as np

from ..activations import Polynomial
from ..limits import VERIFY_EXACT_MAX_DIM
from ..triangles import validate as validate_cuts, weighted_sum as triangle_sum
from .arith import SAFETY, TINY, U_ROUND, gamma, up
from .enumerate import enumerate_extremes
from .psd import is_psd_rigorous


ROW_BLOCK = 4096      # rows per block: the extra memory is a few block x p arrays, not n x p


def q_matrix_with_error(Xb: np.ndarray, act: Polynomial, w: np.ndarray, block_rows: int = ROW_BLOCK,
                        levels=None):
    """(Q_hat, E) with |Q_hat - Q(w)| <= E elementwise; Q(w) = sum_i w_i M(x_i), shape (p+1, p+1).
    Xb (n, p) binary design, w (n,). Summed over blocks of block_rows rows: every entry is still
    one n-term sum (in another order), which the gamma(n + .) bounds cover whatever the order.

    levels: a certqnn.quantization.Levels; then Xb is the raw X (n, d) and each block is expanded
    to the binary design (p = d * bits) on the fly, entry for entry the same floats as
    problem.binary_design(), without holding the n x p design."""
    n = Xb.shape[0]
    p = Xb.shape[1] * (levels.n_bits if levels is not None else 1)
    w = np.asarray(w, float)
    G = np.zeros((p, p))
    Ga = np.zeros((p, p))
    v = np.zeros(p)
    va = np.zeros(p)
    for lo in range(0, n, block_rows):
        B = np.asarray(Xb[lo:lo + block_rows], float)
        if levels is not None:
            B = levels.expand(B)
        wb = w[lo:lo + block_rows]
        Ba = np.abs(B)
        wa = np.abs(wb)
        G += (B.T * wb) @ B
        Ga += (Ba.T * wa) @ Ba
        v += B.T @ wb
        va += Ba.T @ wa
    Q = np.empty((p + 1, p + 1))
    E = np.empty((p + 1, p + 1))
    Q[:p, :p] = act.a * G
    # gamma(n + 5): n-term sums, the products x w and a(.), plus one rounding in each of the two
    # expanded entries x~ = fl(c_l x) (docs/math.md §2), so non-power-of-two level scales are covered too
    E[:p, :p] = abs(act.a) * Ga * gamma(n + 5)
    Q[:p, p] = Q[p, :p] = 0.5 * act.b * v
    E[:p, p] = E[p, :p] = abs(0.5 * act.b) * va * gamma(n + 3)
    Q[p, p] = act.c * math.fsum(w)
    E[p, p] = abs(act.c) * float(np.abs(w).sum()) * gamma(n + 2)
    Q = 0.5 * (Q + Q.T)   # exact: both triangles were computed identically up to order; keep bound
    E = (E + U_ROUND * np.abs(Q)) * SAFETY + TINY
    return Q, E


def shor_side_matrix(Q: np.ndarray, E: np.ndarray, z, sign: float, cuts=None, mu=None):
    """(M_hat, E_M): M = Diag(z) - sum_T mu_T E_T - sign Q(w) in floating point, and an elementwise
    bound |M_hat - M| <= E_M given |Q_hat - Q| <= E (proofs/rigorous_psd.md, proofs/triangle_cuts.md)."""
    D = Q.shape[0]
    T = np.zeros((D, D))
    ET = 0.0
    if cuts is not None and len(cuts):
        T = triangle_sum(cuts, mu, D)
        # each entry sums <= len(cuts) exact terms +-mu/2
        ET = gamma(len(cuts) + 1) * 0.5 * float(np.sum(mu)) * SAFETY
    M = np.diag(z) - T - sign * Q
    EM = E + ET + gamma(2) * (np.diag(np.abs(z)) + np.abs(T) + np.abs(Q))
    return M, EM * SAFETY + TINY


def shor_rho_bound(Q: np.ndarray, E: np.ndarray, z_plus, z_minus, cuts_plus=None, mu_plus=None,
                   cuts_minus=None, mu_minus=None) -> tuple[float | None, str]:
    """rho_bar = max(1^T z+ + 1^T mu+, 1^T z- + 1^T mu-) (rounded up) if
    Diag(z+) - sum mu+ E_T - Q >= 0 and Diag(z-) - sum mu- E_T + Q >= 0 (plain Shor: no cuts).
    Returns (None, reason) when a check fails."""
    msgs = []
    total = []
    D = Q.shape[0]
    for name, z, sign, cuts, mu in (("z_plus", z_plus, 1.0, cuts_plus, mu_plus),
                                    ("z_minus", z_minus, -1.0, cuts_minus, mu_minus)):
        z = np.asarray(z, float)
        if z.shape != (D,) or not np.all(np.isfinite(z)):
            return None, f"{name} must be a finite vector of length {D}"
        if cuts is not None and len(cuts):
            cuts = np.asarray(cuts)
            mu = np.asarray(mu, float)
            bad = validate_cuts(cuts, D)
            if bad is not None:
                return None, f"cuts for {name}: {bad}"
            if mu.shape != (cuts.shape[0],) or not np.all(np.isfinite(mu)) or np.any(mu < 0):
                return None, f"multipliers for {name} must be {cuts.shape[0]} finite numbers >= 0"
        else:
            cuts, mu = None, np.zeros(0)
        M, EM = shor_side_matrix(Q, E, z, sign, cuts, mu)
        ok, why = is_psd_rigorous(M, EM)
        if not ok:
            return None, f"Diag({name}) {'-' if sign > 0 else '+'} Q(w): {why}"
        msgs.append(f"{name}: {why}" + (f" with {len(mu)} triangle cuts" if len(mu) else ""))
        total.append(up(math.fsum(np.concatenate([z, mu]))))
    return max(total), "; ".join(msgs)


def exact_rho_bound(Q: np.ndarray, E: np.ndarray, even: bool) -> tuple[float | None, str]:
    """rho_bar >= max_s |s~^T Q s~| by enumeration, with the rounding of the evaluation bounded
    by gamma_{D^2+2D+2} sum|Q_hat| and the error of Q_hat itself by sum E. Refused (None, reason)
    beyond VERIFY_EXACT_MAX_DIM."""
    p = Q.shape[0] - 1
    if p > VERIFY_EXACT_MAX_DIM:
        return None, f"exact check refused: 2^{p} sign vectors exceed the verifier's limit p <= {VERIFY_EXACT_MAX_DIM}"
    ext = enumerate_extremes(Q, even=even)
    D = p + 1
    err = (gamma(D * D + 2 * D + 2) * float(np.abs(Q).sum()) + float(E.sum())) * SAFETY + TINY
    return up(ext.rho + err), f"enumerated {ext.evaluated} sign vectors, rounding bound {err:.3e}"
