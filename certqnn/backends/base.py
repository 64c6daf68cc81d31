"""The backend contract: a Backend declares its options and returns a Result (a claim).

Every backend has a nested ``Options`` class: a frozen, keyword-only dataclass whose fields are
the only options it accepts. ``Backend.options(**kw)`` builds it and raises
``UnknownOptionError`` naming any option the backend does not declare, so nothing is ever
silently ignored. Fields may carry CLI metadata (see ``option()``); the command line builds its
flags and each backend's options from these declarations alone.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from ..errors import BackendUnavailableError, InvalidProblemError, UnknownOptionError
from ..problem import QNNProblem
from ..result import Result

REGISTRY: dict[str, type["Backend"]] = {}


def register(cls: type["Backend"]) -> type["Backend"]:
    REGISTRY[cls.name] = cls
    return cls


def option(default: Any, help: str, *, parse: Callable[[str], Any] | None = None,
           choices: tuple[str, ...] | None = None, flag: str | None = None, cli: bool = True) -> Any:
    """A declared backend option: its default, a one-line help, and how the CLI reads it.

    parse: turns the command-line text into the value (default: the type of `default`, or str);
    choices: the allowed strings; flag: the CLI flag (default ``--name-with-dashes``);
    cli=False keeps the option Python-only (e.g. callbacks, arrays)."""
    meta = {"help": help, "parse": parse, "choices": choices, "flag": flag, "cli": cli}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class Options:
    """Options every backend accepts. Work budgets change results and are counted in work
    (iterations, rounds, evaluations); time_limit is the only wall-clock stop."""

    time_limit: float | None = option(None, "wall-clock limit in seconds (the result says when it fired)",
                                      parse=float)

    def validate(self) -> None:
        """Raise InvalidProblemError naming the option when a value is out of range."""
        if self.time_limit is not None and not (self.time_limit > 0):
            raise InvalidProblemError("time_limit", f"must be a positive number of seconds, got {self.time_limit!r}")

    def __post_init__(self):
        self.validate()


def declared_options(options_cls: type[Options]) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(options_cls)}


class Backend(ABC):
    """A method that claims a solution of a QNNProblem.

    name: registry key; requires: modules needed (checked without importing); extra: the pip extra
    that provides them; exact: True when the result is provably optimal by construction;
    Options: the declared options (a subclass of base.Options).
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    exact: ClassVar[bool] = False
    description: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options

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

    @classmethod
    def options(cls, **given) -> Options:
        """Build the declared Options from keyword arguments; an undeclared name is an error."""
        known = declared_options(cls.Options)
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UnknownOptionError(cls.name, unknown, sorted(known))
        return cls.Options(**given)

    def supports(self, problem: QNNProblem) -> tuple[bool, str]:
        return True, ""

    def companion_results(self, problem: QNNProblem, result: Result) -> list[Result]:
        """Further networks worth a row of their own next to `result` (e.g. a heuristic's network
        after an exact alpha refit). Each is a claim like any Result; none by default."""
        return []

    def solve(self, problem: QNNProblem, options: Options | None = None, **given) -> Result:
        """Validate the options (an Options instance or keywords, not both) and run."""
        if options is None:
            options = self.options(**given)
        elif given:
            raise UnknownOptionError(self.name, sorted(given), sorted(declared_options(self.Options)),
                                     why="pass either an Options instance or keyword options, not both")
        elif not isinstance(options, self.Options):
            raise InvalidProblemError("options", f"backend '{self.name}' takes {self.Options.__qualname__}, "
                                                 f"got {type(options).__name__}")
        return self.run(problem, options)

    @abstractmethod
    def run(self, problem: QNNProblem, options: Options) -> Result:
        """Solve with validated options and return a Result (a claim)."""


def get_backend(name_or_backend) -> Backend:
    if isinstance(name_or_backend, Backend):
        return name_or_backend
    from . import _load_all  # noqa: F401  (registers every backend module)

    name = str(name_or_backend).lower()
    if name not in REGISTRY:
        raise InvalidProblemError("backend", f"unknown backend {name_or_backend!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()
