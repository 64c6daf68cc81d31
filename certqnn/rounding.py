"""From a relaxation's solution to a quantized network (docs/math.md §7): Grothendieck sampling of
neurons, exact alpha refit (the restricted Lasso of docs/math.md §3), heuristic column generation by
local search, and the one width-pruning path (prune_to_width) every backend uses.

Every budget here is counted in work (samples, pricing rounds, local-search starts), so a seed
fixes the network; the only wall-clock stop is a deadline derived from the user's time limit."""
from __future__ import annotations


import numpy as np

from .column_generation import Budget, LocalSearchPricer, column_generation
from .lasso import refit
from .lifting import neuron_outputs, q_matrix
from .network import QuantizedNetwork
from .pricing import one_flip_ascent, quadratic_value
from .problem import QNNProblem


def unit_diagonal(Z: np.ndarray) -> np.ndarray | None:
    """Z_hat = Z / sqrt(diag diag^T), projected onto the PSD cone; None if Z is (near) zero."""
    d = np.diag(Z).copy()
    if d.max(initial=0.0) <= 1e-12:
        return None
    d = np.sqrt(np.clip(d, 1e-12 * d.max(), None))
    Zh = 0.5 * (Z + Z.T) / np.outer(d, d)
    vals, vecs = np.linalg.eigh(Zh)
    Zh = (vecs * np.clip(vals, 0, None)) @ vecs.T
    s = np.sqrt(np.clip(np.diag(Zh), 1e-300, None))
    return Zh / np.outer(s, s)


def block_report(Zh: np.ndarray | None, t: float) -> dict:
    """Tightness facts of one lifted block: t, numerical rank, and the sin((pi/2) Z_hat) >= 0 test."""
    if Zh is None:
        return {"t": float(t), "rank": 0, "sin_psd": True, "sin_min_eig": 0.0}
    vals = np.linalg.eigvalsh(Zh)
    rank = int(np.sum(vals > 1e-6 * max(vals[-1], 1e-300)))
    sin_min = float(np.linalg.eigvalsh(np.sin(0.5 * np.pi * Zh))[0])
    return {"t": float(t), "rank": rank, "sin_psd": bool(sin_min >= -1e-8), "sin_min_eig": sin_min}


