"""Backend dqsfw (docs/math.md §10, decentralized): graphs and mixing, compression, equality with centralized
FW, convergence, certificates, option errors, and the MPI engine against the in-process engine."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from certqnn import InvalidProblemError, QNNProblem, certify, solve, verify
from certqnn.errors import UnknownOptionError
from certqnn.fw.centralized import frank_wolfe
from certqnn.fw.decentralized.algorithm import dqsfw, shards
from certqnn.fw.decentralized.comm import build_graph, metropolis_weights
from certqnn.fw.decentralized.compression import Packing, Quantizer
from certqnn.datasets import synthetic


@pytest.fixture(scope="module")
def small():
    ds = synthetic(120, 6, seed=3)
    return QNNProblem(ds.X, ds.y, beta=1.0)


TAU = 1.9          # about half of |alpha*|_1 for `small`: the bounded problem's budget is active


# -- graphs and mixing ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec,K", [("ring", 5), ("ring", 2), ("grid", 6), ("grid", 7), ("complete", 4), ("star", 5),
                                    ("erdos_renyi:0.9", 6), ("ring", 1)])
def test_metropolis_matrix_is_doubly_stochastic_on_the_graph(spec, K):
    G = build_graph(spec, K, seed=0)
    W = metropolis_weights(G)
    np.testing.assert_allclose(W, W.T)
    np.testing.assert_allclose(W.sum(axis=0), 1.0, atol=1e-15)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-15)
    assert np.all(W >= 0)
    A = nx.to_numpy_array(G, nodelist=range(K))
    off = ~np.eye(K, dtype=bool)
    assert np.array_equal(W[off] > 0, A[off] > 0)            # nonzero exactly on the edges
    deg = A.sum(axis=1)
    for k, j in G.edges():
        assert W[k, j] == pytest.approx(1.0 / (1.0 + max(deg[k], deg[j])))
    if K > 1:
        assert np.sort(np.abs(np.linalg.eigvalsh(W)))[-2] < 1.0 - 1e-9   # connected: consensus contracts


def test_graph_shapes():
    assert build_graph("ring", 8).number_of_edges() == 8
    assert build_graph("complete", 5).number_of_edges() == 10
    assert sorted(d for _, d in build_graph("star", 5).degree()) == [1, 1, 1, 1, 4]
    assert build_graph("grid", 6).number_of_edges() == 7          # 2 x 3 grid


def test_edge_list_file(tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("0 1\n1 2\n2 3\n")
    G = build_graph(str(path), 4)
    assert sorted(G.edges()) == [(0, 1), (1, 2), (2, 3)]
    path.write_text("0 1\n2 3\n")
    with pytest.raises(InvalidProblemError) as exc:
        build_graph(str(path), 4)
    assert exc.value.field == "graph" and "disconnected" in str(exc.value)
    path.write_text("0 1\n1 7\n")
    with pytest.raises(InvalidProblemError) as exc:
        build_graph(str(path), 4)
    assert exc.value.field == "graph"


@pytest.mark.parametrize("spec", ["erdos_renyi:0.01", "hypercube", "erdos_renyi", "erdos_renyi:2"])
def test_bad_or_disconnected_graphs_are_refused(small, spec):
    with pytest.raises(InvalidProblemError) as exc:
        solve(small, "dqsfw", agents=8, graph=spec, max_iter=2)
    assert exc.value.field == "graph"


@pytest.mark.parametrize("opts,field", [({"agents": 0}, "agents"), ({"agents": 500}, "agents"), ({"bits": 0}, "bits"),
                                        ({"bits": 20}, "bits"), ({"bits": 2.5}, "bits"), ({"engine": "ray"}, "engine"),
                                        ({"batch": 0}, "batch"), ({"gossip_step": 1.5}, "gossip_step"),
                                        ({"split": "stratified"}, "split"), ({"tracking": "yes"}, "tracking"),
                                        ({"form": "box"}, "form"), ({"tau": 0.0}, "tau"), ({"step": "armijo"}, "step"),
                                        ({"lmo": "heuristic", "tau": "adaptive"}, "tau"), ({"max_iter": -1}, "max_iter"),
                                        ({"report_every": 0}, "report_every"), ({"colour": "red"}, "colour"),
                                        ({"step": "nope"}, "step"), ({"step": "line_search"}, "step"),
                                        ({"gossip_step": 0}, "gossip_step"), ({"history": 1}, "history"),
                                        ({"form": "bounded", "tau": "adaptive"}, "tau")])
def test_bad_options_name_the_field(small, opts, field):
    with pytest.raises(InvalidProblemError) as exc:
        solve(small, "dqsfw", **{"max_iter": 2, **opts})
    assert exc.value.field == field
    assert field in str(exc.value)


def test_unknown_option_is_an_error_naming_it(small):
    with pytest.raises(UnknownOptionError) as exc:
        solve(small, "dqsfw", bogus=1)
    assert exc.value.unknown == ["bogus"] and "'bogus'" in str(exc.value)
    with pytest.raises(UnknownOptionError):
        solve(small, "dqsfw", plot="d.png")               # plotting is not the backend's job


# -- compression ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantizer_is_unbiased_up_to_its_damping(bits):
    """decode(encode(x)) = lam C(x) with C unbiased and lam = |x|^2/(|x|^2 + Var C(x)) in (0, 1]."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(30) * np.logspace(-3, 0, 30)
    q = Quantizer(bits)
    draws = [q.encode(x, rng) for _ in range(20000)]
    lam_s = draws[0][1]                                       # the same scale on every draw
    assert all(d[1] == lam_s for d in draws)
    codes = np.array([d[2] for d in draws], float)
    assert codes.min() >= 0 and codes.max() <= 2 ** bits - 1
    mean = np.mean([q.decode(d) for d in draws], axis=0)
    s = np.max(np.abs(x))
    lam = lam_s / s
    assert 0 < lam <= 1 + 2 ** -8          # the bfloat16 scale rounds by at most 2^-8
    np.testing.assert_allclose(mean / lam, x, atol=6 * s / (2 ** bits - 1) / np.sqrt(20000) + 1e-6 * s)
    assert q.cost(30) == bits * 30 + 16


