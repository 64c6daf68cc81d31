"""Branch and bound that writes its proof: a tree the trusted verifier checks (docs/math.md §5;
proofs/bnb_tree.md; certqnn.trusted.tree).

The search is the one of bnb.py (static order, per-level diagonal shifts mu, the sphere's secular
bound, enumeration of the last `leaf_size` variables) with every discarded node written down:

* a node pruned by its bound  k t + g^T (t I - A)^{-1} g + c + sum(mu)  (A = Q_FF - Diag mu)
  becomes a Shor leaf z = (mu + t 1, z_last): Diag(z) - Q' = [[t I - A, -g], [-g^T, z_last - c]]
  is PSD iff t > lambda_max(A) and z_last - c >= g^T (t I - A)^{-1} g (Schur complement), and
  1^T z is the node's bound. For the verifier's rounding-error test the prover keeps a margin
  sigma: t >= lambda_max(A) + 2 sigma and z_last = c + sigma + g^T ((t - sigma) I - A)^{-1} g, so
  Diag(z) - Q' - sigma I >= 0; a leaf that still fails the trusted test gets a larger sigma;
* a node at the enumeration depth becomes an enumeration leaf.

Nothing here is trusted: the tree is checked by certqnn.trusted.tree.tree_rho_bound before it is
returned, and the verifier checks it again from the certificate.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..trusted.arith import gamma
from ..trusted.tree import RhoTree, SideTree, leaf_system, shor_leaf_check, tree_rho_bound
from .bnb import BNB_CHUNK, BNB_LEAF, _branching_order, _Levels, shor_shift, sphere_bounds
from .enumerate import blas_single_thread, sign_vectors
from .local_search import local_search_max

REPAIRS = 12                     # doublings of a leaf's margin sigma before the proof is abandoned


@dataclass
class TreeProof:
    """A proof that max_u |u~^T Q u~| <= rho_bar (verified by the trusted check before return).

    tree: the RhoTree; rho_bar: the verified bound; best: the largest |value| met (a lower bound on
    rho); leaves: Shor and enumeration leaves of both sides; nodes: nodes bounded; seconds."""

    tree: RhoTree
    rho_bar: float
    best: float
    leaves: int
    nodes: int
    seconds: float


class TreeTooLarge(Exception):
    """The proof needs more leaves than allowed (or the deadline passed): no tree."""


def prove_rho(Q: np.ndarray, E: np.ndarray, even: bool, threshold: float = -math.inf,
              leaf_size: int = BNB_LEAF, max_leaves: int = 300_000, deadline: float | None = None,
              starts: np.ndarray | None = None) -> TreeProof:
    """A verified proof tree for max_u |u~^T Q u~| <= rho_bar with rho_bar ~ max(rho, threshold).

    Q, E (p+1, p+1): Q_hat and its elementwise error bound (trusted.rho.q_matrix_with_error).
    threshold: nodes whose bound is <= max(threshold, best value found) are pruned, so a
    threshold a little above rho (e.g. rho (1 + 1e-4)) gives a much smaller tree. leaf_size: free
    variables left to the verifier's enumeration (<= limits.TREE_ENUM_MAX_FREE). deadline:
    time.perf_counter() instant. Raises TreeTooLarge beyond max_leaves leaves or the deadline."""
    start = time.perf_counter()
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    if p < 1:
        raise ValueError("a proof tree needs p >= 1")
    order = _branching_order(Q)
    rng = np.random.default_rng(0)
    sides, nodes, best, level = {}, 0, -math.inf, threshold
    with blas_single_thread():
        # the side of larger magnitude first: its value raises the pruning level of the other side
        hi0, _ = local_search_max(Q, starts, rng=rng)
        lo0, _ = local_search_max(-Q, starts, rng=rng)
        plan = [("plus", 1.0), ("minus", -1.0)] if hi0 >= lo0 else [("minus", -1.0), ("plus", 1.0)]
        for name, sign in plan:
            left = max_leaves - sum(s.leaves for s in sides.values())
            side, value, n = _prove_side(sign * Q, E, order, even, level, leaf_size, left, deadline,
                                         starts, rng)
            sides[name] = side
            nodes += n
            best = max(best, value)
            level = max(level, value)
    tree = RhoTree(order, sides["plus"], sides["minus"])
    rho_bar, why = tree_rho_bound(Q, E, tree, even)
    if rho_bar is None:
        raise TreeTooLarge(f"internal error: the proof tree failed the trusted check: {why}")
    return TreeProof(tree, rho_bar, best, tree.leaves, nodes, time.perf_counter() - start)


def _prove_side(Q, E, order, even, threshold, leaf_size, max_leaves, deadline, starts, rng):
    """(SideTree, best value, nodes) proving max_u u~^T Q u~ <= max(threshold, best) + margins."""
    p = Q.shape[0] - 1
    best, _ = local_search_max(Q, starts, rng=rng)
    margin = 1e-12 * (p + 1) * (float(np.linalg.norm(Q)) + 1e-300)
    leaf_size = max(0, min(leaf_size, p - 1))
    _, mu_root = shor_shift(Q)
    levels = _Levels(Q, order, mu_root, p - leaf_size)
    perm = np.r_[order, p]
    Qo = Q[np.ix_(perm, perm)]
    shor: dict[int, list] = {}          # k -> list of (S (k, N), j (N,), t (N,))
    enum: dict[int, list] = {}          # k -> list of S (k, N)
    count = 0
    nodes = 0
    tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def record(store, k, *arrays):
        nonlocal count
        if arrays[0].shape[1] == 0:
            return
        store.setdefault(k, []).append(arrays)
        count += arrays[0].shape[1]
        if count > max_leaves:
            raise TreeTooLarge(f"the proof needs more than {max_leaves} leaves")

    # stack entry: (k, S (k, N) fixed signs in order, G (p-k, N), c (N,), bound, shift index, t)
    stack = [(0, np.zeros((0, 1)), Qo[:p, p][:, None].copy(), np.array([Qo[p, p]]), np.array([math.inf]),
              np.zeros(1, dtype=np.int64), np.zeros(1))]
    while stack:
        if deadline is not None and time.perf_counter() > deadline:
            raise TreeTooLarge("the deadline passed while building the proof tree")
        k, S, G, c, bound, js, ts = stack.pop()
        lvl = max(best, threshold)
        cut = bound <= lvl
        record(shor, k, S[:, cut], js[cut], ts[cut])
        keep = ~cut
        if not keep.any():
            continue
        S, G, c = S[:, keep], G[:, keep], c[keep]
        signs = (1.0,) if (even and k == 0) else (1.0, -1.0)
        Sc = np.hstack([np.vstack([S, np.full((1, S.shape[1]), s)]) for s in signs])
        Gc = np.hstack([G[1:] + s * Qo[k + 1:p, k][:, None] for s in signs])
        cc = np.concatenate([c + 2.0 * s * G[0] + Qo[k, k] for s in signs])
        kk = k + 1
        nodes += Sc.shape[1]
        if p - kk <= leaf_size:
            r = p - kk
            if r not in tables:
                T = sign_vectors(r)
                A = Qo[kk:p, kk:p]
                tables[r] = (T, np.einsum("in,ij,jn->n", T, A, T) if r else np.zeros(1))
            T, qT = tables[r]
            vals = (2.0 * T.T) @ Gc + qT[:, None] + cc[None, :] if r else cc[None, :]
            best = max(best, float(vals.max()))
            record(enum, kk, Sc)
            continue
        bc = np.full(Sc.shape[1], np.inf)
        jc = np.zeros(Sc.shape[1], dtype=np.int64)
        tc = np.zeros(Sc.shape[1])
        for j, (lam, V, smu) in enumerate(levels.data[kk]):
            b, t = sphere_bounds(lam, V, Gc, cc + smu, return_t=True)
            better = b < bc
            bc, jc, tc = np.where(better, b, bc), np.where(better, j, jc), np.where(better, t, tc)
        bc = bc + margin
        lvl = max(best, threshold)
        cut = bc <= lvl
        record(shor, kk, Sc[:, cut], jc[cut], tc[cut])
        idx = np.flatnonzero(~cut)
        idx = idx[np.argsort(bc[idx], kind="stable")]
        for s0 in range(0, idx.size, BNB_CHUNK):
            part = idx[s0:s0 + BNB_CHUNK]
            stack.append((kk, Sc[:, part], Gc[:, part], cc[part], bc[part], jc[part], tc[part]))
    side = _write_side(Qo, E[np.ix_(perm, perm)], levels, shor, enum)
    return side, best, nodes


def _prefixes(S: np.ndarray) -> list[str]:
    """The '+'/'-' strings of the columns of S (k, N)."""
    k, N = S.shape
    if k == 0:
        return [""] * N
    codes = np.where(S.T > 0, ord("+"), ord("-")).astype(np.uint8)
    raw = codes.tobytes().decode("ascii")
    return [raw[i * k:(i + 1) * k] for i in range(N)]


def _write_side(Qo, Eo, levels, shor, enum) -> SideTree:
    """The SideTree of the recorded leaves, with z_last chosen (and repaired) so that every Shor
    leaf passes the trusted rigorous test."""
    p = Qo.shape[0] - 1
    side = SideTree()
    shift_index: dict[tuple[int, int], int] = {}
    prefixes, shifts, ts, zl = [], [], [], []
    for k in sorted(shor):
        S = np.hstack([a[0] for a in shor[k]])
        js = np.concatenate([a[1] for a in shor[k]])
        t = np.concatenate([a[2] for a in shor[k]])
        r = p - k
        A, G, c, Ep = leaf_system(Qo, Eo, k, S)
        t_use = t.copy()
        z_last = np.empty_like(t)
        ZF = np.empty((r, t.size))
        sigma = np.empty_like(t)
        for j in np.unique(js):
            sel = js == j
            mu = levels.shifts[k][j]
            lam = levels.data[k][j][0]
            # the verifier shifts by s = 2 (gamma(D+2) sum|diag M| + |E_M|_F) and needs Cholesky of M - s I
            # to succeed; sigma = 8 (...) >= 4 s leaves room for that and for a Q_hat recomputed in another order
            diag_sum = np.abs(mu).sum() + 2 * r * np.abs(t[sel]) + np.abs(np.diag(A)).sum() + np.abs(c[sel]) + 1.0
            ep = float(np.linalg.norm(Ep)) + gamma(2) * (float(np.linalg.norm(A)) + np.sqrt((G[:, sel] ** 2).sum(0))
                                                          + np.abs(c[sel]) + diag_sum)
            sigma[sel] = 8.0 * (gamma(r + 3) * diag_sum + ep) + 1e-13 * abs(float(lam[-1]))
            # t - sigma - lambda_max(A) must stay clear of the eigenvalues' rounding
            t_use[sel] = np.maximum(t[sel], lam[-1] + 2.0 * sigma[sel] + 4 * gamma(r + 2) * np.abs(lam).max())
        for attempt in range(REPAIRS):
            for j in np.unique(js):
                sel = js == j
                lam, V, _ = levels.data[k][j]
                t_use[sel] = np.maximum(t_use[sel], lam[-1] + 2.0 * sigma[sel])
                ZF[:, sel] = levels.shifts[k][j][:, None] + t_use[sel][None, :]
                H2 = np.square(V.T @ G[:, sel]) if r else np.zeros((0, int(sel.sum())))
                den = (t_use[sel] - sigma[sel])[None, :] - lam[:, None]
                z_last[sel] = c[sel] + sigma[sel] + (H2 / den).sum(0) * (1 + 1e-12)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ok, _ = shor_leaf_check(A, G, c, Ep, 1.0, ZF, z_last)
            if ok.all():
                break
            sigma = np.where(ok, sigma, 4.0 * sigma)
        else:
            raise TreeTooLarge(f"{int((~ok).sum())} leaves at depth {k} fail the rigorous PSD test")
        for j in np.unique(js):
            key = (k, int(j))
            if key not in shift_index:
                shift_index[key] = len(side.shifts)
                side.shifts.append(levels.shifts[k][j])
        prefixes += _prefixes(S)
        shifts.append(np.array([shift_index[(k, int(j))] for j in js], dtype=np.int64))
        ts.append(t_use)
        zl.append(z_last)
    side.shor_prefix = prefixes
    side.shor_shift = np.concatenate(shifts) if shifts else np.zeros(0, dtype=np.int64)
    side.shor_t = np.concatenate(ts) if ts else np.zeros(0)
    side.shor_z_last = np.concatenate(zl) if zl else np.zeros(0)
    side.enum_prefix = [s for k in sorted(enum) for (S,) in enum[k] for s in _prefixes(S)]
    return side
