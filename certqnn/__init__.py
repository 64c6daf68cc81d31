"""certqnn: train quantized two-layer networks with certified optimality gaps.

    problem = QNNProblem(X, y, activation=Polynomial(1, 0, 0), levels="binary", beta=1.0)
    result = solve(problem, backend="sdp")
    certificate = certify(problem, result)
    verify(certificate).ok
"""
__version__ = "0.1.0"

import importlib as _importlib  # noqa: E402
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402

from .activations import Polynomial  # noqa: E402
from .errors import (BackendUnavailableError, CertificateFormatError, CertQNNError,  # noqa: E402
                     InvalidProblemError, SolverError, UnsupportedProblemError)
from .network import QuantizedNetwork  # noqa: E402
from .problem import QNNProblem  # noqa: E402
from .quantization import Levels  # noqa: E402
from .result import Result, Status  # noqa: E402
from .trusted.certificate import Certificate, read_certificate  # noqa: E402
from .trusted.multiclass import MultiClassCertificate, MultiClassVerdict, verify_multiclass  # noqa: E402
from .trusted.verify import Verdict, verify  # noqa: E402

# solve and certify load the backends (and their solvers) on first use (PEP 562), so that
# `import certqnn.trusted.verify` stays free of solvers and heuristics.
_LAZY = {"solve": ".solve", "certify": ".certify"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(_types.ModuleType):
    """Importing the submodule certqnn.solve (or certqnn.certify) binds it as an attribute of the
    package; keep the public function of the same name instead, as an eager import would."""

    def __setattr__(self, name, value):
        if name in _LAZY and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def available_backends() -> list[str]:
    """Names of the registered backends (certqnn.backends.REGISTRY maps them to classes)."""
    from .backends import REGISTRY

    return sorted(REGISTRY)


__all__ = ["Polynomial", "Levels", "QNNProblem", "QuantizedNetwork", "Result", "Status", "Certificate",
           "Verdict", "solve", "certify", "verify", "available_backends", "CertQNNError", "InvalidProblemError",
           "BackendUnavailableError", "UnsupportedProblemError", "SolverError", "CertificateFormatError",
           "MultiClassCertificate", "MultiClassVerdict", "verify_multiclass", "read_certificate"]
