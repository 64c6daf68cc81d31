"""dqsfw's warm start for the adaptive budget: the shared column-generation loop
(certqnn.column_generation, docs/math.md §9) over data that stays with the agents.

ShardedMaster is the loop's restricted master when agent k holds the rows (Xb_k, y_k): every
quantity the loop asks for -- the Gram matrix of the atoms, the objective, Q(w), the dual bound --
is a sum over the shards, combined by one allgather (the same collective as dqsfw's monitoring),
so every process runs the same loop and gets the same answer.
"""
from __future__ import annotations

import numpy as np

from ...column_generation import Budget, Pricer, Pricing, RestrictedMaster, column_generation
from ...lifting import neuron_outputs, q_matrix
from ...problem import QNNProblem
from ..steps import tau_bound
from .comm import Communicator
from .state import AgentState, Setup


class ShardedMaster(RestrictedMaster):
    """The Lasso over a working set of atoms with the data split among agents (quadratic loss
    model kappa/2 |v - t|^2 + c0 only: the master is then min a^T G a/2 - c^T a + beta |a|_1 with
    G = kappa sum_k Phi_k^T Phi_k and c = kappa sum_k Phi_k^T t_k). No global Phi exists."""

    def __init__(self, st: Setup, comm: Communicator, agents: dict[int, AgentState]):
        self.st, self.comm, self.agents = st, comm, agents
        self.act, self.beta, self.loss, self.kappa = st.act, st.beta, st.loss, st.kappa
        self.even, self.quadratic, self.w, self.Phi = st.act.is_even, True, None, None
        p = st.pk.n - 1
        self.Xb = np.zeros((0, p))            # canonical() reads p from it
        self.S, self.G, self.c, self.alpha = np.zeros((p, 0)), np.zeros((0, 0)), np.zeros(0), np.zeros(0)
        self._gram = np.empty((0, 0))          # G's buffer (RestrictedMaster._extend_gram)
        self._keys: set[bytes] = set()

    def _total(self, local) -> np.ndarray:
        """sum over all agents of local(agent) (1-D arrays of one length), in every process."""
        return np.sum(self.comm.allgather({k: local(a) for k, a in self.agents.items()}), axis=0)

    def _outputs(self, a: AgentState, S: np.ndarray) -> np.ndarray:
        return neuron_outputs(a.Xb, self.act, S)

    def _append(self, S_new):
        m, k = self.S.shape[1], S_new.shape[1]

        def pieces(a):
            P_old, P_new = self._outputs(a, self.S), self._outputs(a, S_new)
            return np.concatenate([(P_old.T @ P_new).ravel(), (P_new.T @ P_new).ravel(), P_new.T @ a.target])

        tot = self.kappa * self._total(pieces)
        cross, block, c_new = tot[:m * k].reshape(m, k), tot[m * k:m * k + k * k].reshape(k, k), tot[m * k + k * k:]
        self._extend_gram(cross, block)
        self.c = np.concatenate([self.c, c_new])

    def _residual(self, a: AgentState, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yhat = self._outputs(a, self.S) @ alpha
        return yhat, self.loss.gradient(yhat, a.y)

    def objective(self, alpha=None):
        alpha = self.alpha if alpha is None else alpha
        total = self._total(lambda a: np.array([self.loss.value(self._residual(a, alpha)[0], a.y)]))
        return float(total[0]) + self.beta * float(np.abs(alpha).sum())

    def gradient(self):
        return None          # w lives with the agents; dual_matrix and dual_bound use the current alpha

    def dual_matrix(self, w=None):
        pk = self.st.pk
        return pk.unpack(self._total(lambda a: pk.pack(q_matrix(a.Xb, self.act, self._residual(a, self.alpha)[1]))))

    def dual_stats(self) -> tuple[float, float]:
        """(w^T t, |w|^2) summed over the shards at the current alpha."""
        def local(a):
            w = self._residual(a, self.alpha)[1]
            return np.array([float(w @ a.target), float(w @ w)])
        wt, ww = self._total(local)
        return float(wt), float(ww)

    def dual_bound(self, w, rho):
        # -L*(s w) = -s w^T t - s^2 |w|^2 / (2 kappa) + c0 for L = kappa/2 |v - t|^2 + c0
        wt, ww = self.dual_stats()
        smax = np.inf if rho <= 0 else self.beta / rho
        s = 0.0 if ww == 0 else float(np.clip(-self.kappa * wt / ww, 0.0, smax))
        return -s * wt - s * s * ww / (2 * self.kappa) + self.st.c0

    def reduced(self, used, obj):
        return self.S[:, used], self.alpha[used], obj     # no global Phi: no Caratheodory reduction


class LmoPricer(Pricer):
    """dqsfw's monitoring oracle as a pricer: one atom, argmax |u~^T Q u~| (exact when the LMO is)."""

    name = "lmo"

    def __init__(self, lmo, rng: np.random.Generator):
        self.lmo, self.rng, self.exact = lmo, rng, bool(lmo.exact)

    def price(self, Q, state):
        s, value = self.lmo(Q, self.rng)
        v = abs(float(value))
        return Pricing(np.asarray(s, float)[:, None], np.array([v]), rho=v,
                       rho_upper_bound=v if self.exact else np.inf)


def warm_budget(problem: QNNProblem, st: Setup, comm: Communicator, agents: dict[int, AgentState], tau: float,
                rounds: int = 12) -> tuple[float, float, float]:
    """A valid, much smaller starting budget for the adaptive tau: a few rounds of the shared
    column-generation loop on the sharded data give a small network whose objective J bounds p*,
    and steps.tau_bound(J, w^T t, |w|^2, rho, beta) >= |alpha*|_1 (tending to |alpha*|_1 as
    rho -> beta). Returns (J, tau, l1) with l1 = |alpha|_1 of that network (a budget that is feasible
    for it: dqsfw's first phase); tau never grows. Needs the quadratic loss model."""
    master = ShardedMaster(st, comm, agents)
    run = column_generation(problem, [LmoPricer(st.report_lmo, st.report_rng)], Budget(max_rounds=rounds, per_round=1),
                            tol=1e-6, desc="dqsfw warm start", master=master)
    l1 = float(np.abs(run.alpha).sum())
    if not np.isfinite(run.rho):
        return run.objective, tau, l1
    wt, ww = master.dual_stats()
    return run.objective, min(tau, tau_bound(run.objective, wt, ww, run.rho, st.beta, st.kappa, st.c0)), l1