def test_no_compression_is_exact():
    x = np.random.default_rng(1).standard_normal(10)
    q = Quantizer(32)
    np.testing.assert_array_equal(q.decode(q.encode(x, np.random.default_rng(0))), x)
    assert q.cost(10) == 320


def test_packing_round_trip():
    pk = Packing(4)
    A = np.random.default_rng(2).standard_normal((5, 5))
    M = A + A.T
    assert pk.D == 15
    np.testing.assert_array_equal(pk.unpack(pk.pack(M)), M)


def test_shards_partition_the_samples():
    for split in ("contiguous", "random"):
        parts = shards(23, 4, split, seed=1)
        assert sorted(np.concatenate(parts).tolist()) == list(range(23))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


# -- the algorithm -------------------------------------------------------------------------------
@pytest.mark.parametrize("form,tau", [("bounded", TAU), ("penalized", 5.0)])
def test_complete_graph_without_compression_is_centralized_fw(small, form, tau):
    """W = 11^T/K: one gossip step averages exactly, the tracker equals the full gradient, every agent
    takes the same LMO atom -- the iterates are those of centralized FW with gamma_t = 2/(t+2)."""
    iters = 120
    fw = frank_wolfe(small, form=form, tau=tau, step="classical", max_iter=iters, tol=0, history=True)
    run = dqsfw(small, agents=4, graph="complete", bits=32, form=form, tau=tau, max_iter=iters, tol=0, history=True)
    a = np.array(fw.history["objective"])
    b = np.array(run.history["objective"][:iters])
    np.testing.assert_allclose(b, a, rtol=1e-10)
    np.testing.assert_allclose(np.array(run.history["fw_gap"][:iters]), np.array(fw.history["fw_gap"]),
                               rtol=1e-8, atol=1e-9 * abs(a[0]))
    assert run.consensus_error <= 1e-12 * tau
    assert {tuple(c) for c in run.atoms.T} == {tuple(c) for c in fw.S.T}


@pytest.mark.parametrize("bits", [32, 8, 4, 2])
def test_compressed_runs_converge_on_a_planted_problem(small, bits):
    run = dqsfw(small, agents=4, graph="ring", bits=bits, form="bounded", tau=TAU, max_iter=3000, tol=2e-3, history=True)
    assert run.converged, f"relative gap {run.gap / run.objective:.2e} after {run.iterations} iterations"
    assert run.bits == run.history["bits"][-1] > 0


