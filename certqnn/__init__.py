"""certqnn: train quantized two-layer networks with certified optimality gaps.

    problem = QNNProblem(X, y, activation=Polynomial(1, 0, 0), levels="binary", beta=1.0)
    result = solve(problem, backend="sdp")
    certificate = certify(problem, result)
    verify(certificate).ok
"""
__version__ = "0.1.0"

from .activations import Polynomial  # noqa: E402
from .errors import (BackendUnavailableError, CertificateFormatError, CertQNNError,  # noqa: E402
                     InvalidProblemError, SolverError, UnsupportedProblemError)
from .network import QuantizedNetwork  # noqa: E402
from .problem import QNNProblem  # noqa: E402
from .quantization import Levels  # noqa: E402
from .result import Result, Status  # noqa: E402
from .certificate import Certificate  # noqa: E402
from .verify import Verdict, verify  # noqa: E402
from .certify import certify  # noqa: E402
from .solve import solve  # noqa: E402
from .backends import REGISTRY as _REGISTRY  # noqa: E402


def available_backends() -> list[str]:
    """Names of the registered backends (certqnn.backends.REGISTRY maps them to classes)."""
    return sorted(_REGISTRY)


__all__ = ["Polynomial", "Levels", "QNNProblem", "QuantizedNetwork", "Result", "Status", "Certificate",
           "Verdict", "solve", "certify", "verify", "available_backends", "CertQNNError", "InvalidProblemError",
           "BackendUnavailableError", "UnsupportedProblemError", "SolverError", "CertificateFormatError"]
