"""The semidefinite lifting of docs/math.md §5, on a binary design Xb of shape (n, p) (p = d*B).

u~ = (u, 1) in R^{p+1};  M(x) = [[a x x^T, (b/2) x], [(b/2) x^T, c]];
sigma(x^T u) = <M(x), u~ u~^T>;  A(Z)_i = <M(x_i), Z>;  Q(w) = A^*(w) = sum_i w_i M(x_i).
"""
from __future__ import annotations

import numpy as np

from .activations import Polynomial


def q_matrix(Xb: np.ndarray, act: Polynomial, w: np.ndarray) -> np.ndarray:
    """Q(w), shape (p+1, p+1), for Xb (n, p) and w (n,)."""
    Xb = np.asarray(Xb, float)
    w = np.asarray(w, float)
    p = Xb.shape[1]
    Q = np.empty((p + 1, p + 1))
    Q[:p, :p] = act.a * (Xb.T * w) @ Xb
    Q[:p, p] = Q[p, :p] = 0.5 * act.b * (Xb.T @ w)
    Q[p, p] = act.c * w.sum()
    return 0.5 * (Q + Q.T)


def apply_lifted(Xb: np.ndarray, act: Polynomial, Z: np.ndarray) -> np.ndarray:
    """A(Z), shape (n,), for a symmetric Z of shape (p+1, p+1)."""
    p = Xb.shape[1]
    Z = np.asarray(Z, float)
    quad = np.einsum("ij,jk,ik->i", Xb, Z[:p, :p], Xb, optimize=True)
    return act.a * quad + act.b * (Xb @ Z[:p, p]) + act.c * Z[p, p]


def neuron_outputs(Xb: np.ndarray, act: Polynomial, S: np.ndarray) -> np.ndarray:
    """Atoms phi_s = sigma(Xb s) for the columns of S (p, m): shape (n, m)."""
    return act(np.asarray(Xb, float) @ np.asarray(S, float).reshape(Xb.shape[1], -1), overwrite=True)


def lifted_point(S: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Z = sum_j weights_j s~_j s~_j^T for S (p, m) with +-1 columns: shape (p+1, p+1)."""
    S = np.asarray(S, float)
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    return (St * np.asarray(weights, float)) @ St.T
