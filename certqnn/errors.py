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
