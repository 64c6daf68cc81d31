"""Training heuristics for quantized networks (docs/math.md §11): the methods people use to
train quantized networks, on certqnn's problem and objective, so that each gets a certified gap.

`trainer` holds the shared minibatch loop (optimisers, schedule, proximal l1 step, trajectory);
one module per method supplies the part that differs (a `trainer.Method`):
ste (BinaryConnect), coarse_gradient, bcgd, binaryrelax, askewsgd, ptq. The backends that expose
them are in certqnn.backends.heuristics.
"""
from .trainer import DEFAULT_WIDTH, Method, TrainingConfig, TrainingRun, train  # noqa: F401
from .askewsgd import AskewSGD  # noqa: F401
from .bcgd import BCGD  # noqa: F401
from .binaryrelax import BinaryRelax  # noqa: F401
from .coarse_gradient import CoarseGradient  # noqa: F401
from .ptq import PTQ  # noqa: F401
from .ste import STE  # noqa: F401
