"""Import every backend module so each registers itself (kept separate to avoid import cycles)."""
from . import enumeration, sdp  # noqa: F401
from . import frank_wolfe, dqsfw  # noqa: F401,E402
from . import colgen  # noqa: F401,E402
from . import auto  # noqa: F401,E402
from . import heuristics  # noqa: F401,E402
