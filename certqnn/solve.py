"""solve(problem, backend=..., **options): dispatch to a registered backend."""
from __future__ import annotations

from .backends.base import Options, get_backend
from .errors import UnsupportedProblemError
from .problem import QNNProblem
from .result import Result


def solve(problem: QNNProblem, backend="sdp", options: Options | None = None, **given) -> Result:
    """Run `backend` (name or Backend instance) on `problem`; returns its Result (a claim).

    Options are the backend's declared ones, as keywords or as its Options instance
    (`get_backend(name).options(...)`); an undeclared option raises UnknownOptionError."""
    be = get_backend(backend)
    be.check_available()
    opts = options if options is not None else be.options(**given)
    if options is not None and given:
        be.solve(problem, options, **given)     # raises: both forms given
    ok, reason = be.supports(problem)
    if not ok:
        raise UnsupportedProblemError(f"backend '{be.name}' cannot solve this problem: {reason}")
    return be.solve(problem, opts)
