"""The state of a dqsfw run: what each agent holds, what the whole run tracks, and the constants
every step reads (docs/math.md §10)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...activations import Polynomial
from ...losses import Loss
from .compression import Packing, PublicCopies, Quantizer


@dataclass(frozen=True)
class Setup:
    """The constants of one run, identical in every process.

    K: agents; W: (K, K) mixing matrix; nbrs[k]: sorted neighbours of agent k; eta: gossip step;
    b: the penalty weight of `form` (beta or 0); with_t: the iterate carries the epigraph
    coordinate t (penalized form); kappa, c0: the quadratic model of the loss (1, 0 for squared;
    used by the adaptive budget and the local line search only); zmsg_bits, smsg_bits: cost of one
    iterate / tracker message; report_lmo, report_rng: the oracle of the monitoring reduction and
    the generator its heuristic variant draws from (shared by all processes, same draws everywhere).
    """

    K: int
    act: Polynomial
    loss: Loss
    beta: float
    form: str
    b: float
    with_t: bool
    pk: Packing
    quant: Quantizer
    W: np.ndarray
    nbrs: list
    eta: float
    batch: int | None
    tracking: bool
    step: str
    adaptive: bool
    kappa: float
    c0: float
    zmsg_bits: int
    smsg_bits: int
    report_lmo: object
    report_rng: np.random.Generator


@dataclass
class AgentState:
    """Agent k. Xb: (n_k, p) shard of the binary design; y: (n_k,); target: (n_k,) the quadratic
    loss's t on the shard (y for the squared loss; None for a non-quadratic loss); z: the lifted
    iterate, packed (D,) upper triangle of Z_k then t_k when with_t; S: (D,) gradient tracker;
    G_prev: (D,) last local gradient; zhat, phat: public copies of iterates and trackers (own and
    neighbours'); atoms: sign vector -> how often this agent's LMO selected it; bits: bits sent."""

    k: int
    Xb: np.ndarray
    y: np.ndarray
    target: np.ndarray | None
    rng: np.random.Generator
    lmo: object
    z: np.ndarray
    S: np.ndarray
    G_prev: np.ndarray
    zhat: PublicCopies = field(default_factory=PublicCopies)
    phat: PublicCopies = field(default_factory=PublicCopies)
    atoms: dict = field(default_factory=dict)
    bits: int = 0

    @classmethod
    def start(cls, k: int, Xb: np.ndarray, y: np.ndarray, target, seed: int, lmo, pk: Packing,
              with_t: bool) -> "AgentState":
        """Agent k at the origin, drawing everything from np.random.default_rng([seed, k])."""
        return cls(k, Xb, y, target, np.random.default_rng([seed, k]), lmo,
                   z=np.zeros(pk.D + (1 if with_t else 0)), S=np.zeros(pk.D), G_prev=np.zeros(pk.D))


@dataclass
class RunState:
    """What the monitoring reduction knows after the last report (identical in every process):
    tau: the current budget; ub: the best objective seen (adaptive tau); objective, gap,
    consensus_error (max_k |Z_k - Zbar|_F), bits (sent so far by all agents) at the average iterate
    zbar (packed, with tbar); best_dual: the best CERTIFIED lower bound on p* seen (objective - gap
    while tau is a proven bound on |alpha*|_1, and the scaling-lemma bound of the adaptive scheme);
    cap: the proven bound on |alpha*|_1 (adaptive tau; steps.tau_bound); tbar: the average iterate's
    epigraph coordinate; phase_gap: the relative FW gap of the current budget's problem;
    history: per-report lists."""

    tau: float
    ub: float = np.inf
    cap: float = np.inf
    tbar: float = 0.0
    phase_gap: float = np.inf
    objective: float = np.nan
    gap: float = np.nan
    consensus_error: float = np.nan
    bits: int = 0
    zbar: np.ndarray | None = None
    best_dual: float = -np.inf
    history: dict = field(default_factory=dict)
