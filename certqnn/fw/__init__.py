"""Frank-Wolfe over the quantized neurons (docs/math.md §10).

lmo: the linear minimisation oracles (pricing); steps: step rules, the FW vertex and gap, the l1
budget tau; centralized: the frank_wolfe() loop; finalize: from FW's atoms to a refit network and
a dual point; decentralized: dqsfw, the same iteration run by K communicating agents.
"""
from .centralized import FWRun, frank_wolfe  # noqa: F401
from .lmo import ExactLMO, HeuristicLMO, make_lmo  # noqa: F401
