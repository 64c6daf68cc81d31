"""TRANSITION: rounding moved to certqnn.rounding (it is not a backend). This re-export keeps the
frank_wolfe backend's imports working until that module moves; new code imports certqnn.rounding."""
from ..rounding import network_from_atoms, one_flip_search  # noqa: F401
