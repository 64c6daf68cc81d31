"""Interchangeable solvers. Importing this package registers every backend."""
from .base import REGISTRY, Backend, get_backend, register  # noqa: F401
from . import _load_all  # noqa: F401
