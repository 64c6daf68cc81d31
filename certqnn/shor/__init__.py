"""Shor SDP engines (docs/math.md §6). Each engine solves

    min_{Z+, Z- >= 0}  L(A(Z+ - Z-)) + beta (t+ + t-)   s.t.  Z^±_kk = t^± = Z^±_{DD}

where L is 1/2 |v - t|^2 for a target t (the backend rescales a quadratic loss kappa/2 |v - t|^2
to this form) or any loss with a cone model (certqnn.shor.loss_models: hinge, absolute, huber,
squared_hinge, logistic), and returns a claim: primal matrices Z^± and diagonal guesses from the
PSD-cone duals. certify() repairs and verifies them. The picos engine poses every model without
exponential cones (so not logistic); engine.models(model) says which.

Engines and the options each accepts (anything else is an error naming it):
  scs            eps, max_iters, time_limit, verbose, linear_solver, form, cuts
  picos[:SOLVER] eps, max_iters, time_limit, verbose
  fo, fo:mpi     eps, max_iters, time_limit, verbose, fo_method, fo_precision   (matrix-free, quadratic loss;
                 fo_engine.py)
  auto           scs when its conic data fits limits.SDP_CONIC_MAX_ENTRIES, fo otherwise
"""
from __future__ import annotations

from ..errors import BackendUnavailableError, InvalidProblemError
from .fo_engine import FoEngine
from .picos_engine import PicosEngine
from .scs_engine import ScsEngine
from .solution import ShorSolution, dual_diagonal  # noqa: F401

ENGINE_OPTIONS = {"scs": ("eps", "max_iters", "time_limit", "verbose", "linear_solver", "form", "cuts"),
                  "picos": ("eps", "max_iters", "time_limit", "verbose"),
                  "fo": ("eps", "max_iters", "time_limit", "verbose", "fo_method", "fo_precision")}
# "auto" resolves to scs or fo at run time; until then it accepts what scs accepts (and fo's own)
ENGINE_OPTIONS["auto"] = ENGINE_OPTIONS["scs"] + ("fo_method", "fo_precision")
ENGINES = "auto, scs, picos, picos:SOLVER, fo or fo:mpi"


def engine_family(engine: str) -> str:
    """'auto' | 'scs' | 'picos' | 'fo' for an engine spec; InvalidProblemError naming the field otherwise."""
    name = (engine or "scs").lower()
    if name in ("auto", "scs", "fo"):
        return name
    if name == "fo:mpi":
        return "fo"
    if name == "picos" or name.startswith("picos:"):
        return "picos"
    raise InvalidProblemError("engine", f"unknown SDP engine {engine!r}; use {ENGINES}")


def make_engine(engine: str):
    """An engine object for 'scs' | 'picos' | 'picos:SOLVER' | 'fo' | 'fo:mpi' ('auto' is resolved
    by the caller, which knows the problem's size)."""
    engine = (engine or "scs").lower()
    if engine == "fo":
        return FoEngine()
    if engine == "fo:mpi":
        from .fo_mpi import comm_world

        return FoEngine(comm=comm_world())
    if engine == "scs":
        if not ScsEngine.available():
            raise BackendUnavailableError("engine 'scs' needs the scs package: pip install 'certqnn[scs]'")
        return ScsEngine()
    if engine == "picos" or engine.startswith("picos:"):
        solver = engine.split(":", 1)[1] if ":" in engine else None
        if not PicosEngine.available():
            raise BackendUnavailableError("engine 'picos' needs picos and cvxopt: pip install picos cvxopt")
        return PicosEngine(solver)
    raise InvalidProblemError("engine", f"unknown SDP engine {engine!r}; use {ENGINES}")
