"""Decentralized quantized stochastic Frank-Wolfe (docs/math.md §10; Xian, Huang, Huang, AAAI 2021).

K agents on a connected graph (comm.build_graph), agent k holding a shard of the samples (rows of
the binary design Xb, shape (n_k, p)). Every agent keeps a lifted iterate z_k = (Z_k, t_k) (Z_k
symmetric (p+1, p+1); t_k the epigraph coordinate of the penalized form, fw/steps.py) and a
gradient tracker S_k ((p+1, p+1), an estimate of the GLOBAL gradient Q(grad L) = sum_j G_j).
Iteration t (gamma_t = 2/(t+2), the classical FW schedule; eta = gossip step):

    1. gossip of iterates:  x_k = z_k + eta sum_j W_kj (zhat_j - zhat_k)
    2. local gradient:      G_k = Q_k(grad L_k(A_k x_k))  on agent k's shard (or a minibatch of
                            it, scaled by n_k/|B|: unbiased)
    3. tracking:            P_k = S_k + K (G_k - G_k^prev);   S_k = P_k + eta sum_j W_kj (phat_j - phat_k)
                            (tracking=False: S_k = K G_k, no tracker messages)
    4. LMO:                 (s_k, value) = pricing oracle on S_k; vertex (c, t_v) as in steps.vertex
    5. FW step:             z_k = (1 - gamma_t) x_k + gamma_t (c s~ s~^T, t_v)

W: Metropolis weights. Messages are compressed with error feedback (compression.py): zhat_k, phat_k
are public copies. With b = 32 (no compression) and eta = 1, zhat = z and step 1 is exactly
x_k = sum_j W_kj z_j. Because W is doubly stochastic, steps 1 and 3 preserve the agents' averages
whatever the compression does: mean_k S_k = sum_k G_k (tracking is exact on average) and the
average iterate Zbar follows the centralized FW recursion with the average vertex, so it stays
feasible.

Message cost: compression.Quantizer.cost per message; a symmetric matrix travels as its upper
triangle, D = (p+1)(p+2)/2 entries (+1 for t). bits_sent counts every message on every directed
edge (agent k's broadcast costs deg_k copies). Reporting reductions (objective, gap, consensus
error) are monitoring, not part of the algorithm, and are not counted.

Randomness: agent k draws everything (minibatches, quantization, heuristic LMO starts) from its own
np.random.default_rng([seed, k]) in a fixed order, so the in-process and MPI engines give the same
iterates bit for bit.

MPI (engine="mpi", `mpiexec -n K`): rank k hosts agent k. Every rank must call dqsfw() (the loop is
collective) and every rank gets the same DQSFWRun. Every process is given the whole problem but
only touches its shard inside the loop. The progress bar shows on rank 0 only. An unexpected error
in one rank aborts all ranks (Communicator.abort) instead of leaving the others blocked.

Measured (benchmarks/dqsfw_bits.py): with few bits the gap often closes in FEWER iterations than
without compression -- quantization noise diversifies the agents' LMO atoms, which damps FW's
zig-zag -- so 2-bit messages reach a relative gap of 1e-3 with 5-80x fewer bits than 32-bit ones.
Budget: classical-step FW needs tau close to |alpha*|_1; the safe tau = L(0)/beta (or the
certified bound steps.tau_bound while rho >> beta) can be a hundred times larger, and then 1000
iterations give a valid but loose certificate. So the default (adaptive) budget starts at the warm
network's |alpha|_1 and doubles only when the report proves it binding (docs/math.md §10): every
budget used is < 2 |alpha*|_1 or the certified bound. E.g. synthetic:n=400,d=10,seed=2 on a ring
(4 agents, 1000 iterations): relative gap 0.99 with tau = 11.7, 4e-12 with the doubling scheme.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...checks import check_choice, check_positive_int, check_unit_fraction
from ...errors import InvalidProblemError, SolverError
from ...gaps import relative_gap
from ...losses import quadratic_model
from ...lifting import q_matrix
from ...problem import QNNProblem
from ...progress import progress
from ..centralized import require_smooth_loss
from ..lmo import make_lmo
from ..steps import (DQSFW_STEPS, RunOutcome, check_common, classical_step, default_tau, fw_gap, line_search_step,
                     penalty_weight, tau_bound, vertex)
from .comm import ENGINES, Communicator, build_graph, make_communicator, mpi_world_size
from .compression import Packing, Quantizer
from .state import AgentState, RunState, Setup
from .warm_start import warm_budget

HISTORY_KEYS = ("objective", "fw_gap", "relative_gap", "dual_bound", "consensus_error", "bits", "tau", "seconds")
SPLITS = ("contiguous", "random")


@dataclass
class DQSFWRun(RunOutcome):
    """What dqsfw() returns (identical in every process). status: "converged" | "iteration_limit" |
    "time_limit". atoms: (p, m) +-1 columns selected by the LMOs, counts: (m,) how often;
    objective, gap, consensus_error, bits: at the last report; zbar: the final average lifted
    iterate, packed (upper triangle of Zbar, then tbar)."""

    status: str
    atoms: np.ndarray
    counts: np.ndarray
    objective: float
    gap: float
    consensus_error: float
    bits: int
    iterations: int
    lmo_exact: bool
    history: dict
    rank: int
    is_root: bool
    agents: int
    tau: float                   # the final budget
    adaptive_tau: bool
    zbar: np.ndarray
    comm: Communicator | None = None    # the callers broadcast their results through it
    tau_bound: float = np.inf    # adaptive tau: the proven bound on |alpha*|_1 (the budget never exceeds it)
    doublings: int = 0           # adaptive tau: how often the budget doubled
    dual_bound: float = -np.inf  # the best certified lower bound on p* seen at the reports


# -- pieces of one iteration ---------------------------------------------------------------------
def lifted_predict(Xb: np.ndarray, act, Z: np.ndarray) -> np.ndarray:
    """A(Z) = <M(x_i), Z> for the rows of Xb (m, p): shape (m,). Same as lifting.apply_lifted, without
    einsum's path search (which dominates the cost for the small shards of this loop)."""
    p = Xb.shape[1]
    return act.a * np.sum((Xb @ Z[:p, :p]) * Xb, axis=1) + act.b * (Xb @ Z[:p, p]) + act.c * Z[p, p]


