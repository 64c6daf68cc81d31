"""Import every backend module so each registers itself (kept separate to avoid import cycles)."""
from . import enumeration, sdp  # noqa: F401
