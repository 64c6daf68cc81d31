"""Row sources: the binary design Xb (n, p) read in fixed-size row blocks (docs/math.md §5, §12).

Every scalable method touches the data only through two "passes" over the rows,

    Q(w) = A^*(w) = sum_i w_i M(x~_i)           (p+1, p+1)   RowSource.q_matrix(w)
    A(Z)_i = <M(x~_i), Z>                        (n,)         RowSource.apply_lifted(Z)

with M(x~) = [[a x~ x~^T, (b/2) x~], [(b/2) x~^T, c]] (certqnn.lifting). A RowSource computes them
block by block: it reads `block_rows` rows of the raw features X (n, d) at a time, expands them to
the binary design x~ = [c_1 x, ..., c_B x] (p = d*B, certqnn.quantization.Levels.expand) and
accumulates in float64, so no more than one block of derived data (block_rows x p doubles) exists
at a time. The raw X may be an in-memory array, a memory-mapped .npy file (np.load(mmap_mode='r'):
only the pages of the rows read are loaded), or a directory of row shards part-*.npy.

Distributed use: `source.shard(rank, size)` is the source restricted to the rows
[lo, hi) = [rank*n // size, (rank+1)*n // size) -- the shards of the ranks partition the rows
exactly -- and reads only those rows (from a memmap: only their pages; from a shard directory:
only the part files that intersect [lo, hi)). A rank's q_matrix(w_local) is its partial sum; the
global Q(w) is the sum over ranks (an MPI Allreduce), and apply_lifted(Z) returns the rank's own
entries A(Z)_lo..hi-1. `w` passed to a shard has the shard's length (hi - lo).
"""
from __future__ import annotations

import glob
import math
import os
import re
from typing import Iterator

import numpy as np

from .activations import Polynomial
from .errors import InvalidProblemError
from .quantization import Levels

DEFAULT_BLOCK_ROWS = 4096


