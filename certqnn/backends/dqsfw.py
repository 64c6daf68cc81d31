"""Backend `dqsfw`: decentralized quantized stochastic Frank-Wolfe (certqnn.fw.decentralized,
docs/math.md §10), then an exact alpha refit on all data over the atoms the agents' LMOs selected.

Under engine="mpi" (`mpiexec -n K`, rank k hosts agent k) every rank must call solve() and every
rank returns the SAME Result: rank 0 refits and broadcasts. result.report["mpi_rank"] says which
process this is -- only rank 0 should print or write files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..fw.decentralized.algorithm import DQSFWRun, SPLITS, check_options, dqsfw, lifted_predict
from ..fw.decentralized.comm import ENGINES
from ..fw.decentralized.compression import Packing
from ..fw.finalize import best_dual_point, refit_network
from ..fw.steps import DQSFW_STEPS, check_common
from ..gaps import relative_gap
from ..network import QuantizedNetwork
from ..problem import QNNProblem
from ..result import Result
from . import base
from .frank_wolfe import FrankWolfeOptions, fw_result, fw_status, fw_loss_support


def _optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


@base.register
class DQSFWBackend(base.Backend):
    name = "dqsfw"
    exact = False
    requires = ("networkx",)
    description = "decentralized quantized stochastic Frank-Wolfe (K agents, gossip, gradient tracking), final exact alpha refit"

    @dataclass(frozen=True, kw_only=True)
    class Options(FrankWolfeOptions):
        agents: int | None = base.option(None, "number of agents K (default 4; under MPI the number of ranks)",
                                         parse=_optional_int)
        graph: object = base.option("ring", "communication graph: ring | grid | complete | star | erdos_renyi:P | "
                                            "an edge-list file (Python: also a networkx.Graph)", parse=str)
        engine: str = base.option("inprocess", "how agents run: inprocess (simulation) or mpi (one rank per agent)",
                                  choices=ENGINES)
        bits: int = base.option(32, "bits per message entry, 1..16 (32 = uncompressed)")
        tracking: bool = base.option(True, "gradient tracking (off: no tracker messages, the gap stalls)")
        batch: int | None = base.option(None, "minibatch size per agent (default: the whole shard)",
                                        parse=_optional_int)
        split: str = base.option("contiguous", "how the samples are sharded among the agents", choices=SPLITS)
        gossip_step: float = base.option(1.0, "gossip step eta in (0, 1]")
        report_every: int = base.option(1, "iterations between the (uncounted) monitoring reductions")
        step: str = base.option("classical", "step rule (local_line_search is experimental, quadratic losses only)",
                                choices=DQSFW_STEPS)

        def validate(self):
            super().validate()
            check_common(self.form, self.tau, self.step, DQSFW_STEPS, self.lmo, self.max_iter, self.tol,
                         self.time_limit, self.seed)
            check_options(self.agents, self.bits, self.batch, self.gossip_step, self.engine, self.split,
                          self.tracking, self.report_every)
            self.check_history()

    def supports(self, problem: QNNProblem):
        return fw_loss_support(problem, self.name)

    def run(self, problem: QNNProblem, options: Options) -> Result:
        o = options
        start = time.perf_counter()
        run: DQSFWRun = dqsfw(problem, agents=o.agents, graph=o.graph, engine=o.engine, bits=o.bits,
                              tracking=o.tracking, form=o.form, tau=o.tau, lmo=o.lmo, batch=o.batch, split=o.split,
                              gossip_step=o.gossip_step, max_iter=o.max_iter, tol=o.tol, time_limit=o.time_limit,
                              seed=o.seed, report_every=o.report_every, history=o.history, step=o.step)
        final = None
        if run.comm.is_root:
            refit = refit_network(problem, run.atoms, run.counts)
            # the gradient at the agents' average iterate is a second candidate dual point
            Zbar = Packing(problem.binary_dim).unpack(run.zbar)
            wbar = problem.loss.gradient(lifted_predict(problem.binary_design(), problem.activation, Zbar), problem.y)
            w, lb, rho = best_dual_point(problem, [refit.w, wbar])
            final = (refit.network.U, refit.network.alpha, refit.support, w, lb, rho)
        U, alpha, support, w, lb, rho = run.comm.bcast(final)
        report = {"fw_gap": run.gap, "fw_objective": run.objective,
                  "relative_fw_gap": relative_gap(run.objective, run.objective - run.gap),
                  "consensus_error": run.consensus_error, "bits_sent": run.bits, "fw_status": run.status,
                  "agents": run.agents, "graph": o.graph if isinstance(o.graph, str) else "custom",
                  "engine": o.engine, "bits": o.bits, "tracking": o.tracking, "form": o.form, "tau": float(run.tau),
                  "adaptive_tau": run.adaptive_tau,
                  "tau_bound": float(run.tau_bound) if run.adaptive_tau else None,    # proven >= |alpha*|_1
                  "tau_doublings": run.doublings, "step": o.step, "lmo": "exact" if run.lmo_exact else "heuristic",
                  "gap_is_certified": run.lmo_exact and (not run.adaptive_tau or run.tau >= run.tau_bound), "atoms_found": int(run.atoms.shape[1]), "mpi_rank": run.rank}
        return fw_result(self.name, problem, fw_status(run, o.form), QuantizedNetwork(U, alpha), support, w, lb, rho,
                         report, run, run.history if o.history else None, start)
