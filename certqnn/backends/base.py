"""Backend ABC and the registry that maps names to backend classes."""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod

from ..errors import BackendUnavailableError, InvalidProblemError
from ..problem import QNNProblem
from ..result import Result

REGISTRY: dict[str, type["Backend"]] = {}


def register(cls: type["Backend"]) -> type["Backend"]:
    REGISTRY[cls.name] = cls
    return cls


class Backend(ABC):
    """A method that claims a solution of a QNNProblem.

    name: registry key; requires: modules needed (checked without importing); extra: the pip extra
    that provides them; exact: True when the result is provably optimal by construction.
    """

    name: str = ""
    requires: tuple[str, ...] = ()
    extra: str | None = None
    exact: bool = False
    description: str = ""

    @classmethod
    def missing_modules(cls) -> list[str]:
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def available(cls) -> bool:
        return not cls.missing_modules()

    def check_available(self):
        missing = self.missing_modules()
        if missing:
            hint = f"pip install 'certqnn[{self.extra}]'" if self.extra else f"pip install {' '.join(missing)}"
            raise BackendUnavailableError(f"backend '{self.name}' needs {', '.join(missing)}: {hint}")

    def supports(self, problem: QNNProblem) -> tuple[bool, str]:
        return True, ""

    @abstractmethod
    def solve(self, problem: QNNProblem, **options) -> Result:
        """Solve and return a Result (a claim)."""


def get_backend(name_or_backend) -> Backend:
    if isinstance(name_or_backend, Backend):
        return name_or_backend
    from . import _load_all  # noqa: F401  (registers every backend module)

    name = str(name_or_backend).lower()
    if name not in REGISTRY:
        raise InvalidProblemError("backend", f"unknown backend {name_or_backend!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()
