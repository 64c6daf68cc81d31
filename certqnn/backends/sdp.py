"""Backend `sdp`: the Shor SDP relaxation (docs/math.md §6), optionally strengthened by triangle
cuts found by separation, then Grothendieck rounding to a quantized network (docs/math.md §7).

The engines (certqnn.shor) return a claim: Z^±, and diagonal guesses z^± read from the PSD-cone
duals. A non-quadratic loss enters through its cone model (certqnn.shor.loss_models; the report's
"cone_model" names it). The dual point is w = grad L(A(Z+ - Z-)), at kinks of hinge/absolute the
solver's subgradient (loss_models.dual_point); certify() repairs and verifies (w, z^±).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import limits
from ..checks import check_choice, check_nonnegative_int, check_positive, check_positive_int, check_unit_fraction
from ..errors import InvalidProblemError, UnsupportedProblemError
from ..lifting import apply_lifted, q_matrix
from ..losses import master_model, quadratic_model
from ..shor.loss_models import cone_model, dual_point, has_cone_model
from ..network import QuantizedNetwork
from ..problem import QNNProblem
from ..progress import working
from ..rounding import SMOOTHING, unit_diagonal
from ..result import DualData, Result, Status
from ..shor import ENGINE_OPTIONS, dual_diagonal, engine_family, make_engine
from ..shor.fo_engine import METHODS as FO_METHODS, PRECISIONS as FO_PRECISIONS
from .base import Backend, Options, option, register

# options of one engine only: (name, default, engine); anything but the default is an error under
# another engine, and under engine auto when it chooses the other one
ENGINE_SPECIFIC_OPTIONS = (("linear_solver", "auto", "scs"), ("form", "auto", "scs"),
                           ("fo_method", "bm-admm", "fo"), ("fo_precision", "auto", "fo"))

# feature-sign steps per Lasso solve in the rounding's pricing rounds (docs/math.md §7)
MASTER_STEPS = 40

# where the center of the rounding's dual smoothing goes (column_generation.SmoothingCenter)
SMOOTHING_CENTERS = ("moving", "fixed")

NO_CUTS = np.zeros((0, 6), dtype=np.int64)

# under --time-limit, separation rounds (triangle cuts) start only in this first part of it: the
# rounding's network improves with its time as much as the cuts' bound (docs/math.md §7: on digits
# with 600 s, cuts in the first half gave a 3.2 % gap, no cuts 2.7 %; on synthetic 1000 x 50 the
# cuts take 44 s and turn 7.2 % into 5.5 %)
CUTS_SHARE_OF_TIME_LIMIT = 0.25


@register
class SdpBackend(Backend):
    name = "sdp"
    requires = ("scs",)
    extra = "scs"
    description = "Shor SDP relaxation + Grothendieck rounding (engines: scs native, picos)"

    @dataclass(frozen=True, kw_only=True)
    class Options(Options):
        engine: str = option("auto", "SDP engine: auto (scs while its conic data fits in memory, else fo) | scs | "
                                     "picos | picos:SOLVER | fo (matrix-free, quadratic loss) | fo:mpi (fo with "
                                     "rows split over the ranks of mpiexec)")
        eps: float | None = option(None, "engine tolerance (default: scs 1e-6, picos 1e-7, fo 1e-4 = the proven "
                                         "relative gap of the SDP solve)", parse=float)
        max_iters: int | None = option(None, "engine iteration limit (default: scs 100000, picos 500, fo 60: "
                                             "iterations of the --fo-method; bm-admm counts its ADMM iterations)",
                                       parse=int)
        fo_method: str = option("bm-admm", "fo: bm-admm (Burer-Monteiro start, then ADMM) | bm (Burer-Monteiro "
                                           "only) | admm (ADMM from zero)", choices=FO_METHODS,
                                flag="--fo-method")
        fo_precision: str = option("auto", "fo: arithmetic of the passes over the data during the iterations: "
                                           "single (about 2x faster products; reported bounds and primal values "
                                           "still come from double-precision passes) | double | auto (single from "
                                           "n (p+1)^2 >= 1e8 on)", choices=FO_PRECISIONS, flag="--fo-precision")
        verbose: bool = option(False, "print the engine's log", cli=False)
        linear_solver: str = option("auto", "scs: linear system solver (auto | qdldl | ...)", cli=False)
        form: str = option("auto", "scs: conic formulation", choices=("auto", "gram", "residual"), flag="--sdp-form")
        cuts: str = option("none", "strengthen with triangle inequalities found by separation",
                           choices=("none", "triangle"))
        cut_rounds: int = option(10, "separation rounds (triangle cuts)", parse=int)
        cuts_per_round: int = option(100, "cuts added per round and block", parse=int)
        cut_tol: float = option(1e-3, "violation a cut must exceed to be added", parse=float)
        rounding: bool = option(True, "sample a network from the relaxation (off: bound only)", cli=False)
        samples: int = option(2048, "Grothendieck samples per SDP block", parse=int)
        candidates: int = option(2048, "rounding: sampled neurons kept for the first master, largest reduced cost first "
                                       "(at most 2 n)", parse=int)
        local_search: bool = option(True, "1-flip local search on every sampled neuron", cli=False)
        pricing_rounds: int = option(200, "rounding: rounds of local-search pricing after the refit (work budget; on "
                                          "large n fewer: at most 2 x the atom cap enter, docs/math.md §7)", parse=int)
        master_steps: int = option(MASTER_STEPS, "rounding: feature-sign steps per Lasso solve in the pricing rounds (work "
                                       "budget; quadratic losses; 0: solve every round exactly); the final atoms are "
                                       "always solved exactly", parse=int)
        pricing_atoms: int = option(128, "rounding: atoms added per pricing round (on large n at most the atom cap "
                                         "/ 8, or / 32 when the master streams its outputs)", parse=int)
        smoothing: float = option(SMOOTHING, "rounding: dual smoothing; the pricing rounds search at "
                                             "lambda w_master + (1 - lambda) w_center first (w_center starts at "
                                             "w_sdp) and at w_master when that finds nothing (1: at w_master only)",
                                  parse=float)
        smoothing_center: str = option("moving", "rounding: where the smoothing's center goes: moving (to a "
                                                  "searched point with a better estimated dual value, Wentges's "
                                                  "rule; lambda/3 until its first move) | fixed (stays at w_sdp)",
                                       choices=SMOOTHING_CENTERS)
        seed: int = option(0, "random seed for sampling", parse=int)

        def validate(self):
            super().validate()
            family = engine_family(self.engine)
            for name, default, owner in ENGINE_SPECIFIC_OPTIONS:
                if getattr(self, name) != default and name not in ENGINE_OPTIONS[family]:
                    raise InvalidProblemError(name, f"applies to the {owner} engine only, not {self.engine!r}")
            check_choice("fo_method", self.fo_method, FO_METHODS)
            check_choice("fo_precision", self.fo_precision, FO_PRECISIONS)
            check_choice("form", self.form, ("auto", "gram", "residual"))
            check_choice("cuts", self.cuts, ("none", "triangle"))
            if self.cuts != "none" and "cuts" not in ENGINE_OPTIONS[family]:
                raise InvalidProblemError("cuts", f"triangle cuts are implemented for the scs engine only, not {self.engine!r}")
            check_positive("eps", self.eps, allow_none=True)
            for name in ("max_iters", "cut_rounds", "cuts_per_round", "samples", "candidates", "pricing_atoms"):
                check_positive_int(name, getattr(self, name), allow_none=True)
            for name in ("pricing_rounds", "master_steps"):
                check_nonnegative_int(name, getattr(self, name))
            if self.master_steps != MASTER_STEPS and not (self.rounding and self.local_search and self.pricing_rounds):
                raise InvalidProblemError("master_steps", "budgets the Lasso solves of the rounding's pricing rounds "
                                                          "and this run has none: drop it, or set --pricing-rounds >= 1")
            check_unit_fraction("smoothing", self.smoothing, "1: no smoothing; 0 would price at the relaxation's "
                                                             "dual point only, which has no violators")
            check_choice("smoothing_center", self.smoothing_center, SMOOTHING_CENTERS)
            for name, default in (("smoothing", SMOOTHING), ("smoothing_center", "moving")):
                if getattr(self, name) != default and not (self.rounding and self.local_search and self.pricing_rounds):
                    raise InvalidProblemError(name, "smooths the rounding's pricing rounds and this run has none: "
                                                    "drop it, or set --pricing-rounds >= 1")
            if self.smoothing_center != "moving" and self.smoothing == 1.0:
                raise InvalidProblemError("smoothing_center", "--smoothing 1 turns the smoothing off, so its center "
                                                              "is never used: drop one of the two")
            check_positive("cut_tol", self.cut_tol)
            check_nonnegative_int("seed", self.seed)

    def supports(self, problem: QNNProblem):
        if not has_cone_model(problem.loss, problem.y):
            return False, (f"the SDP engines have no cone model of the {problem.loss.name!r} loss "
                           "(certqnn/shor/loss_models.py lists the modelled losses)")
        if problem.binary_dim + 1 > limits.SDP_MAX_BLOCK:
            return False, (f"PSD blocks of size {problem.binary_dim + 1} exceed the limit {limits.SDP_MAX_BLOCK}; "
                           "use --backend colgen or frank-wolfe")
        return True, ""

    def run(self, problem: QNNProblem, options: Options) -> Result:
        """Solve the Shor SDP with the chosen engine, then (options.rounding) sample and refit a
        network; without rounding the network is empty (only the certified bound is of interest)."""
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        o = options
        if o.master_steps != MASTER_STEPS and master_model(problem.loss, problem.y) != "quadratic":
            raise InvalidProblemError("master_steps", f"applies to quadratic losses only (the {problem.loss.name!r} "
                                                      "loss's Lasso is solved by lasso.l1_fit, which has no step budget)")
        engine_spec, engine_choice = self._resolve_engine(problem, o)
        eng = make_engine(engine_spec)
        start = time.perf_counter()
        deadline = None if o.time_limit is None else start + o.time_limit
        Xb = problem.binary_design()
        act, loss, y, beta = problem.activation, problem.loss, problem.y, problem.beta
        if loss.quadratic(y) is not None:
            # the engines solve 1/2 |v - t|^2 + beta' (t+ + t-); L(v) = kappa/2 |v - t|^2 rescales to it
            kappa, target, c0 = quadratic_model(loss, y, "the SDP engines")
            model = None
            model_name = "quadratic (residual or gram form)"
        else:
            # a general loss enters as its cone model (certqnn.shor.loss_models), unscaled
            kappa, target, c0 = 1.0, np.asarray(y, float), 0.0
            model = cone_model(loss, y)
            model_name = model.description
            if not eng.models(model):
                raise UnsupportedProblemError(
                    f"the SDP engine {o.engine!r} cannot model the {loss.name!r} loss ({model.description}); "
                    "use --engine scs")
        engine_kw = {"time_limit": o.time_limit, "verbose": o.verbose, "model": model}
        if o.eps is not None:
            engine_kw["eps"] = o.eps
        if o.max_iters is not None:
            engine_kw["max_iters"] = o.max_iters
        if eng.name == "scs":
            engine_kw.update(linear_solver=o.linear_solver, form=o.form)
        if eng.name == "fo":
            engine_kw.update(method=o.fo_method, precision=o.fo_precision)
            sdp = self._solve_fo(eng, Xb, target, beta / kappa, act, engine_kw)
        else:
            with working(f"sdp: {eng.name} solving the Shor relaxation (PSD blocks {Xb.shape[1] + 1})"):
                sdp = eng.solve(Xb, target, beta / kappa, act, **engine_kw)
        report = {}
        cuts_on_plus = cuts_on_minus = NO_CUTS
        if o.cuts == "triangle":
            sdp, cuts_on_plus, cuts_on_minus, report = self._separate(eng, sdp, Xb, target, beta / kappa, act, o,
                                                                     engine_kw, deadline, kappa, c0)
        solve_seconds = time.perf_counter() - start
        yhat = apply_lifted(Xb, act, sdp.Z_plus - sdp.Z_minus)
        # at kinks of hinge/absolute the link-row multiplier picks the subgradient (loss_models.dual_point)
        if "dual_w" in sdp.details:
            # a first-order engine returns its best dual point itself (w of the rescaled problem is
            # the gradient of kappa/2 |v - t|^2 divided by kappa) with the z's of its inner solves
            w = kappa * np.asarray(sdp.details["dual_w"], float)
            z_plus, z_minus = kappa * sdp.details["z_plus"], kappa * sdp.details["z_minus"]
        else:
            w = dual_point(loss, yhat, y, None if model is None else sdp.details.get("w_link"))
            Q = q_matrix(Xb, act, w)
            z_plus = dual_diagonal(Q, sdp.S_minus_diag, +1.0)
            z_minus = dual_diagonal(Q, sdp.S_plus_diag, -1.0)
        sdp_value = loss.value(yhat, y) + beta * (sdp.Z_plus[-1, -1] + sdp.Z_minus[-1, -1])
        support, rounding_seconds = None, None
        network = QuantizedNetwork(np.zeros((problem.d, 0)), np.zeros(0))
        comm = getattr(eng, "comm", None)
        if comm is not None and comm.Get_rank() != 0:
            # under fo:mpi only rank 0 reports and writes: the other ranks' networks would be thrown
            # away, so they skip the rounding (its memory and time) and return the bound alone
            report["rounding"] = f"skipped on MPI rank {comm.Get_rank()} (rank 0 rounds)"
        elif o.rounding:
            from ..rounding import round_relaxation     # looked up per run: a probe may replace it

            rounding_start = time.perf_counter()
            try:
                network, rounding_report = round_relaxation(problem, Xb, sdp.Z_plus, sdp.Z_minus, w, samples=o.samples,
                                                            local_search=o.local_search, seed=o.seed,
                                                            pricing_rounds=o.pricing_rounds, per_round=o.pricing_atoms,
                                                            master_steps=o.master_steps or None,
                                                            smoothing=o.smoothing,
                                                            moving_center=o.smoothing_center == "moving",
                                                            max_candidates=min(o.candidates, 2 * problem.n),
                                                            deadline=deadline)
                support = rounding_report.pop("unconstrained_support", None)
                report.update(rounding_report)
            except UnsupportedProblemError as exc:
                # the refit's Lasso master cannot model this loss: the bound stands, the network
                # stays empty (its objective L(0) is still a valid upper bound), and the report says why
                report["rounding"] = f"skipped: {exc}"
            rounding_seconds = time.perf_counter() - rounding_start
        timed_out = (deadline is not None and time.perf_counter() > deadline) or report.get("cut_rounds_stop") == "time_limit"
        d = sdp.details
        report.update({"engine": engine_spec + (f":{d['picos_solver']}" if "picos_solver" in d else ""),
                       "solver_status": d.get("solver_status"), "cone_model": model_name})
        if engine_choice:
            report["engine_choice"] = engine_choice
        if eng.name == "fo":
            report.update(fo_method=d["method"], fo_precision=d["precision"], fo_passes=d["passes"],
                          fo_iterations=d["iterations"], fo_ranks=d["ranks"], fo_sdp_upper=kappa * d["primal_upper"] + c0)
        timings = {"sdp": solve_seconds}
        if rounding_seconds is not None:
            timings["rounding"] = rounding_seconds
        if eng.name == "scs":
            report["scs_form"] = d.get("form")
            timings.update(scs_setup=d.get("setup_seconds"), scs_solve=d.get("solve_seconds"))
        if eng.name == "fo":
            # timings stay out of the report (it is copied into the certificate, which must repeat
            # bit for bit); the time in passes is the solve time over one pass timed in the same run
            timings.update(fo_pass=d["pass_seconds"], fo_solve=d["solve_seconds"],
                           fo_time_in_passes=d["solve_seconds"] / max(d["pass_seconds"], 1e-12))
        return Result(
            status=Status.TIME_LIMIT if timed_out and sdp.status == Status.OPTIMAL else sdp.status,
            backend=self.name, network=network,
            lower_bound=None if sdp.solver_objective is None else kappa * sdp.solver_objective + c0,
            upper_bound=problem.objective(network.U, network.alpha),
            # cuts on the Z- block pair with z_plus (they certify max u~^T Q u~), and vice versa
            dual=DualData(w=w, z_plus=z_plus, z_minus=z_minus,
                          cuts_plus=cuts_on_minus, mu_plus=_scaled(d.get("mu_cuts_on_minus_block"), kappa),
                          cuts_minus=cuts_on_plus, mu_minus=_scaled(d.get("mu_cuts_on_plus_block"), kappa)),
            relaxation={"Z_plus": sdp.Z_plus, "Z_minus": sdp.Z_minus, "value": float(sdp_value),
                        "solver_objective": sdp.solver_objective},
            iterations=sdp.iterations, seconds=time.perf_counter() - start,
            rho_method="shor", support=support, report=report, timings=timings, time_limit_hit=timed_out)

    @staticmethod
    def _resolve_engine(problem: QNNProblem, o) -> tuple[str, str | None]:
        """The engine to run and, for engine "auto", why (None when the user named it)."""
        if o.engine.lower() != "auto":
            return o.engine.lower(), None
        entries = conic_entries(problem)
        quadratic = problem.loss.quadratic(problem.y) is not None
        scs = conic_data_fits(problem) or not quadratic or o.cuts != "none"
        # an option of the engine auto did not choose is an error, not ignored
        chosen, other = ("scs", "fo") if scs else ("fo", "scs")
        for name, default, owner in ENGINE_SPECIFIC_OPTIONS:
            if owner == other and getattr(o, name) != default:
                raise InvalidProblemError(name, f"applies to the {other} engine, but engine auto chose {chosen} for "
                                                f"this problem ({entries:.3g} conic entries); drop it or pass --engine "
                                                f"{other}")
        if scs:
            return "scs", f"scs: conic data n*D(D+1)/2 = {entries:.3g} entries"
        return "fo", (f"fo: the conic data n*D(D+1)/2 = {entries:.3g} entries exceeds "
                      f"{limits.SDP_CONIC_MAX_ENTRIES:.3g} (limits.SDP_CONIC_MAX_ENTRIES)")

    @staticmethod
    def _solve_fo(eng, Xb, target, beta, act, engine_kw):
        """The fo engine with a progress bar over its iteration budget (bound and SDP gap shown)."""
        from ..progress import progress

        from ..shor.fo_engine import DEFAULT_MAX_ITERS

        total = engine_kw.get("max_iters", DEFAULT_MAX_ITERS)
        if eng.comm is not None:
            from ..shor.fo_mpi import announce

            # ranks that read only their own rows (shor.fo_mpi.serve) run the engine with this call
            announce(eng.comm, {"y": np.asarray(target, float), "beta": beta, "act": act, **engine_kw})
        with progress(total=total, desc="sdp: fo", unit="it") as bar:
            def report(it, lower, upper, passes):
                bar.n = it
                bar.set_postfix_str(f"bound {lower:.6g}, sdp gap {(upper - lower) / max(abs(upper), 1e-12):.1e}, "
                                    f"{passes} passes", refresh=True)
            return eng.solve(Xb, target, beta, act, progress=report, **engine_kw)

    @staticmethod
    def _separate(eng, sdp, Xb, target, beta, act, o, engine_kw, deadline, kappa, c0):
        """Triangle-cut separation rounds, each warm-started from the last solution.
        Returns (sdp, cuts on Z+, cuts on Z-, report)."""
        from ..triangles import find_violated

        shor_value = sdp.solver_objective
        cuts_on_plus = cuts_on_minus = NO_CUTS
        # under a time limit new rounds start only in its first part: the rounding needs the rest
        last_start = None if deadline is None else deadline - (1.0 - CUTS_SHARE_OF_TIME_LIMIT) * o.time_limit
        rounds, time_limited = 0, False
        while rounds < o.cut_rounds:
            new = []
            for Z, have in ((sdp.Z_plus, cuts_on_plus), (sdp.Z_minus, cuts_on_minus)):
                Zh = unit_diagonal(Z)
                new.append(NO_CUTS if Zh is None else find_violated(Zh, o.cut_tol, o.cuts_per_round, exclude=have))
            if not (len(new[0]) or len(new[1])):
                break
            if last_start is not None and time.perf_counter() > last_start:
                time_limited = True
                break
            plus, minus = np.vstack([cuts_on_plus, new[0]]), np.vstack([cuts_on_minus, new[1]])
            kw = dict(engine_kw)
            if deadline is not None:
                kw["time_limit"] = max(deadline - time.perf_counter(), 1e-3)    # what is left of the user's limit
            with working(f"sdp: separation round {rounds + 1}, {len(plus) + len(minus)} triangle cuts"):
                trial = eng.solve(Xb, target, beta, act, cuts_plus=plus, cuts_minus=minus,
                                  warm=sdp.details.get("warm"), **kw)
            if trial.status == Status.TIME_LIMIT:
                # cut short by the limit: its point may bound worse than the last complete solve's
                time_limited = True
                break
            sdp, cuts_on_plus, cuts_on_minus = trial, plus, minus
            rounds += 1
        report = {"shor_bound": kappa * shor_value + c0, "strengthened_bound": kappa * sdp.solver_objective + c0,
                  "cuts_added": int(len(cuts_on_plus) + len(cuts_on_minus)), "cut_rounds": rounds}
        if time_limited:
            report["cut_rounds_stop"] = "time_limit"
        return sdp, cuts_on_plus, cuts_on_minus, report


def conic_entries(problem: QNNProblem) -> int:
    """Entries n * D(D+1)/2 of the conic data the scs engine would build (D = p + 1)."""
    D = problem.binary_dim + 1
    return problem.n * D * (D + 1) // 2


def conic_data_fits(problem: QNNProblem) -> bool:
    """Whether the scs engine's conic data stays within limits.SDP_CONIC_MAX_ENTRIES (engine auto
    picks scs then, and the triangle cuts, which only scs models, are affordable)."""
    return conic_entries(problem) <= limits.SDP_CONIC_MAX_ENTRIES


def _scaled(mu, kappa):
    """Cut multipliers of the rescaled problem, in the units of the original loss."""
    return None if mu is None else kappa * np.asarray(mu, float)
