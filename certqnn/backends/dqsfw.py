"""Decentralized quantized stochastic Frank–Wolfe (math §10; Xian, Huang, Huang, AAAI 2021): backend `dqsfw`.

K agents on a connected graph (comm.build_graph), agent k holding a shard of the samples (rows of
the binary design Xb, shape (n_k, p)). Every agent keeps a lifted iterate z_k = (Z_k, t_k) (Z_k
symmetric (p+1, p+1); t_k the epigraph coordinate of the penalized form, frank_wolfe.py) and a
gradient tracker S_k ((p+1, p+1), an estimate of the GLOBAL gradient Q(grad L) = sum_j G_j).
Iteration t (gamma_t = 2/(t+2), the classical FW schedule; eta = gossip step):

    1. gossip of iterates:  x_k = z_k + eta sum_j W_kj (zhat_j - zhat_k)
    2. local gradient:      G_k = Q_k(grad L_k(A_k x_k))  on agent k's shard (or a minibatch of
                            it, scaled by n_k/|B|: unbiased)
    3. tracking:            P_k = S_k + K (G_k - G_k^prev);   S_k = P_k + eta sum_j W_kj (phat_j - phat_k)
                            (tracking=False: S_k = K G_k, no tracker messages)
    4. LMO:                 (s_k, value) = pricing oracle on S_k; vertex (c, t_v) as in frank_wolfe.vertex
    5. FW step:             z_k = (1 - gamma_t) x_k + gamma_t (c s~ s~^T, t_v)

W: Metropolis weights. Compression with error feedback (CHOCO-gossip, Koloskova et al. 2019): each
agent publishes a public copy zhat_k (and phat_k) that every neighbour also holds; it sends
q = lam C(z_k - zhat_k) and everyone adds q to zhat_k (lam <= 1 damps the few-bit variance, see
Quantizer.encode). What is not transmitted stays in z_k - zhat_k and is sent later (error feedback). With b = 32 (no compression) and eta = 1, zhat = z and step 1 is exactly
x_k = sum_j W_kj z_j (math §10). Because W is doubly stochastic, steps 1 and 3 preserve the agents'
averages whatever C does: mean_k S_k = sum_k G_k (tracking is exact on average) and the average
iterate Zbar follows the centralized FW recursion with the average vertex, so it stays feasible.

C = unbiased stochastic b-bit quantization (Quantizer). Message cost: b bits per entry plus a
16-bit (bfloat16) scale; b = 32 means no compression and is counted at 32 bits per entry (a
float32 message; the simulation keeps float64 so that it reproduces centralized FW exactly --
counting 64 bits would double every compression ratio). A symmetric matrix travels as its upper
triangle, D = (p+1)(p+2)/2 entries (+1 for t). bits_sent counts every message on every directed
edge (agent k's broadcast costs deg_k copies). Reporting reductions (objective, gap, consensus
error) are monitoring, not part of the algorithm, and are not counted.

Randomness: agent k draws everything (minibatches, quantization, heuristic LMO starts) from its own
np.random.default_rng([seed, k]) in a fixed order, so the in-process and MPI engines give the same
iterates. The final network: the atoms the agents' LMOs selected, alpha refit on ALL data
(frank_wolfe.refit_network), certified by certify() like every other backend; its dual point is
the better (exact scaling-lemma bound) of the gradients at the refit network and at Zbar.

MPI (engine="mpi", `mpiexec -n K`): rank k hosts agent k. Every rank must call solve() (the loop is
collective) and every rank returns the SAME Result (rank 0 refits and broadcasts); info["mpi_rank"]
says which process this is -- only rank 0 should print or write files. Every process is given the
whole problem (the CLI loads it on each rank) but only touches its shard inside the loop; the
final refit on all data runs on rank 0. The progress bar shows on rank 0 only. An unexpected error
in one rank aborts all ranks (MPI_Abort) instead of leaving the others blocked in a collective.

Measured (benchmarks/dqsfw_bits.py): with few bits the gap often closes in FEWER iterations than
without compression -- quantization noise diversifies the agents' LMO atoms, which damps FW's
zig-zag -- so 2-bit messages reach a relative gap of 1e-3 with 5-80x fewer bits than 32-bit ones.
Known limit: classical-step FW needs tau close to |alpha*|_1; the safe default tau = L(0)/beta
(shrunk adaptively once the average iterate is good) can be thousands of times larger, and then
1000 iterations give a valid but loose certificate. Pass `tau` when you know a budget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidProblemError, SolverError, UnsupportedProblemError
from ..lifting import neuron_outputs, q_matrix
from ..losses import SquaredLoss
from ..network import QuantizedNetwork
from ..problem import QNNProblem
from ..progress import progress
from ..result import Result, Status
from .base import Backend, register
from .comm import ENGINES, build_graph, make_communicator, mpi_world_size
from .frank_wolfe import (best_dual_point, fw_result, check_common_options, default_tau, fw_gap,
                          make_lmo, penalty_weight, plot_convergence, refit_network, tau_bound, vertex)

HISTORY_KEYS = ("objective", "fw_gap", "relative_gap", "dual_bound", "consensus_error", "bits", "tau", "seconds")
SCALE_BITS = 16          # the decode scale travels as a bfloat16 (float32 range, 8-bit mantissa)
DQSFW_STEPS = ("classical", "local_line_search")


# -- compression ---------------------------------------------------------------------------------
def bfloat16(x: float) -> float:
    """x rounded to the nearest bfloat16 (the top 16 bits of its float32), returned as a float."""
    b = np.array([x], dtype=np.float32).view(np.uint32)
    b = ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)).astype(np.uint32)
    return float(b.view(np.float32)[0])


@dataclass
class Quantizer:
    """Unbiased stochastic b-bit quantization C of a vector x (D,): scale s = max|x| (rounded up to a
    float32), grid of all 2^b points -s + k 2s/L, L = 2^b - 1 (measured: a finer grid beats keeping an
    exact zero, e.g. b = 2 needs ~25% fewer iterations than {-s, 0, s}); each entry rounds to a neighbouring grid point with the
    probabilities that make E[C(x)] = x. The receiver gets lam * C(x) (see encode). bits = 32:
    identity (no compression)."""

    bits: int

    @property
    def intervals(self) -> int:
        return (1 << self.bits) - 1

    def encode(self, x: np.ndarray, rng: np.random.Generator):
        """A packet: ("raw", x) for b = 32, else ("q", scale, codes (uint8/uint16)).

        decode(packet) = lam * C(x): C unbiased, lam = 1/(1 + omega(x)) with omega(x) = Var C(x) / |x|^2
        (known to the sender before drawing). The damping is what makes the error-feedback update
        zhat += lam C(z - zhat) a contraction (E|e - lam C(e)|^2 = omega/(1+omega) |e|^2) even when
        omega > 1 (few bits); lam is folded into the scale s lam, sent as a bfloat16 (16 bits; its
        rounding, <= 0.4%, only perturbs the damping), so it costs no extra bits."""
        if self.bits == 32:
            return ("raw", np.array(x, float))
        s = float(np.max(np.abs(x))) if x.size else 0.0
        s32 = np.float32(s)
        if float(s32) < s:
            s32 = np.nextafter(s32, np.float32(np.inf))
        s = float(s32)
        L = self.intervals
        draw = rng.random(x.shape)                          # always drawn: a fixed rng consumption
        if not np.isfinite(s):
            raise SolverError("dqsfw diverged: a message left the float32 range (try more bits or gossip_step < 1)")
        if s == 0.0:
            return ("q", 0.0, np.zeros(x.shape, dtype=np.uint8 if self.bits <= 8 else np.uint16))
        u = np.clip((x / s + 1.0) * (0.5 * L), 0.0, L)
        lo = np.minimum(np.floor(u), L)
        frac = u - lo
        codes = lo + (draw < frac)
        var = float(np.sum(frac * (1.0 - frac))) * (2.0 * s / L) ** 2
        xx = float(x @ x)
        lam = xx / (xx + var) if xx > 0 else 1.0
        return ("q", bfloat16(s * lam), codes.astype(np.uint8 if self.bits <= 8 else np.uint16))

    def decode(self, packet) -> np.ndarray:
        if packet[0] == "raw":
            return packet[1]
        _, s, codes = packet
        return (codes.astype(float) * (2.0 / self.intervals) - 1.0) * s

    def cost(self, entries: int) -> int:
        """Bits of one message with `entries` numbers."""
        return 32 * entries if self.bits == 32 else self.bits * entries + SCALE_BITS


# -- packing symmetric matrices ------------------------------------------------------------------
class Packing:
    """Upper-triangle vectors of symmetric (p+1, p+1) matrices: D = (p+1)(p+2)/2 entries."""

    def __init__(self, p: int):
        self.n = p + 1
        self.iu = np.triu_indices(self.n)
        self.D = self.iu[0].size
        pos = np.zeros((self.n, self.n), dtype=np.intp)
        pos[self.iu] = np.arange(self.D)
        self._gather = np.maximum(pos, pos.T)      # (i, j) -> index of (min, max) in the packed vector

    def pack(self, M: np.ndarray) -> np.ndarray:
        return M[self.iu]

    def unpack(self, v: np.ndarray) -> np.ndarray:
        return v[self._gather]


# -- one agent -----------------------------------------------------------------------------------
class Agent:
    """The state of agent k. Xb: (n_k, p) shard of the binary design; y: (n_k,)."""

    def __init__(self, k, Xb, y, seed, lmo, pk: Packing, with_t: bool):
        self.k, self.Xb, self.y = k, Xb, y
        self.rng = np.random.default_rng([seed, k])
        self.lmo = lmo
        size = pk.D + (1 if with_t else 0)
        self.z = np.zeros(size)                 # (Z_k packed, t_k)
        self.S = np.zeros(pk.D)                 # tracker
        self.G_prev = np.zeros(pk.D)
        self.zhat: dict[int, np.ndarray] = {}   # public copies of self and neighbours
        self.phat: dict[int, np.ndarray] = {}
        self.atoms: dict[tuple, int] = {}       # atom -> how often the LMO selected it
        self.bits = 0


def lifted_predict(Xb: np.ndarray, act, Z: np.ndarray) -> np.ndarray:
    """A(Z) = <M(x_i), Z> for the rows of Xb (m, p): shape (m,). Same as lifting.apply_lifted, without
    einsum's path search (which dominates the cost for the small shards of this loop)."""
    p = Xb.shape[1]
    return act.a * np.sum((Xb @ Z[:p, :p]) * Xb, axis=1) + act.b * (Xb @ Z[:p, p]) + act.c * Z[p, p]