def _natural_key(path: str):
    """part-2.npy before part-10.npy: digits compare as numbers."""
    name = os.path.basename(path)
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _open_npy(path: str, field: str) -> np.ndarray:
    """A read-only memory map of a .npy file (header checked, data not read)."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidProblemError(field, f"cannot read {path}: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf":
        raise InvalidProblemError(field, f"{path} must hold a numeric array")
    return arr


class RowSource:
    """Rows [lo, hi) of the binary design of raw features X (n_total, d) under `levels`.

    Shapes: n = hi - lo rows here, d raw features, p = d * levels.n_bits binary columns.
    `parts` is a list of (global_start, array) pieces whose rows, concatenated, are X; each array
    may be an np.memmap. activation: the sigma whose lifting q_matrix / apply_lifted use.
    transform: applied to every block of raw rows as it is read (row-wise, e.g. the column
    standardization a network was trained with); None reads the rows as stored.
    """

    def __init__(self, parts: list[tuple[int, np.ndarray]], n_total: int, d: int, lo: int = 0,
                 hi: int | None = None, activation: Polynomial | None = None, levels: Levels | str = "binary",
                 block_rows: int = DEFAULT_BLOCK_ROWS, y=None, transform=None):
        self._parts = parts
        self.transform = transform    # raw rows (b, d) -> (b, d), e.g. standardization; None: as stored
        self.n_total = int(n_total)
        self.d = int(d)
        self.lo = int(lo)
        self.hi = self.n_total if hi is None else int(hi)
        if not 0 <= self.lo <= self.hi <= self.n_total:
            raise InvalidProblemError("rows", f"row range [{self.lo}, {self.hi}) outside [0, {self.n_total}]")
        self.activation = activation if activation is not None else Polynomial()
        self.levels = levels if isinstance(levels, Levels) else Levels.parse(levels)
        if isinstance(block_rows, bool) or int(block_rows) < 1:
            raise InvalidProblemError("block_rows", f"must be a positive integer, got {block_rows!r}")
        self.block_rows = int(block_rows)
        self._y = y           # (n_total,) array or memmap, or None

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_array(cls, X, y=None, **kw) -> "RowSource":
        """From an in-memory (or memory-mapped) array X (n, d); y (n,) optional."""
        X = X if isinstance(X, np.ndarray) else np.asarray(X, float)
        if X.ndim != 2:
            raise InvalidProblemError("X", f"must be 2-D of shape (n, d), got shape {X.shape}")
        if y is not None:
            y = y if isinstance(y, np.ndarray) else np.asarray(y, float)
            if y.shape != (X.shape[0],):
                raise InvalidProblemError("y", f"has shape {y.shape}, X has n = {X.shape[0]} rows")
        return cls([(0, X)], X.shape[0], X.shape[1], y=y, **kw)

    @classmethod
    def from_problem(cls, problem, **kw) -> "RowSource":
        """The rows of a QNNProblem, with its activation and levels (Xb = problem.binary_design())."""
        kw.setdefault("activation", problem.activation)
        kw.setdefault("levels", problem.levels)
        return cls.from_array(problem.X, problem.y, **kw)

    @classmethod
    def from_npy(cls, x_path, y_path=None, **kw) -> "RowSource":
        """From X.npy (n, d) (and y.npy (n,)) opened with np.load(mmap_mode='r'): nothing is read
        until a block is asked for, and then only that block's pages."""
        X = _open_npy(str(x_path), "X")
        y = _open_npy(str(y_path), "y") if y_path is not None else None
        return cls.from_array(X, y, **kw)

    @classmethod
    def from_directory(cls, path, **kw) -> "RowSource":
        """From a directory holding either X.npy (+ y.npy) or row shards part-*.npy (each (n_k, d),
        concatenated in natural name order: part-2 before part-10) with y.npy (n,) optional.
        Only the .npy headers are read here."""
        path = str(path)
        if not os.path.isdir(path):
            raise InvalidProblemError("DATA", f"{path} is not a directory")
        y_path = os.path.join(path, "y.npy")
        y_path = y_path if os.path.exists(y_path) else None
        if os.path.exists(os.path.join(path, "X.npy")):
            return cls.from_npy(os.path.join(path, "X.npy"), y_path, **kw)
        files = sorted(glob.glob(os.path.join(path, "part-*.npy")), key=_natural_key)
        if not files:
            raise InvalidProblemError("DATA", f"{path} holds neither X.npy nor row shards part-*.npy")
        parts, start, d = [], 0, None
        for f in files:
            arr = _open_npy(f, "DATA")
            if arr.ndim != 2 or (d is not None and arr.shape[1] != d):
                raise InvalidProblemError("DATA", f"{f}: shape {arr.shape}; every part must be 2-D with the same "
                                          f"number of columns{'' if d is None else f' ({d})'}")
            d = arr.shape[1]
            parts.append((start, arr))
            start += arr.shape[0]
        y = _open_npy(y_path, "y") if y_path else None
        if y is not None and y.shape != (start,):
            raise InvalidProblemError("y", f"{y_path} has shape {y.shape}; the parts have {start} rows")
        return cls(parts, start, d, y=y, **kw)

    # -- shape -----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Rows in this source (hi - lo)."""
        return self.hi - self.lo

    @property
    def p(self) -> int:
        """Binary columns, d * bits."""
        return self.d * self.levels.n_bits

    @property
    def offset(self) -> int:
        """Global index of this source's first row."""
        return self.lo

    def _like(self, lo: int, hi: int) -> "RowSource":
        return RowSource(self._parts, self.n_total, self.d, lo, hi, self.activation, self.levels,
                         self.block_rows, self._y, self.transform)

    def shard(self, rank: int, size: int) -> "RowSource":
        """Rows [lo + rank*n // size, lo + (rank+1)*n // size): the ranks 0..size-1 partition this
        source's rows exactly, in order, with sizes differing by at most one."""
        if isinstance(size, bool) or int(size) < 1 or not 0 <= int(rank) < int(size):
            raise InvalidProblemError("rank", f"need 0 <= rank < size, got rank {rank}, size {size}")
        n = self.n
        return self._like(self.lo + rank * n // size, self.lo + (rank + 1) * n // size)

    def rows(self, lo: int, hi: int) -> "RowSource":
        """The sub-source of local rows [lo, hi)."""
        if not 0 <= lo <= hi <= self.n:
            raise InvalidProblemError("rows", f"[{lo}, {hi}) outside [0, {self.n}]")
        return self._like(self.lo + lo, self.lo + hi)

    # -- reading ---------------------------------------------------------------------------
    def _raw(self, glo: int, ghi: int) -> np.ndarray:
        """Raw features of global rows [glo, ghi) as a float64 array (b, d); reads only the parts
        (and, for a memmap, only the pages) that hold them."""
        pieces = []
        for start, arr in self._parts:
            end = start + arr.shape[0]
            if end <= glo or start >= ghi:
                continue
            pieces.append(np.asarray(arr[max(glo, start) - start:min(ghi, end) - start], dtype=float))
        X = pieces[0] if len(pieces) == 1 else (np.concatenate(pieces, axis=0) if pieces else np.zeros((0, self.d)))
        return X if self.transform is None else np.asarray(self.transform(X), dtype=float)

    def raw_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(local start, X block (b, d) float64) for consecutive blocks of at most block_rows rows."""
        for glo in range(self.lo, self.hi, self.block_rows):
            ghi = min(glo + self.block_rows, self.hi)
            yield glo - self.lo, self._raw(glo, ghi)

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(local start, Xb block (b, p) float64): the binary design, one block at a time."""
        binary = self.levels.n_bits == 1 and self.levels.coefficients[0] == 1.0
        for start, X in self.raw_blocks():
            yield start, (X if binary else self.levels.expand(X))

    def y(self) -> np.ndarray:
        """Targets of this source's rows, shape (n,) float64 (loaded: n doubles)."""
        if self._y is None:
            raise InvalidProblemError("y", "this row source has no targets")
        return np.asarray(self._y[self.lo:self.hi], dtype=float)

    def to_array(self) -> np.ndarray:
        """The raw features of this source's rows, (n, d) float64 (loads them all)."""
        return self._raw(self.lo, self.hi)

    # -- the two passes ----------------------------------------------------------------------
    def _weights(self, w, name="w") -> np.ndarray:
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n,):
            raise InvalidProblemError(name, f"must have shape ({self.n},) (the rows of this source), got {w.shape}")
        return w

    def q_matrix(self, w, activation: Polynomial | None = None, blocks=None) -> np.ndarray:
        """Q(w) = sum_i w_i M(x~_i) over this source's rows, shape (p+1, p+1); w (n,).
        The same matrix as certqnn.lifting.q_matrix(Xb, act, w), summed block by block.
        blocks: (local start, Xb block) pairs of this source's rows to use instead of reading them
        (e.g. a single-precision copy: each block's products are then computed in its precision
        and summed in double)."""
        act = activation or self.activation
        w = self._weights(w)
        p = self.p
        G = np.zeros((p, p))
        v = np.zeros(p)
        for start, B in (self.blocks() if blocks is None else blocks):
            wb = w[start:start + B.shape[0]].astype(B.dtype, copy=False)
            G += (B.T * wb) @ B
            v += B.T @ wb
        Q = np.empty((p + 1, p + 1))
        Q[:p, :p] = act.a * G
        Q[:p, p] = Q[p, :p] = 0.5 * act.b * v
        Q[p, p] = act.c * math.fsum(w)
        return 0.5 * (Q + Q.T)

    def apply_lifted(self, Z, activation: Polynomial | None = None, blocks=None) -> np.ndarray:
        """A(Z)_i = <M(x~_i), Z> for this source's rows, shape (n,); Z symmetric (p+1, p+1).
        blocks: as for q_matrix (the products in the blocks' precision, the result in double)."""
        act = activation or self.activation
        p = self.p
        Z = np.asarray(Z, dtype=float)
        if Z.shape != (p + 1, p + 1):
            raise InvalidProblemError("Z", f"must have shape ({p + 1}, {p + 1}), got {Z.shape}")
        out = np.empty(self.n)
        for start, B in (self.blocks() if blocks is None else blocks):
            Z11, z = Z[:p, :p].astype(B.dtype, copy=False), Z[:p, p].astype(B.dtype, copy=False)
            quad = np.einsum("ij,ij->i", B @ Z11, B)
            out[start:start + B.shape[0]] = act.a * quad + act.b * (B @ z) + act.c * Z[p, p]
        return out

    def q_matvec(self, w, V, activation: Polynomial | None = None) -> np.ndarray:
        """Q(w) @ V without forming Q: V (p+1,) or (p+1, k) -> same shape. Costs two products with
        each block (4 n p k flops) instead of the n p^2 of q_matrix: worth it for k << p."""
        act = activation or self.activation
        w = self._weights(w)
        p = self.p
        V = np.asarray(V, dtype=float)
        vec = V.ndim == 1
        V2 = V.reshape(p + 1, -1)
        top = np.zeros((p, V2.shape[1]))
        bottom = np.zeros(V2.shape[1])
        U, t = V2[:p], V2[p]
        for start, B in self.blocks():
            wb = w[start:start + B.shape[0]]
            BU = B @ U                                   # (b, k): x~_i^T u
            # rows of M(x~) V: a x~ (x~^T u) + (b/2) x~ t  and  (b/2) x~^T u + c t
            top += B.T @ (wb[:, None] * (act.a * BU + 0.5 * act.b * t))
            bottom += 0.5 * act.b * (wb @ BU)
        bottom += act.c * math.fsum(w) * t
        out = np.vstack([top, bottom[None, :]])
        return out.ravel() if vec else out

    def neuron_outputs(self, S, activation: Polynomial | None = None) -> np.ndarray:
        """sigma(Xb s) for the columns of S (p, m): shape (n, m) (the atoms; n*m doubles)."""
        act = activation or self.activation
        S = np.asarray(S, dtype=float).reshape(self.p, -1)
        out = np.empty((self.n, S.shape[1]))
        for start, B in self.blocks():
            out[start:start + B.shape[0]] = act(B @ S)
        return out

    def __repr__(self):
        return (f"RowSource(rows [{self.lo}, {self.hi}) of {self.n_total}, d={self.d}, p={self.p}, "
                f"{len(self._parts)} part(s), block_rows={self.block_rows})")