def grothendieck_samples(Zh: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k neurons u = v_{1:p} v_{p+1}, v = sign(g), g ~ N(0, Zh): shape (p, k) with +-1 entries.
    E[u~ u~^T] = (2/pi) arcsin(Zh) (Grothendieck's identity)."""
    vals, vecs = np.linalg.eigh(Zh)
    L = vecs * np.sqrt(np.clip(vals, 0, None))
    G = L @ rng.standard_normal((Zh.shape[0], k))
    V = np.where(G >= 0, 1.0, -1.0)
    top = vecs[:, -1]
    V = np.hstack([V, np.where(top >= 0, 1.0, -1.0)[:, None]])   # leading-eigenvector rounding
    return V[:-1] * V[-1]


def one_flip_search(Q: np.ndarray, S: np.ndarray, maximize: bool, max_sweeps: int = 1000) -> np.ndarray:
    """Greedy 1-flip ascent of +-u~^T Q u~ for each column of S (p, k); returns improved copy
    (pricing.one_flip_ascent on Q or -Q)."""
    return one_flip_ascent(Q if maximize else -Q, S, max_sweeps=max_sweeps)


def network_from_atoms(problem: QNNProblem, S: np.ndarray, alpha: np.ndarray) -> QuantizedNetwork:
    """The network with binary atoms S (p, k) and weights alpha (k,), pruned to problem.width."""
    if problem.width is not None and S.shape[1] > problem.width:
        return prune_to_width(problem, S, alpha)
    return QuantizedNetwork(problem.levels.collapse(S), alpha)


def _refit_atoms(problem: QNNProblem, Xb: np.ndarray, S: np.ndarray, alpha0=None):
    S = np.unique(S.T, axis=0).T
    sol = refit(neuron_outputs(Xb, problem.activation, S), problem.y, problem.beta, problem.loss, alpha0=alpha0)
    return S, sol


def screen(Q: np.ndarray, S: np.ndarray, keep: int) -> np.ndarray:
    """The `keep` distinct columns of S with the largest |u~^T Q u~| = |phi_u^T w| (the atoms that
    can enter the Lasso support are those with |phi_u^T w| close to beta)."""
    S = np.unique(S.T, axis=0).T
    if S.shape[1] <= keep:
        return S
    score = np.abs(quadratic_value(Q, S))
    return S[:, np.argsort(-score, kind="stable")[:keep]]


def improve_by_pricing(problem: QNNProblem, Xb: np.ndarray, S: np.ndarray, rounds: int = 200,
                       starts_per_round: int = 16, rng: np.random.Generator | None = None,
                       max_new: int = 64, deadline: float | None = None):
    """Heuristic column generation (certqnn.column_generation with the local-search pricer only):
    the exact Lasso over the atoms S (p, k), then local-search new neurons against Q(w) of the
    residual and add the `max_new` most violated ones per round, while the objective improves.
    Work budget: at most `rounds` rounds of `starts_per_round` random local-search starts (plus
    starts from the current atoms); deadline: time.perf_counter() instant from the user's time
    limit, or None. Returns (S, alpha, objective, stop) with alpha != 0 and stop the reason the
    loop ended (column_generation.STOPS; "time_limit" when the deadline fired)."""
    pricer = LocalSearchPricer(restarts=starts_per_round, rng=rng if rng is not None else np.random.default_rng(0))
    budget = Budget(max_rounds=rounds, per_round=max_new, deadline=deadline)
    run = column_generation(problem, [pricer], budget, tol=1e-8, atoms0=np.unique(np.asarray(S, float).T, axis=0).T,
                            Xb=Xb, desc="rounding: local-search pricing")
    return run.S, run.alpha, run.objective, run.stop


def prune_to_width(problem: QNNProblem, S: np.ndarray, alpha: np.ndarray) -> QuantizedNetwork:
    """Greedy removal of the neuron with the smallest |alpha_j| |phi_j| and exact refit (warm started
    from the remaining weights), until at most problem.width neurons remain. S: (p, k) +-1 binary
    neurons, alpha: (k,). The one width-pruning path: every backend goes through it."""
    Xb = problem.binary_design()
    m = problem.width
    S = np.asarray(S, float)
    alpha = np.asarray(alpha, float)
    while S.shape[1] > m:
        Phi = neuron_outputs(Xb, problem.activation, S)
        drop = int(np.argmin(np.abs(alpha) * np.linalg.norm(Phi, axis=0)))
        S = np.delete(S, drop, axis=1)
        sol = refit(np.delete(Phi, drop, axis=1), problem.y, problem.beta, problem.loss,
                    alpha0=np.delete(alpha, drop))
        keep = sol.alpha != 0
        S, alpha = S[:, keep], sol.alpha[keep]
    return QuantizedNetwork(problem.levels.collapse(S), alpha)


def round_relaxation(problem: QNNProblem, Xb: np.ndarray, Z_plus: np.ndarray, Z_minus: np.ndarray,
                     w: np.ndarray, samples: int = 64, local_search: bool = True, seed: int = 0,
                     max_candidates: int = 128, pricing_rounds: int = 200, starts_per_round: int = 16,
                     deadline: float | None = None):
    """Sample neurons from both lifted blocks, keep the `max_candidates` most correlated with the
    SDP's dual vector w, refit alpha exactly, improve by local-search pricing (at most
    `pricing_rounds` rounds of `starts_per_round` random starts; see improve_by_pricing).
    deadline: time.perf_counter() instant from the user's time limit, or None.
    Returns (network, info)."""
    rng = np.random.default_rng(seed)
    act = problem.activation
    Q = q_matrix(Xb, act, w)
    cands = []
    info = {}
    for label, Z, maximize in (("plus", Z_plus, False), ("minus", Z_minus, True)):
        Zh = unit_diagonal(Z)
        info[f"block_{label}"] = block_report(Zh, Z[-1, -1])
        if Zh is None:
            continue
        block = [grothendieck_samples(Zh, samples, rng)]
        if info[f"block_{label}"]["sin_psd"]:
            block.append(grothendieck_samples(unit_diagonal(np.sin(0.5 * np.pi * Zh)), samples, rng))
        block = np.hstack(block)
        if local_search:
            block = np.hstack([block, one_flip_search(Q, block, maximize=maximize)])
        cands.append(block)
    if not cands:
        cands.append(np.where(rng.random((Xb.shape[1], samples)) < 0.5, -1.0, 1.0))
    S = np.hstack(cands)
    info["candidates"] = int(np.unique(S.T, axis=0).shape[0])
    S = screen(Q, S, max_candidates)
    if local_search:
        S, alpha, _, info["pricing_stop"] = improve_by_pricing(problem, Xb, S, rounds=pricing_rounds,
                                                               starts_per_round=starts_per_round, rng=rng,
                                                               deadline=deadline)
    else:
        S, sol = _refit_atoms(problem, Xb, S)
        keep = sol.alpha != 0
        S, alpha = S[:, keep], sol.alpha[keep]
    info["unconstrained_support"] = int(np.count_nonzero(alpha))
    return network_from_atoms(problem, S, alpha), info