def gossip(own: int, nbrs: list[int], W: np.ndarray, hat: dict, eta: float) -> np.ndarray:
    """eta sum_j W_kj (hat_j - hat_own), summed in neighbour order (engine-independent)."""
    out = np.zeros_like(hat[own])
    for j in nbrs:
        out += W[own, j] * (hat[j] - hat[own])
    return eta * out


def _local_step(a: "Agent", pk: Packing, act, x: np.ndarray, v: np.ndarray, value: float, c: float, t_v: float,
                b: float, K: int) -> float:
    """Agent k's exact line search on its surrogate of the global objective: gradient = tracker S_k,
    curvature of L along d = v - x estimated as K |A_k(d)|^2 on its shard (unbiased for a random
    split). gamma = clip(gap_k / curvature, 0, 1), gap_k = <S_k, x> + b t - (c value + b t_v)."""
    X, D = pk.unpack(x), pk.unpack(v - x)
    t = x[-1] if x.size > pk.D else 0.0
    gap_k = float(np.sum(pk.unpack(a.S) * X)) + b * t - (c * value + b * t_v)
    curv = K * float(np.sum(lifted_predict(a.Xb, act, D) ** 2))
    if curv <= 0.0:
        return 1.0 if gap_k > 0 else 0.0
    return float(np.clip(gap_k / curv, 0.0, 1.0))