def shards(n: int, K: int, split: str, seed: int) -> list[np.ndarray]:
    """Row indices of each agent: contiguous blocks or a seeded random partition (sizes differ by <= 1)."""
    check_choice("split", split, SPLITS)
    order = np.arange(n) if split == "contiguous" else np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, K)]


def gossip_iterates(st: Setup, comm: Communicator, agents: dict[int, AgentState]) -> dict[int, np.ndarray]:
    """Step 1: every agent broadcasts its compressed iterate difference and mixes the public copies."""
    out = {k: a.zhat.message(st.quant, k, a.z, a.rng) for k, a in agents.items()}
    inbox = comm.exchange(out)
    x = {}
    for k, a in agents.items():
        for j, packet in zip([k] + st.nbrs[k], [out[k]] + inbox[k]):
            a.zhat.receive(st.quant, j, packet)
        a.bits += len(st.nbrs[k]) * st.zmsg_bits
        x[k] = a.z + a.zhat.mix(k, st.nbrs[k], st.W, st.eta)
    return x


def local_gradients(st: Setup, agents: dict[int, AgentState], x: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Step 2: G_k = Q_k(grad L_k(A_k x_k)) (packed) on the shard or an unbiased minibatch of it."""
    grads = {}
    for k, a in agents.items():
        Xk, yk = a.Xb, a.y
        if st.batch is not None and st.batch < Xk.shape[0]:
            idx = np.sort(a.rng.choice(Xk.shape[0], st.batch, replace=False))
            Xk, yk, scale = Xk[idx], yk[idx], Xk.shape[0] / st.batch
        else:
            scale = 1.0
        w = st.loss.gradient(lifted_predict(Xk, st.act, st.pk.unpack(x[k])), yk) * scale
        grads[k] = st.pk.pack(q_matrix(Xk, st.act, w))
    return grads


def track_gradients(st: Setup, comm: Communicator, agents: dict[int, AgentState], grads: dict[int, np.ndarray]) -> None:
    """Step 3: gradient tracking, the tracker messages compressed like the iterates."""
    if not st.tracking:
        for k, a in agents.items():
            a.S = st.K * grads[k]
        return
    P, out = {}, {}
    for k, a in agents.items():
        P[k] = a.S + st.K * (grads[k] - a.G_prev)
        out[k] = a.phat.message(st.quant, k, P[k], a.rng)
    inbox = comm.exchange(out)
    for k, a in agents.items():
        for j, packet in zip([k] + st.nbrs[k], [out[k]] + inbox[k]):
            a.phat.receive(st.quant, j, packet)
        a.bits += len(st.nbrs[k]) * st.smsg_bits
        a.S = P[k] + a.phat.mix(k, st.nbrs[k], st.W, st.eta)
        a.G_prev = grads[k]


def local_line_search(st: Setup, a: AgentState, x: np.ndarray, v: np.ndarray, value: float, c: float,
                      t_v: float) -> float:
    """Agent k's exact line search on its surrogate of the global objective: gradient = tracker S_k,
    curvature of L along d = v - x estimated as kappa K |A_k(d)|^2 on its shard (unbiased for a
    random split); gap_k = <S_k, x> + b t - (c value + b t_v)."""
    X, D = st.pk.unpack(x), st.pk.unpack(v - x)
    t = x[-1] if x.size > st.pk.D else 0.0
    gap_k = float(np.sum(st.pk.unpack(a.S) * X)) + st.b * t - (c * value + st.b * t_v)
    curv = st.kappa * (st.K * float(np.sum(lifted_predict(a.Xb, st.act, D) ** 2)))
    return line_search_step(gap_k, curv)


def fw_steps(st: Setup, agents: dict[int, AgentState], x: dict[int, np.ndarray], gamma: float, tau: float) -> None:
    """Steps 4-5: each agent's LMO on its tracker and its FW step from the mixed iterate x_k."""
    for k, a in agents.items():
        s, value = a.lmo(st.pk.unpack(a.S), a.rng)
        c, t_v = vertex(value, tau, st.beta, st.form)
        v = np.zeros_like(a.z)
        if c != 0.0:
            s1 = np.append(s, 1.0)
            v[:st.pk.D] = c * st.pk.pack(np.outer(s1, s1))
            key = tuple(s)
            a.atoms[key] = a.atoms.get(key, 0) + 1
        if st.with_t:
            v[-1] = t_v
        g_k = local_line_search(st, a, x[k], v, value, c, t_v) if st.step == "local_line_search" else gamma
        a.z = (1.0 - g_k) * x[k] + g_k * v


def report(st: Setup, comm: Communicator, agents: dict[int, AgentState], state: RunState, seconds: float,
           keep_history: bool) -> dict:
    """Monitoring at the average iterate on all data (collective: every process calls it). Updates
    `state` and returns this report's record (HISTORY_KEYS)."""
    zbar = comm.allreduce_sum({k: a.z for k, a in agents.items()}) / st.K
    state.zbar = zbar
    Zbar, tbar = st.pk.unpack(zbar), (zbar[-1] if st.with_t else 0.0)
    local = {}
    for k, a in agents.items():
        pred = lifted_predict(a.Xb, st.act, Zbar)
        w = st.loss.gradient(pred, a.y)
        cons_k = float(np.linalg.norm(st.pk.unpack(a.z) - Zbar))
        wt = w @ a.target if a.target is not None else 0.0
        local[k] = np.concatenate([[st.loss.value(pred, a.y), a.bits, cons_k, wt, w @ w],
                                   st.pk.pack(q_matrix(a.Xb, st.act, w))])
    gathered = comm.allgather(local)
    total = np.zeros_like(gathered[0])
    for v in gathered:
        total += v
    Qbar = st.pk.unpack(total[5:])
    s, value = st.report_lmo(Qbar, st.report_rng)
    obj = total[0] + st.b * tbar
    if st.adaptive:
        # the average iterate is a network with |alpha|_1 <= tbar, so obj >= p*_inf: shrink the proven
        # bound on |alpha*|_1 (steps.tau_bound) and keep the budget below it; every process computes the same
        state.ub = min(state.ub, float(obj))
        state.cap = min(state.cap, tau_bound(state.ub, total[3], total[4], abs(value), st.beta, st.kappa, st.c0))
        state.tau = min(state.tau, state.cap)
    c, t_v = vertex(value, state.tau, st.beta, st.form)
    gap = fw_gap(float(np.sum(Qbar * Zbar)), tbar, value, c, t_v, st.beta, st.form)
    if not np.isfinite(obj):
        raise SolverError("dqsfw diverged: the average iterate's objective is not finite (try more bits or gossip_step < 1)")
    state.tbar, state.phase_gap = float(tbar), relative_gap(obj, obj - gap)
    if not st.adaptive:
        state.best_dual = max(state.best_dual, obj - gap)
        rel = state.phase_gap
    else:
        # obj - gap bounds p* only when the budget is proven >= |alpha*|_1 (docs/math.md §10); a
        # doubling phase's budget may be smaller, so the scaling lemma at w = grad L(A Zbar) (rho = |value|
        # certified by the exact LMO) is the bound that is valid at every budget
        if state.tau >= state.cap:
            state.best_dual = max(state.best_dual, obj - gap)
        state.best_dual = max(state.best_dual, _scaled_dual_bound(total[3], total[4], abs(value), st))
        rel = relative_gap(obj, state.best_dual)
    state.objective, state.gap = float(obj), float(gap)
    state.consensus_error, state.bits = float(max(v[2] for v in gathered)), int(total[1])
    record = dict(zip(HISTORY_KEYS, (obj, gap, rel, state.best_dual, state.consensus_error,
                                     state.bits, state.tau, seconds)))
    if keep_history:
        for key, val in record.items():
            state.history[key].append(val)
    return record


def _scaled_dual_bound(wt: float, ww: float, rho: float, st: Setup) -> float:
    """The scaling lemma's lower bound on p*_inf for the quadratic loss kappa/2 |v - t|^2 + c0, from
    any w through wt = w^T t, ww = |w|^2 and rho = max_u |phi_u^T w| (certified):
    max_{0 <= s <= beta/rho} c0 - s w^T t - s^2 |w|^2 / (2 kappa) (docs/math.md §4)."""
    smax = np.inf if rho <= 0 else st.beta / rho
    s = 0.0 if ww <= 0 else float(np.clip(-st.kappa * wt / ww, 0.0, smax))
    return float(-s * wt - s * s * ww / (2 * st.kappa) + st.c0)


# -- the algorithm -------------------------------------------------------------------------------
def check_options(agents, bits, batch, gossip_step, engine, split, tracking, report_every) -> None:
    """The options only dqsfw has; each error names its option."""
    check_choice("engine", engine, ENGINES)
    check_choice("split", split, SPLITS)
    check_positive_int("agents", agents, allow_none=True)
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not (1 <= bits <= 16 or bits == 32):
        raise InvalidProblemError("bits", f"must be an integer in 1..16, or 32 for no compression, got {bits!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1):
        raise InvalidProblemError("batch", f"must be a positive integer (minibatch per agent) or None (full shard), got {batch!r}")
    check_unit_fraction("gossip_step", gossip_step, "1: plain gossip averaging")
    if not isinstance(tracking, bool):
        raise InvalidProblemError("tracking", f"must be True or False, got {tracking!r}")
    check_positive_int("report_every", report_every)


class _NullBar:
    """The progress bar of the processes other than the root."""

    def update(self, *a, **k):
        pass

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass


def dqsfw(problem: QNNProblem, agents: int | None = None, graph="ring", engine: str = "inprocess",
          bits: int = 32, tracking: bool = True, form: str = "penalized", tau: float | str | None = None,
          lmo: str = "auto", batch: int | None = None, split: str = "contiguous", gossip_step: float = 1.0,
          max_iter: int = 1000, tol: float = 1e-6, time_limit: float | None = None, seed: int = 0,
          report_every: int = 1, history: bool = False, step: str = "classical",
          callback: Callable[[int, dict], None] | None = None) -> DQSFWRun:
    """Run DQSFW (module docstring). Returns the same DQSFWRun in every process.

    agents: K (default 4 in-process; the MPI world size under engine="mpi"). graph: comm.build_graph.
    bits: 1..16, or 32 for no compression. tracking: gradient tracking on/off (off: S_k = K G_k, no
    tracker messages). form/tau: as centralized.frank_wolfe(); tau=None is "adaptive" (penalized
    form, exact LMO, quadratic loss): warm_budget gives a network and a certified bound on
    |alpha*|_1 (shrunk by steps.tau_bound at every report); the budget starts at that network's
    |alpha|_1 and doubles (capped by the bound) whenever a report proves it binding, i.e.
    objective - FW gap > the best network objective seen; all computed from the monitoring
    reduction, so every agent agrees. In this mode the reported relative gap (and the stopping
    test) uses the best certified lower bound (obj - gap once tau reached the bound, and the
    scaling-lemma bound at every report).
    lmo: "exact" | "heuristic" | "auto". batch: minibatch per agent (None: full shard). split:
    "contiguous" | "random" (seeded). gossip_step: eta. step: "classical" (gamma_t = 2/(t+2)) or
    "local_line_search" (experimental: each agent's exact line search on its surrogate -- tracker as
    gradient, kappa K |A_k d|^2 as curvature; fast with a tight tau, unstable with a loose one).
    Stops when the relative FW gap of the average iterate (gaps.relative_gap of F and F - gap) is
    <= tol (checked every `report_every` iterations), after max_iter iterations or time_limit s
    (decided collectively). history: keep per-report lists HISTORY_KEYS; callback(iteration,
    record): called at every report with a dict of HISTORY_KEYS (in every process).

    The reported FW gap is <grad F(Zbar), Zbar - V> on ALL data at the average iterate Zbar (full
    gradient, LMO of the kind chosen by `lmo`): with the exact LMO it bounds F(Zbar) - F*, F the
    objective of `form`: L + beta t (penalized) or L (bounded).
    """
    check_common(form, tau, step, DQSFW_STEPS, lmo, max_iter, tol, time_limit, seed)
    check_options(agents, bits, batch, gossip_step, engine, split, tracking, report_every)
    if agents is not None and agents > problem.n:
        raise InvalidProblemError("agents", f"{agents} agents but only n = {problem.n} samples: every agent needs a shard")
    loss = problem.loss
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
    with_t = form == "penalized"
    quant = Quantizer(int(bits))
    rows = shards(problem.n, K, split, seed)
    report_lmo = make_lmo(lmo, p, act.is_even)
    require_smooth_loss(loss, problem.y, "dqsfw")
    quadratic = loss.quadratic(problem.y) is not None
    # tau=None: "adaptive" when it is valid (penalized form, exact LMO, quadratic loss: warm_budget
    # and the shared report use its closed forms), else the safe L(0)/beta
    adaptive = tau == "adaptive" or (tau is None and form == "penalized" and report_lmo.exact and quadratic)
    if adaptive and not report_lmo.exact:
        raise InvalidProblemError("tau", "'adaptive' needs the exact LMO (it relies on rho being certified)")
    kappa, c0 = 1.0, 0.0
    if adaptive or step == "local_line_search":
        kappa, _, c0 = quadratic_model(loss, problem.y, "dqsfw's tau='adaptive'" if adaptive
                                       else "dqsfw's step='local_line_search'")
    tau = default_tau(problem) if tau is None or adaptive else float(tau)

    def target(k):
        model = loss.quadratic(problem.y[rows[k]])
        return None if model is None else model[1]

    agent = {k: AgentState.start(k, Xb_all[rows[k]], problem.y[rows[k]], target(k), seed,
                                 make_lmo(lmo, p, act.is_even), pk, with_t)
             for k in comm.hosted}
    st = Setup(K=K, act=act, loss=loss, beta=beta, form=form, b=penalty_weight(beta, form), with_t=with_t, pk=pk,
               quant=quant, W=comm.W, nbrs=comm.neighbours, eta=gossip_step, batch=batch, tracking=tracking,
               step=step, adaptive=adaptive, kappa=kappa, c0=c0,
               zmsg_bits=quant.cost(pk.D + (1 if with_t else 0)), smsg_bits=quant.cost(pk.D) if tracking else 0,
               report_lmo=report_lmo, report_rng=np.random.default_rng([seed, K]))  # only a heuristic report LMO draws
    start = time.perf_counter()
    state = RunState(tau=tau, history={key: [] for key in HISTORY_KEYS})
    doublings = 0
    if adaptive:
        # start from the warm network's |alpha|_1 (a budget feasible for it, usually close to
        # |alpha*|_1, where classical-step FW is fast; L(0)/beta-sized budgets make it crawl) and
        # double only while the budget is proven binding, never above the proven bound state.cap
        # (with which the FW gap certifies J - p*). Each budget is < 2 |alpha*|_1 or = state.cap.
        state.ub, state.cap, l1 = warm_budget(problem, st, comm, agent, tau)
        state.tau = min(state.cap, l1) if l1 > 0 else state.cap

    def monitor(iteration: int) -> bool:
        record = report(st, comm, agent, state, time.perf_counter() - start, history)
        if callback is not None:
            callback(iteration, record)
        return record["relative_gap"] <= tol

    bar = progress(total=max_iter, desc=f"dqsfw ({K} agents, {bits} bits)", unit="it") if comm.is_root else _NullBar()
    status = "iteration_limit"
    it = 0
    try:
        for it in range(max_iter):
            if it % report_every == 0:
                converged = monitor(it)
                bar.set_postfix(obj=f"{state.objective:.6g}", gap=f"{state.gap:.2e}",
                                cons=f"{state.consensus_error:.1e}", refresh=False)
                if converged:
                    status = "converged"
                    break
                if adaptive and state.tau < state.cap and state.objective - state.gap > state.ub * (1 + 1e-9) + 1e-12:
                    # proven binding: objective - gap bounds the budget's optimum F_tau* from below and
                    # exceeds a network's objective ub >= p*, so every minimiser has |alpha*|_1 > tau.
                    # Double (never above the proven bound); the iterate (tbar <= tau) stays feasible,
                    # so FW continues warm from it. Decided from the shared report: the same in every process.
                    state.tau, doublings = min(2.0 * state.tau, state.cap), doublings + 1
            if time_limit is not None:
                late = comm.allgather({k: time.perf_counter() - start > time_limit for k in agent})
                if any(late):                      # a collective decision: no process is left waiting
                    status = "time_limit"
                    break
            gamma = classical_step(it)
            x = gossip_iterates(st, comm, agent)
            grads = local_gradients(st, agent, x)
            track_gradients(st, comm, agent, grads)
            fw_steps(st, agent, x, gamma, state.tau)
            bar.update()
        else:
            it = max_iter
            if monitor(it):
                status = "converged"
    except Exception as exc:
        if not isinstance(exc, InvalidProblemError):
            comm.abort(f"dqsfw: {type(exc).__name__}: {exc}")
        raise
    finally:
        bar.close()
    # the atoms of all agents, merged in a fixed order (identical in every process)
    merged: dict[tuple, int] = {}
    for atoms in comm.allgather({k: a.atoms for k, a in agent.items()}):
        for key, cnt in atoms.items():
            merged[key] = merged.get(key, 0) + cnt
    keys = sorted(merged)
    S = np.array(keys, float).T if keys else np.zeros((p, 0))
    return DQSFWRun(status, S, np.array([merged[k_] for k_ in keys], float), state.objective, state.gap,
                    state.consensus_error, state.bits, it, report_lmo.exact, state.history if history else {},
                    comm.rank, comm.is_root, K, state.tau, adaptive, state.zbar, comm, state.cap, doublings,
                    state.best_dual)
