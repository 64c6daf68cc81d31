"""A rigorous positive-semidefiniteness test for an interval matrix (proofs/rigorous_psd.md).

is_psd_rigorous(M_hat, E) accepts only if every symmetric M with |M - M_hat| <= E (elementwise) is
PSD: a floating-point Cholesky factorisation of a shifted matrix, with Demmel's a-posteriori bound
on its backward error. A rounding error can make a PSD matrix fail (then add margin), never make a
matrix that is not PSD pass.
"""
from __future__ import annotations

import math

import numpy as np

from .arith import SAFETY, TINY, U_ROUND, gamma


def cholesky_succeeds(A: np.ndarray):
    """Unblocked right-looking Cholesky in floating point. Returns R (upper, A ~ R^T R) or None
    when a pivot is not positive. Each entry is one inner product, so Demmel's bound applies:
    R^T R = A + dA, |dA| <= gamma_{D+1} |R^T| |R| (Higham Thm 10.3)."""
    D = A.shape[0]
    R = np.zeros_like(A)
    for k in range(D):
        pivot = A[k, k] - float(R[:k, k] @ R[:k, k])
        if not (pivot > 0.0) or not math.isfinite(pivot):
            return None
        R[k, k] = math.sqrt(pivot)
        if k + 1 < D:
            R[k, k + 1:] = (A[k, k + 1:] - R[:k, k] @ R[:k, k + 1:]) / R[k, k]
    return R


def psd_margin_needed(M_hat: np.ndarray, E: np.ndarray) -> float:
    """A shift s that suffices for the test below when M_hat is comfortably PSD."""
    D = M_hat.shape[0]
    return 2.0 * (gamma(D + 2) * float(np.abs(np.diag(M_hat)).sum()) + float(np.linalg.norm(E)))


def is_psd_rigorous(M_hat: np.ndarray, E: np.ndarray) -> tuple[bool, str]:
    """True only if every symmetric M with |M - M_hat| <= E (elementwise) is PSD. M_hat, E (D, D).

    Test: s = psd_margin_needed; if fl-Cholesky of A = fl(M_hat - s I) succeeds with R, then
    M_hat - s I + dA + dS >= 0 (dS: rounding of the shift, |dS| <= u |A_kk| on the diagonal), so
    M >= (s - |dA|_2 - |dS|_2 - |E|_2) I >= 0 whenever s >= gamma_{D+1} |R|_F^2 + u max|A_kk| + |E|_F.
    """
    D = M_hat.shape[0]
    if not np.all(np.isfinite(M_hat)) or not np.all(np.isfinite(E)):
        return False, "matrix is not finite"
    s = psd_margin_needed(M_hat, E)
    A = M_hat - s * np.eye(D)
    R = cholesky_succeeds(A)
    if R is None:
        lam = float(np.linalg.eigvalsh(M_hat)[0])
        return False, f"not PSD with margin {s:.3e} (approximate smallest eigenvalue {lam:.3e})"
    need = (gamma(D + 1) * float(np.sum(R * R)) + U_ROUND * float(np.abs(np.diag(A)).max())
            + float(np.linalg.norm(E))) * SAFETY + TINY
    if s >= need:
        return True, f"PSD (Cholesky with shift {s:.3e} >= error bound {need:.3e})"
    return False, f"shift {s:.3e} below the a-posteriori error bound {need:.3e}"


def is_psd_rigorous_batch(M_hat: np.ndarray, E: np.ndarray) -> np.ndarray:
    """is_psd_rigorous for a stack of matrices: M_hat, E (N, D, D) -> (N,) bool, entry i True only
    if every symmetric M with |M - M_hat[i]| <= E[i] is PSD. The same test as is_psd_rigorous
    (the same shift, the same unblocked Cholesky, entry by entry one inner product, so the same
    Demmel bound), vectorised over the stack; a failed pivot is replaced by 1 only to keep the
    arithmetic finite, and that matrix is refused."""
    M_hat = np.asarray(M_hat, float)
    E = np.asarray(E, float)
    N, D = M_hat.shape[0], M_hat.shape[1]
    ok = np.all(np.isfinite(M_hat), axis=(1, 2)) & np.all(np.isfinite(E), axis=(1, 2))
    if N == 0:
        return ok
    M_hat = np.where(ok[:, None, None], M_hat, 0.0)
    E = np.where(ok[:, None, None], E, 0.0)
    diag = np.abs(np.diagonal(M_hat, axis1=1, axis2=2))
    enorm = np.sqrt(np.sum(E * E, axis=(1, 2)))
    s = 2.0 * (gamma(D + 2) * diag.sum(1) + enorm)                 # psd_margin_needed, per matrix
    A = M_hat - s[:, None, None] * np.eye(D)[None]
    R = np.zeros_like(A)
    for k in range(D):
        col = R[:, :k, k]
        pivot = A[:, k, k] - np.einsum("nj,nj->n", col, col)
        good = (pivot > 0.0) & np.isfinite(pivot)
        ok &= good
        rkk = np.sqrt(np.where(good, pivot, 1.0))
        R[:, k, k] = rkk
        if k + 1 < D:
            R[:, k, k + 1:] = (A[:, k, k + 1:] - np.einsum("nj,njl->nl", col, R[:, :k, k + 1:])) / rkk[:, None]
    adiag = np.abs(np.diagonal(A, axis1=1, axis2=2)).max(1)
    need = (gamma(D + 1) * np.sum(R * R, axis=(1, 2)) + U_ROUND * adiag + enorm) * SAFETY + TINY
    return ok & (s >= need)