def test_tracking_off_stalls_and_sends_fewer_bits(small):
    on = dqsfw(small, agents=4, graph="ring", bits=4, form="bounded", tau=TAU, max_iter=600, tol=0)
    off = dqsfw(small, agents=4, graph="ring", bits=4, tracking=False, form="bounded", tau=TAU, max_iter=600, tol=0)
    assert off.bits < on.bits
    assert on.gap < off.gap


def test_same_seed_same_run_and_seeds_matter(small):
    kw = dict(agents=3, graph="ring", bits=2, form="bounded", tau=TAU, max_iter=60, tol=0, history=True, batch=20)
    a, b = dqsfw(small, seed=4, **kw), dqsfw(small, seed=4, **kw)
    assert a.history["objective"] == b.history["objective"]
    c = dqsfw(small, seed=5, **kw)
    assert c.history["objective"] != a.history["objective"]


@pytest.mark.parametrize("bits", [2, 32])
def test_average_iterate_stays_feasible_under_compression(small, bits):
    """The gossip and the tracker preserve averages (W doubly stochastic), so the average iterate is a
    convex combination of FW vertices (c s~ s~^T, t_v): |Zbar_ij| <= tbar <= tau."""
    tau = 3.0
    run = dqsfw(small, agents=5, graph="ring", bits=bits, form="penalized", tau=tau, max_iter=200, tol=0, history=True)
    Zbar, tbar = Packing(small.binary_dim).unpack(run.zbar), run.zbar[-1]
    assert 0 <= tbar <= tau * (1 + 1e-12)
    assert np.abs(Zbar).max() <= tbar * (1 + 1e-9)
    obj = np.array(run.history["objective"])
    assert np.all(np.isfinite(obj)) and obj[-1] < obj[0]


@pytest.mark.parametrize("opts", [{}, {"bits": 4, "tau": "adaptive", "max_iter": 300}, {"batch": 10, "split": "random", "tau": 4.0},
                                  {"graph": "star", "agents": 6, "step": "local_line_search", "tau": 4.0}])
def test_final_certificate_verifies(small, opts):
    res = solve(small, "dqsfw", **{"max_iter": 200, **opts})
    assert res.rho_method is None and res.report["mpi_rank"] == 0
    assert res.network is not None and res.network.width >= 1
    cert = certify(small, res)
    assert verify(cert).ok
    assert res.upper_bound <= res.report["fw_objective"] * (1 + 1e-9)     # the refit beats the average iterate
    assert json.loads(json.dumps(res.report)) == res.report              # JSON-safe
    assert res.trajectory is None and not hasattr(res, "info")


def test_plot(small, tmp_path):
    pytest.importorskip("matplotlib")
    from certqnn.report import plot_convergence

    res = solve(small, "dqsfw", max_iter=20, tol=0, history=True)
    assert len(res.trajectory["bits"]) == 21
    plot_convergence(res.trajectory, tmp_path / "d.png", title="dqsfw", x="bits")
    assert (tmp_path / "d.png").exists()


