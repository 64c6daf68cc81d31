"""QuantizedNetwork: f(x) = sum_j alpha_j sigma(x^T u_j) with u_j on the quantization grid."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Polynomial

ROW_BLOCK = 4096      # rows per block: the (block, m) hidden layer instead of an (n, m) one


def network_outputs(X: np.ndarray, activation: Polynomial, U: np.ndarray, alpha: np.ndarray,
                    block_rows: int = ROW_BLOCK) -> np.ndarray:
    """f(x_i) = sum_j alpha_j sigma(x_i^T u_j) for the rows of X (n, d); U (d, m), alpha (m,).
    Rows are independent, so they go block by block: on large data a network of a thousand
    neurons would otherwise hold n x m hidden outputs (and their temporaries) at once."""
    X = np.asarray(X, float)
    out = np.empty(X.shape[0])
    for lo in range(0, X.shape[0], block_rows):
        out[lo:lo + block_rows] = activation(X[lo:lo + block_rows] @ U) @ alpha
    return out


@dataclass(frozen=True, eq=False)
class QuantizedNetwork:
    """U: (d, m) first-layer weights (entries in the level set); alpha: (m,) output weights."""

    U: np.ndarray
    alpha: np.ndarray

    def __post_init__(self):
        U = np.array(self.U, dtype=float)
        alpha = np.array(self.alpha, dtype=float).ravel()
        if U.ndim == 1:
            U = U[:, None]
        if U.ndim != 2 or U.shape[1] != alpha.shape[0]:
            raise ValueError(f"network: U must be (d, m) and alpha (m,), got {U.shape} and {alpha.shape}")
        object.__setattr__(self, "U", U)
        object.__setattr__(self, "alpha", alpha)

    @property
    def width(self) -> int:
        return self.alpha.shape[0]

    def predict(self, X: np.ndarray, activation: Polynomial) -> np.ndarray:
        """f(X), shape (n,), for X of shape (n, d)."""
        return network_outputs(X, activation, self.U, self.alpha)

    def pruned(self) -> "QuantizedNetwork":
        """Drop neurons with alpha_j = 0 and merge duplicate neurons (same u: alphas add)."""
        keep = self.alpha != 0
        U, alpha = self.U[:, keep], self.alpha[keep]
        if U.shape[1] == 0:
            return QuantizedNetwork(np.zeros((self.U.shape[0], 0)), np.zeros(0))
        uniq, inverse = np.unique(U.T, axis=0, return_inverse=True)
        merged = np.zeros(uniq.shape[0])
        np.add.at(merged, inverse.ravel(), alpha)
        keep = merged != 0
        return QuantizedNetwork(uniq[keep].T, merged[keep])

    def __repr__(self):
        return f"QuantizedNetwork(d={self.U.shape[0]}, width={self.width})"
