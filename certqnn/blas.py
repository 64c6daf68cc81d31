"""BLAS kernels that numpy does not expose, called through SciPy's Cython BLAS table.

symmetric_matvec(G, x) is G @ x for a symmetric G that reads only one triangle (BLAS dsymv): half
the memory traffic of numpy's dgemv, which is what a matrix-vector product costs once G is larger
than the caches (the rounding master's Gram matrix, thousands of atoms square, multiplied at every
step of its feature-sign search). It takes G as the top-left corner of a larger row-major buffer
(the master's Gram buffer) without copying: the buffer's row stride is the leading dimension.
SciPy publishes its BLAS for Cython as C function pointers (scipy.linalg.cython_blas); a ctypes
prototype calls the same function. Anything it cannot take falls back to G @ x.
"""
from __future__ import annotations

import ctypes

import numpy as np

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_INT_P = ctypes.POINTER(ctypes.c_int)
# void dsymv(char *uplo, int *n, double *alpha, double *a, int *lda, double *x, int *incx,
#            double *beta, double *y, int *incy)
_DSYMV_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_char_p, _INT_P, _DOUBLE_P, _DOUBLE_P, _INT_P, _DOUBLE_P, _INT_P,
                               _DOUBLE_P, _DOUBLE_P, _INT_P)
_kernel: list = []          # [function or None], looked up once


def _dsymv():
    if not _kernel:
        try:
            from scipy.linalg import cython_blas

            capsule = cython_blas.__pyx_capi__["dsymv"]
            get_name = ctypes.pythonapi.PyCapsule_GetName
            get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            _kernel.append(_DSYMV_TYPE(get_pointer(capsule, get_name(capsule))))
        except Exception:           # any SciPy without the table: numpy's product is the answer
            _kernel.append(None)
    return _kernel[0]


# below this size the product is in cache and the call's overhead is not worth it
MIN_SIZE = 256


def symmetric_matvec(G: np.ndarray, x: np.ndarray) -> np.ndarray:
    """G @ x, shape (m,), for a symmetric G (m, m) -- only its lower triangle is read. G may be a
    row-major view with any row stride (a corner of a buffer); x (m,)."""
    m = x.shape[0]
    kernel = _dsymv() if m >= MIN_SIZE else None
    if (kernel is None or G.dtype != np.float64 or G.shape != (m, m) or G.strides[1] != 8
            or G.strides[0] % 8 or G.strides[0] < 8 * m):
        return G @ x
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.zeros(m)
    one, zero = ctypes.c_double(1.0), ctypes.c_double(0.0)
    # row-major G with row stride lda is the column-major G^T = G: its upper triangle, in BLAS's
    # terms, is the lower triangle of G
    kernel(b"U", ctypes.byref(ctypes.c_int(m)), ctypes.byref(one), G.ctypes.data_as(_DOUBLE_P),
           ctypes.byref(ctypes.c_int(G.strides[0] // 8)), x.ctypes.data_as(_DOUBLE_P), ctypes.byref(ctypes.c_int(1)),
           ctypes.byref(zero), y.ctypes.data_as(_DOUBLE_P), ctypes.byref(ctypes.c_int(1)))
    return y