# -- MPI engine ----------------------------------------------------------------------------------
MPI_SCRIPT = """
import json, sys
import numpy as np
from certqnn import QNNProblem, solve
from certqnn.datasets import synthetic
ds = synthetic(120, 6, seed=3)
problem = QNNProblem(ds.X, ds.y, beta=1.0)
res = solve(problem, "dqsfw", engine="mpi", graph="ring", bits=4, form="bounded", tau=1.9, max_iter=80, tol=0,
            history=True, seed=7)
if res.report["mpi_rank"] == 0:
    print(json.dumps({"objective": res.trajectory["objective"], "upper_bound": res.upper_bound,
                      "alpha": res.network.alpha.tolist(), "agents": res.report["agents"]}))
"""


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py is not installed (pip install 'certqnn[mpi]')")
@pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec found (the mpich wheel provides one next to python)")
def test_mpi_engine_matches_inprocess(small, tmp_path):
    script = tmp_path / "run_mpi.py"
    script.write_text(MPI_SCRIPT)
    env = {**os.environ, "CERTQNN_PROGRESS": "0"}
    proc = subprocess.run([_mpiexec(), "-n", "3", sys.executable, str(script)], capture_output=True, text=True,
                          timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout                # only rank 0 reports
    mpi = json.loads(lines[0])
    assert mpi["agents"] == 3
    res = solve(small, "dqsfw", engine="inprocess", agents=3, graph="ring", bits=4, form="bounded", tau=1.9,
                max_iter=80, tol=0, history=True, seed=7)
    np.testing.assert_allclose(mpi["objective"], res.trajectory["objective"], rtol=1e-12)
    assert mpi["upper_bound"] == pytest.approx(res.upper_bound, rel=1e-12)


def test_warm_budget_is_a_valid_l1_bound_and_below_the_safe_default():
    """The adaptive budget's cap (from the warm fully-corrective rounds, shrunk at every report)
    bounds |alpha*|_1, and the budget used never exceeds it nor 2 |alpha*|_1 (doubling only when
    proven binding)."""
    from certqnn import QNNProblem, certify, solve
    from certqnn.fw.steps import default_tau
    from certqnn.datasets import load

    for seed in (0, 1, 2):
        data = load(f"synthetic:n=120,d=6,seed={seed}")
        problem = QNNProblem(data.X, data.y, beta=0.5)
        result = solve(problem, "dqsfw", graph="ring", agents=3, max_iter=5)
        opt = certify(problem, solve(problem, "enumeration"))
        assert opt.relative_gap <= 1e-8
        l1_star = float(np.abs(opt.alpha).sum())
        assert result.report["tau_bound"] >= l1_star * (1 - 1e-9)
        assert result.report["tau_bound"] < default_tau(problem)
        assert result.report["tau"] <= result.report["tau_bound"]
        assert result.report["tau"] < 2 * l1_star or result.report["tau"] == result.report["tau_bound"]


@pytest.fixture(scope="module")
def readme_problem():
    from certqnn.datasets import load

    data = load("synthetic:n=400,d=10,seed=2")
    return QNNProblem(data.X, data.y, beta=1.0)


def test_readme_example_certifies_with_the_default_budget(readme_problem):
    """`certqnn solve synthetic:n=400,d=10,seed=2 --backend dqsfw --graph ring` without --tau: the
    doubling budget starts near |alpha*|_1 (the old default, tau ~ 11.7, gave relative gap 0.99)."""
    res = solve(readme_problem, "dqsfw", graph="ring")
    cert = certify(readme_problem, res)
    assert verify(cert).ok
    assert cert.relative_gap <= 1e-3
    assert res.report["adaptive_tau"] and res.report["tau"] <= res.report["tau_bound"]
    l1_star = float(np.abs(cert.alpha).sum())
    assert res.report["tau"] < 2 * l1_star                 # the budget stays near |alpha*|_1


def test_budget_doubles_only_while_proven_binding(readme_problem, monkeypatch):
    """A start far below |alpha*|_1 doubles (each doubling proven: objective - gap > a network's
    objective) until it is within a factor 2 of |alpha*|_1; the reported lower bounds stay valid."""
    import certqnn.fw.decentralized.algorithm as alg

    real = alg.warm_budget

    def tiny_start(*args, **kwargs):
        J, cap, l1 = real(*args, **kwargs)
        return J, cap, l1 / 64

    monkeypatch.setattr(alg, "warm_budget", tiny_start)
    run = dqsfw(readme_problem, graph="ring", max_iter=300, history=True)
    opt = certify(readme_problem, solve(readme_problem, "dqsfw", graph="ring"))
    l1_star, p_star = float(np.abs(opt.alpha).sum()), opt.lower_bound
    taus = np.array(run.history["tau"])
    assert run.doublings >= 5 and np.all(np.diff(taus) >= 0)
    assert np.all(taus[np.diff(taus, append=taus[-1]) > 0] < l1_star)     # doubled only below |alpha*|_1
    assert run.tau < 2 * l1_star
    assert np.all(np.array(run.history["dual_bound"]) <= p_star * (1 + 1e-9))
    assert np.all(np.array(run.history["objective"]) >= p_star * (1 - 1e-9))
