"""BLAS and LAPACK kernels on corners of buffers, called through SciPy's Cython tables.

numpy and scipy.linalg take matrices as whole arrays: a k x k corner of a larger buffer (a factor
kept with room to grow, the master's Gram matrix) is copied to a contiguous array at every call.
BLAS itself takes a leading dimension, so these functions hand the buffer as it lies. SciPy
publishes its BLAS and LAPACK for Cython as C function pointers (scipy.linalg.cython_blas,
cython_lapack); a ctypes prototype calls the same functions. Without them (any SciPy without the
tables) each function falls back to numpy / scipy.linalg on a contiguous copy: same results.

* symmetric_matvec(G, x): G @ x reading one triangle (dsymv): half the memory traffic of a general
  product, which is what a matrix-vector product costs once G is larger than the caches.
* upper_solve(U, b, transpose) and upper_product(U, x, transpose): U^-1 b, U^-T b, U x, U^T x for
  an upper triangular U (dtrsv / dtrsm, dtrmv).
* cholesky_upper(A): the upper Cholesky factor of a symmetric positive definite corner, in place
  (dpotrf).

A row-major k x k corner with row stride lda is, to column-major BLAS, the transpose with leading
dimension lda: an upper triangular U is the lower triangular L = U^T there, so U x is BLAS's
"L, transposed" and U^T x its "L, not transposed".
"""
from __future__ import annotations

import ctypes
import importlib

import numpy as np

from scipy.linalg import cholesky, solve_triangular

_D = ctypes.POINTER(ctypes.c_double)
_I = ctypes.POINTER(ctypes.c_int)
_C = ctypes.c_char_p
_PROTOTYPES = {
    # void dsymv(uplo, n, alpha, a, lda, x, incx, beta, y, incy)
    "dsymv": ("cython_blas", ctypes.CFUNCTYPE(None, _C, _I, _D, _D, _I, _D, _I, _D, _D, _I)),
    # void dtrsv / dtrmv(uplo, trans, diag, n, a, lda, x, incx)
    "dtrsv": ("cython_blas", ctypes.CFUNCTYPE(None, _C, _C, _C, _I, _D, _I, _D, _I)),
    "dtrmv": ("cython_blas", ctypes.CFUNCTYPE(None, _C, _C, _C, _I, _D, _I, _D, _I)),
    # void dtrsm(side, uplo, transa, diag, m, n, alpha, a, lda, b, ldb)
    "dtrsm": ("cython_blas", ctypes.CFUNCTYPE(None, _C, _C, _C, _C, _I, _I, _D, _D, _I, _D, _I)),
    # void dpotrf(uplo, n, a, lda, info)
    "dpotrf": ("cython_lapack", ctypes.CFUNCTYPE(None, _C, _I, _D, _I, _I)),
}
_kernels: dict = {}         # name -> function or None, looked up once


def _kernel(name: str):
    if name not in _kernels:
        try:
            module, prototype = _PROTOTYPES[name]
            capsule = importlib.import_module(f"scipy.linalg.{module}").__pyx_capi__[name]
            get_name = ctypes.pythonapi.PyCapsule_GetName
            get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            _kernels[name] = prototype(get_pointer(capsule, get_name(capsule)))
        except Exception:           # any SciPy without the table: the numpy / scipy.linalg path
            _kernels[name] = None
    return _kernels[name]


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _corner(A: np.ndarray, k: int) -> bool:
    """Whether A is a (k, k) float64 row-major corner BLAS can take in place (unit column stride)."""
    return (A.dtype == np.float64 and A.shape == (k, k) and A.strides[1] == 8 and A.strides[0] % 8 == 0
            and A.strides[0] >= 8 * max(k, 1))


# below this size the product is in cache and the call's overhead is not worth it
MIN_SIZE = 256


def symmetric_matvec(G: np.ndarray, x: np.ndarray) -> np.ndarray:
    """G @ x, shape (m,), for a symmetric G (m, m) -- only its lower triangle is read. G may be a
    row-major view with any row stride (a corner of a buffer); x (m,)."""
    m = x.shape[0]
    kernel = _kernel("dsymv") if m >= MIN_SIZE else None
    if kernel is None or not _corner(G, m):
        return G @ x
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.zeros(m)
    one, zero = ctypes.c_double(1.0), ctypes.c_double(0.0)
    # to BLAS the row-major G is G^T = G: its "upper" triangle is the lower triangle of G
    kernel(b"U", _int(m), ctypes.byref(one), G.ctypes.data_as(_D), _int(G.strides[0] // 8), x.ctypes.data_as(_D),
           _int(1), ctypes.byref(zero), y.ctypes.data_as(_D), _int(1))
    return y


def upper_solve(U: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """x = U^-1 b (or U^-T b) for an upper triangular U (k, k), b (k,) or (k, r); a new array."""
    k = U.shape[0]
    vector = b.ndim == 1
    if k == 0:
        return np.zeros(b.shape)
    kernel = _kernel("dtrsv" if vector else "dtrsm")
    if kernel is None or not _corner(U, k):
        return solve_triangular(np.ascontiguousarray(U), b, trans="T" if transpose else "N", check_finite=False)
    x = np.array(b, dtype=np.float64, order="F", copy=True)
    trans = b"N" if transpose else b"T"
    if vector:
        kernel(b"L", trans, b"N", _int(k), U.ctypes.data_as(_D), _int(U.strides[0] // 8), x.ctypes.data_as(_D), _int(1))
    elif x.shape[1]:
        one = ctypes.c_double(1.0)
        kernel(b"L", b"L", trans, b"N", _int(k), _int(x.shape[1]), ctypes.byref(one), U.ctypes.data_as(_D),
               _int(U.strides[0] // 8), x.ctypes.data_as(_D), _int(k))
    return x


def upper_product(U: np.ndarray, x: np.ndarray, transpose: bool = False) -> np.ndarray:
    """U x (or U^T x) for an upper triangular U (k, k) and x (k,); a new array."""
    k = U.shape[0]
    kernel = _kernel("dtrmv")
    if k == 0:
        return np.zeros(0)
    if kernel is None or not _corner(U, k):
        return (U.T if transpose else U) @ x
    y = np.array(x, dtype=np.float64, copy=True)
    kernel(b"L", b"N" if transpose else b"T", b"N", _int(k), U.ctypes.data_as(_D), _int(U.strides[0] // 8),
           y.ctypes.data_as(_D), _int(1))
    return y


def cholesky_upper(A: np.ndarray) -> bool:
    """Overwrite the symmetric positive definite corner A (k, k) with its upper Cholesky factor U
    (A = U^T U; zeros below the diagonal). Returns False, A unspecified, when A is not positive
    definite to working precision."""
    k = A.shape[0]
    kernel = _kernel("dpotrf")
    if k == 0:
        return True
    if kernel is None or not _corner(A, k):
        try:
            A[...] = cholesky(np.array(A), lower=False, check_finite=False)
        except np.linalg.LinAlgError:
            return False
        return True
    info = ctypes.c_int(0)
    kernel(b"L", _int(k), A.ctypes.data_as(_D), _int(A.strides[0] // 8), ctypes.byref(info))
    for i in range(1, k):           # row by row: no k x k index arrays
        A[i, :i] = 0.0
    return info.value == 0