def shards(n: int, K: int, split: str, seed: int) -> list[np.ndarray]:
    """Row indices of each agent: contiguous blocks or a seeded random partition (sizes differ by <= 1)."""
    if split == "contiguous":
        order = np.arange(n)
    elif split == "random":
        order = np.random.default_rng(seed).permutation(n)
    else:
        raise InvalidProblemError("split", f"must be 'contiguous' or 'random', got {split!r}")
    return [np.sort(part) for part in np.array_split(order, K)]


def _validate(problem, agents, bits, batch, eta, engine, tracking, report_every):
    if engine not in ENGINES:
        raise InvalidProblemError("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
    if agents is not None and (isinstance(agents, bool) or not isinstance(agents, (int, np.integer)) or agents < 1):
        raise InvalidProblemError("agents", f"must be a positive integer, got {agents!r}")
    if agents is not None and agents > problem.n:
        raise InvalidProblemError("agents", f"{agents} agents but only n = {problem.n} samples: every agent needs a shard")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not (1 <= bits <= 16 or bits == 32):
        raise InvalidProblemError("bits", f"must be an integer in 1..16, or 32 for no compression, got {bits!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1):
        raise InvalidProblemError("batch", f"must be a positive integer (minibatch per agent) or None (full shard), got {batch!r}")
    if not (isinstance(eta, (int, float)) and 0 < eta <= 1):
        raise InvalidProblemError("gossip_step", f"must be in (0, 1], got {eta!r}")
    if not isinstance(tracking, bool):
        raise InvalidProblemError("tracking", f"must be True or False, got {tracking!r}")
    if isinstance(report_every, bool) or not isinstance(report_every, (int, np.integer)) or report_every < 1:
        raise InvalidProblemError("report_every", f"must be a positive integer, got {report_every!r}")


# -- the algorithm -------------------------------------------------------------------------------
@dataclass
class DQSFWRun:
    """What dqsfw() returns (identical in every process). atoms: (p, m) +-1 columns selected by the
    LMOs, counts: (m,) how often; zbar: final average lifted iterate (packed, with t)."""

    atoms: np.ndarray
    counts: np.ndarray
    objective: float
    gap: float
    consensus_error: float
    bits: int
    iterations: int
    converged: bool
    timed_out: bool
    lmo_exact: bool
    history: dict
    rank: int
    is_root: bool
    agents: int
    tau: float                   # the final budget
    adaptive_tau: bool
    zbar: np.ndarray             # the final average iterate, packed (upper triangle of Zbar, then tbar)
    comm: object = None          # the Communicator (the backend broadcasts its refit through it)


class _NullBar:
    def update(self, *a, **k):
        pass

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass


def _warm_budget(agent, comm, act, loss, pk, lmo, rng, beta, tau, rounds: int = 12):
    """A valid, much smaller starting budget for the adaptive tau: a few fully-corrective rounds on
    global sufficient statistics (one allgather of Q(w) and one of the atoms' Gram pieces per round;
    the same collectives as the monitoring), i.e. a small network S, alpha with objective J that
    bounds p*. Then frank_wolfe.tau_bound(J, w^T y, |w|^2, rho, beta) >= |alpha*|_1, which tends to
    |alpha*|_1 as the network improves (rho -> beta). Returns (J, tau)."""
    from ..lasso import _feature_sign

    S = np.zeros((pk.n - 1, 0))
    alpha = np.zeros(0)
    best_J, best_tau = np.inf, tau
    for _ in range(rounds):
        local = {}
        for k, a in agent.items():
            Phi = neuron_outputs(a.Xb, act, S)
            w = loss.gradient(Phi @ alpha, a.y)
            local[k] = np.concatenate([[loss.value(Phi @ alpha, a.y), float(w @ a.y), float(w @ w)],
                                       pk.pack(q_matrix(a.Xb, act, w))])
        tot = np.sum(comm.allgather(local), axis=0)
        s_new, value = lmo(pk.unpack(tot[3:]), rng)
        J = float(tot[0]) + beta * float(np.abs(alpha).sum())
        best_J = min(best_J, J)
        best_tau = min(best_tau, tau_bound(best_J, float(tot[1]), float(tot[2]), abs(float(value)), beta))
        if abs(value) <= beta * (1 + 1e-6):
            break
        S = np.hstack([S, s_new[:, None]])
        local = {}
        for k, a in agent.items():
            Phi = neuron_outputs(a.Xb, act, S)
            local[k] = np.concatenate([(Phi.T @ Phi).ravel(), Phi.T @ a.y])
        tot = np.sum(comm.allgather(local), axis=0)
        m = S.shape[1]
        alpha = _feature_sign(tot[:m * m].reshape(m, m), tot[m * m:], beta, np.append(alpha, 0.0))
    return best_J, best_tau


def dqsfw(problem: QNNProblem, agents: int | None = None, graph="ring", engine: str = "inprocess",
          bits: int = 32, tracking: bool = True, form: str = "penalized", tau: float | str | None = None,
          lmo: str = "auto", batch: int | None = None, split: str = "contiguous", gossip_step: float = 1.0,
          max_iter: int = 1000, tol: float = 1e-6, time_limit: float | None = None, seed: int = 0,
          report_every: int = 1, history: bool = False, step: str = "classical") -> DQSFWRun:
    """Run DQSFW (module docstring). Returns the same DQSFWRun in every process.

    agents: K (default 4 in-process; the MPI world size under engine="mpi"). graph: comm.build_graph.
    bits: 1..16, or 32 for no compression. tracking: gradient tracking on/off (off: S_k = K G_k, no
    tracker messages). form/tau: as frank_wolfe(); tau=None is "adaptive" (penalized form, exact LMO):
    it starts at L(0)/beta and shrinks to frank_wolfe.tau_bound at every report, computed from the
    monitoring reduction (so every agent agrees); with a loose start it only tightens once the average
    iterate is good -- classical-step FW with tau >> |alpha*|_1 is slow, pass a tau when you know one.
    lmo: "exact" | "heuristic" | "auto". batch: minibatch per agent (None: full shard). split:
    "contiguous" | "random" (seeded). gossip_step: eta. step: "classical" (gamma_t = 2/(t+2)) or
    "local_line_search" (experimental: each agent's exact line search on its surrogate -- tracker as
    gradient, K |A_k d|^2 as curvature; fast with a tight tau, unstable with a loose one).
    Stops when the relative FW gap of the average iterate, gap/max(|F|, 1e-12), is <= tol (checked
    every `report_every` iterations), after max_iter iterations or time_limit s (decided collectively).

    The reported FW gap is <grad F(Zbar), Zbar - V> on ALL data at the average iterate Zbar (full
    gradient, LMO of the kind chosen by `lmo`): with the exact LMO it bounds F(Zbar) - F*, F the
    objective of `form` (frank_wolfe.py): L + beta t (penalized) or L (bounded).
    """
    check_common_options(form, tau, None, max_iter, tol, time_limit)
    if step not in DQSFW_STEPS:
        raise InvalidProblemError("step", f"must be one of {', '.join(DQSFW_STEPS)}, got {step!r}")
    _validate(problem, agents, bits, batch, gossip_step, engine, tracking, report_every)
    loss = problem.loss
    if not isinstance(loss, SquaredLoss):
        raise UnsupportedProblemError(f"dqsfw supports the squared loss only (got {loss.name})")
    if engine == "mpi":
        world = mpi_world_size()
        K = agents if agents is not None else (world or 1)
    else:
        K = agents if agents is not None else 4
    if K > problem.n:
        raise InvalidProblemError("agents", f"{K} agents but only n = {problem.n} samples")
    G = build_graph(graph, K, seed)
    comm = make_communicator(engine, G)
    Xb_all = problem.binary_design()
    act, beta = problem.activation, problem.beta
    p = Xb_all.shape[1]
    pk = Packing(p)
    b = penalty_weight(beta, form)
    with_t = form == "penalized"
    quant = Quantizer(int(bits))
    rows = shards(problem.n, K, split, seed)
    agent = {k: Agent(k, Xb_all[rows[k]], problem.y[rows[k]], seed, make_lmo(lmo, p, act.is_even), pk, with_t)
             for k in comm.hosted}
    report_lmo = make_lmo(lmo, p, act.is_even)
    # tau=None: "adaptive" when it is valid (penalized form, exact LMO), else the safe L(0)/beta
    adaptive = tau == "adaptive" or (tau is None and form == "penalized" and report_lmo.exact)
    tau = default_tau(problem) if tau is None or adaptive else float(tau)
    if adaptive and not report_lmo.exact:
        raise InvalidProblemError("tau", "'adaptive' needs the exact LMO (it relies on rho being certified)")
    report_rng = np.random.default_rng([seed, K])         # only the (heuristic) report LMO uses it
    W, nbrs = comm.W, comm.neighbours
    zmsg_bits = quant.cost(pk.D + (1 if with_t else 0))
    smsg_bits = quant.cost(pk.D) if tracking else 0
    hist = {k: [] for k in HISTORY_KEYS}
    best_dual = -np.inf
    start = time.perf_counter()
    state = {"obj": np.nan, "gap": np.nan, "cons": np.nan, "bits": 0, "tau": tau, "ub": np.inf, "zbar": None}
    if adaptive:
        state["ub"], state["tau"] = _warm_budget(agent, comm, act, loss, pk, report_lmo, report_rng, beta, tau)

    def report():
        """Monitoring at the average iterate on all data (collective: every process calls it)."""
        nonlocal best_dual
        zbar = comm.allreduce_sum({k: a.z for k, a in agent.items()}) / K
        state["zbar"] = zbar
        Zbar, tbar = pk.unpack(zbar), (zbar[-1] if with_t else 0.0)
        local = {}
        for k, a in agent.items():
            pred = lifted_predict(a.Xb, act, Zbar)
            w = loss.gradient(pred, a.y)
            cons_k = float(np.linalg.norm(pk.unpack(a.z) - Zbar))
            local[k] = np.concatenate([[loss.value(pred, a.y), a.bits, cons_k, w @ a.y, w @ w],
                                       pk.pack(q_matrix(a.Xb, act, w))])
        gathered = comm.allgather(local)
        total = np.zeros_like(gathered[0])
        for v in gathered:
            total += v
        Qbar = pk.unpack(total[5:])
        s, value = report_lmo(Qbar, report_rng)
        obj = total[0] + b * tbar
        if adaptive:
            # the average iterate is a network with |alpha|_1 <= tbar, so obj >= p*_inf: shrink tau to
            # the certified bound on |alpha*|_1 (frank_wolfe.tau_bound); every process computes the same
            state["ub"] = min(state["ub"], float(obj))
            state["tau"] = min(state["tau"], tau_bound(state["ub"], total[3], total[4], abs(value), beta))
        c, t_v = vertex(value, state["tau"], beta, form)
        gap = fw_gap(float(np.sum(Qbar * Zbar)), tbar, value, c, t_v, beta, form)
        if not np.isfinite(obj):
            raise SolverError("dqsfw diverged: the average iterate's objective is not finite (try more bits or gossip_step < 1)")
        best_dual = max(best_dual, obj - gap)
        state.update(obj=float(obj), gap=float(gap), cons=float(max(v[2] for v in gathered)), bits=int(total[1]))
        if history:
            rel = gap / max(abs(obj), 1e-12)
            for key, val in zip(HISTORY_KEYS, (obj, gap, rel, best_dual, state["cons"], state["bits"], state["tau"],
                                               time.perf_counter() - start)):
                hist[key].append(val)
        return gap <= tol * max(abs(obj), 1e-12)

    bar = progress(total=max_iter, desc=f"dqsfw ({K} agents, {bits} bits)", unit="it") if comm.is_root else _NullBar()
    converged = timed_out = False
    it = 0
    try:
        for it in range(max_iter):
            if it % report_every == 0:
                converged = report()
                bar.set_postfix(obj=f"{state['obj']:.6g}", gap=f"{state['gap']:.2e}", cons=f"{state['cons']:.1e}", refresh=False)
                if converged:
                    break
            if time_limit is not None:
                late = comm.allgather({k: time.perf_counter() - start > time_limit for k in agent})
                if any(late):                      # a collective decision: no process is left waiting
                    timed_out = True
                    break
            gamma = 2.0 / (it + 2.0)
            # 1. gossip of iterates (compressed differences to the public copies)
            out = {}
            for k, a in agent.items():
                out[k] = quant.encode(a.z - a.zhat.get(k, 0.0), a.rng)
            inbox = comm.exchange(out)
            x = {}
            for k, a in agent.items():
                for j, packet in zip([k] + nbrs[k], [out[k]] + inbox[k]):
                    a.zhat[j] = a.zhat.get(j, 0.0) + quant.decode(packet)
                a.bits += len(nbrs[k]) * zmsg_bits
                x[k] = a.z + gossip(k, nbrs[k], W, a.zhat, gossip_step)
            # 2. local (minibatch) gradients
            grads = {}
            for k, a in agent.items():
                Xk, yk = a.Xb, a.y
                if batch is not None and batch < Xk.shape[0]:
                    idx = np.sort(a.rng.choice(Xk.shape[0], batch, replace=False))
                    Xk, yk, scale = Xk[idx], yk[idx], Xk.shape[0] / batch
                else:
                    scale = 1.0
                w = loss.gradient(lifted_predict(Xk, act, pk.unpack(x[k])), yk) * scale
                grads[k] = pk.pack(q_matrix(Xk, act, w))
            # 3. gradient tracking (compressed like the iterates)
            if tracking:
                P, out = {}, {}
                for k, a in agent.items():
                    P[k] = a.S + K * (grads[k] - a.G_prev)
                    out[k] = quant.encode(P[k] - a.phat.get(k, 0.0), a.rng)
                inbox = comm.exchange(out)
                for k, a in agent.items():
                    for j, packet in zip([k] + nbrs[k], [out[k]] + inbox[k]):
                        a.phat[j] = a.phat.get(j, 0.0) + quant.decode(packet)
                    a.bits += len(nbrs[k]) * smsg_bits
                    a.S = P[k] + gossip(k, nbrs[k], W, a.phat, gossip_step)
                    a.G_prev = grads[k]
            else:
                for k, a in agent.items():
                    a.S = K * grads[k]
            # 4.-5. LMO on the tracker and the FW step
            for k, a in agent.items():
                s, value = a.lmo(pk.unpack(a.S), a.rng)
                c, t_v = vertex(value, state["tau"], beta, form)
                v = np.zeros_like(a.z)
                if c != 0.0:
                    st = np.append(s, 1.0)
                    v[:pk.D] = c * pk.pack(np.outer(st, st))
                    key = tuple(s)
                    a.atoms[key] = a.atoms.get(key, 0) + 1
                if with_t:
                    v[-1] = t_v
                g_k = gamma
                if step == "local_line_search":
                    g_k = _local_step(a, pk, act, x[k], v, value, c, t_v, b, K)
                a.z = (1.0 - g_k) * x[k] + g_k * v
            bar.update()
        else:
            it = max_iter
            converged = report()
    except Exception as exc:
        if engine == "mpi" and K > 1 and not isinstance(exc, InvalidProblemError):
            # an error in one rank would leave its neighbours blocked in the next collective forever
            import sys
            print(f"dqsfw rank {comm.rank}: {type(exc).__name__}: {exc}; aborting all ranks", file=sys.stderr, flush=True)
            comm.comm.Abort(2)
        raise
    finally:
        bar.close()
    iterations = it
    # the atoms of all agents, merged in a fixed order (identical in every process)
    merged: dict[tuple, int] = {}
    for atoms in comm.allgather({k: a.atoms for k, a in agent.items()}):
        for key, cnt in atoms.items():
            merged[key] = merged.get(key, 0) + cnt
    keys = sorted(merged)
    S = np.array(keys, float).T if keys else np.zeros((p, 0))
    return DQSFWRun(S, np.array([merged[k_] for k_ in keys], float), state["obj"], state["gap"], state["cons"],
                    state["bits"], iterations, converged, timed_out, report_lmo.exact,
                    hist if history else {}, comm.rank, comm.is_root, K, state["tau"], adaptive, state["zbar"], comm)


@register
class DQSFWBackend(Backend):
    name = "dqsfw"
    exact = False
    requires = ("networkx",)
    description = "decentralized quantized stochastic Frank-Wolfe (K agents, gossip, gradient tracking), final exact alpha refit"

    def supports(self, problem: QNNProblem):
        if not isinstance(problem.loss, SquaredLoss):
            return False, "the dqsfw backend needs the squared loss"
        return True, ""

    def solve(self, problem: QNNProblem, agents: int | None = None, graph="ring", engine: str = "inprocess",
              bits: int = 32, tracking: bool = True, form: str = "penalized", tau: float | str | None = None,
              lmo: str = "auto", batch: int | None = None, split: str = "contiguous", gossip_step: float = 1.0,
              max_iter: int = 1000, tol: float = 1e-6, time_limit: float | None = None, seed: int = 0,
              report_every: int = 1, history: bool = False, step: str = "classical", plot: str | None = None,
              **options) -> Result:
        """Options as dqsfw(); plot: file name for a convergence figure (root process only).

        Under engine="mpi" EVERY rank returns the same Result (the root refits alpha and broadcasts
        it); info["mpi_rank"] tells the caller which process it is in: only rank 0 should print or
        write files.
        """
        if options:
            raise InvalidProblemError(next(iter(options)), "unknown option for the dqsfw backend (known: agents, graph, engine, bits, tracking, form, tau, lmo, batch, split, gossip_step, max_iter, tol, time_limit, seed, report_every, history, step, plot)")
        start = time.perf_counter()
        run = dqsfw(problem, agents, graph, engine, bits, tracking, form, tau, lmo, batch, split, gossip_step,
                    max_iter, tol, time_limit, seed, report_every, history or plot is not None, step)
        comm = run.comm
        final = None
        if comm.is_root:
            network, w, _ = refit_network(problem, run.atoms, run.counts)
            # the gradient at the agents' average iterate is a second candidate dual point
            Zbar = Packing(problem.binary_dim).unpack(run.zbar)
            wbar = problem.loss.gradient(lifted_predict(problem.binary_design(), problem.activation, Zbar), problem.y)
            w, lb, rho = best_dual_point(problem, [w, wbar])
            final = (network.U, network.alpha, w, lb, rho)
            if plot is not None:
                plot_convergence(run.history, plot, title=f"dqsfw: {run.agents} agents, {graph}, b={bits}", x="bits")
        U, alpha, w, lb, rho = comm.bcast(final)
        network = QuantizedNetwork(U, alpha)
        status = (Status.TIME_LIMIT if run.timed_out else
                  Status.OPTIMAL if run.converged and run.lmo_exact and form == "penalized" else Status.FEASIBLE)
        info = {"fw_gap": run.gap, "fw_objective": run.objective,
                "relative_fw_gap": run.gap / max(abs(run.objective), 1e-12), "consensus_error": run.consensus_error,
                "bits_sent": run.bits, "agents": run.agents, "graph": graph if isinstance(graph, str) else "custom",
                "engine": engine, "bits": bits, "tracking": tracking, "form": form,
                "tau": run.tau, "adaptive_tau": run.adaptive_tau, "step": step,
                "lmo": "exact" if run.lmo_exact else "heuristic", "gap_is_certified": run.lmo_exact,
                "atoms_found": int(run.atoms.shape[1]), "mpi_rank": run.rank}
        return fw_result(self.name, problem, status, network, lb, w, rho, info, run, history or plot is not None, start)
