"""solve(problem, backend=..., **options): dispatch to a registered backend."""
from __future__ import annotations

from .backends.base import get_backend
from .errors import UnsupportedProblemError
from .problem import QNNProblem
from .result import Result


def solve(problem: QNNProblem, backend="sdp", **options) -> Result:
    """Run `backend` (name or Backend instance) on `problem`; returns its Result (a claim)."""
    be = get_backend(backend)
    be.check_available()
    ok, reason = be.supports(problem)
    if not ok:
        raise UnsupportedProblemError(f"backend '{be.name}' cannot solve this problem: {reason}")
    return be.solve(problem, **options)
