"""The exception hierarchy of certqnn: one base class, one subclass per kind of failure."""


class CertQNNError(Exception):
    """Base class of every error certqnn raises on purpose."""


class InvalidProblemError(CertQNNError, ValueError):
    """Bad input: the message names the offending field and what to do about it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class BackendUnavailableError(CertQNNError, ImportError):
    """A backend needs a module that is not installed; the message names the extra to install."""


class UnsupportedProblemError(CertQNNError):
    """The backend cannot handle this problem (e.g. too large); the message names an alternative."""


class SolverError(CertQNNError):
    """A solver returned no usable point at all."""


class CertificateFormatError(CertQNNError, ValueError):
    """A certificate file is malformed; the message names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"certificate field '{field}': {message}")


class UnknownOptionError(InvalidProblemError):
    """An option a backend does not declare (never silently ignored); names it and lists the valid ones."""

    def __init__(self, backend: str, unknown: list[str], known: list[str], why: str | None = None):
        self.backend, self.unknown, self.known = backend, list(unknown), list(known)
        names = ", ".join(repr(u) for u in unknown)
        detail = why or (f"backend '{backend}' does not accept option{'s' if len(unknown) > 1 else ''} {names}; "
                         f"its options are: {', '.join(known) or 'none'}")
        super().__init__(unknown[0] if unknown else "options", detail)
