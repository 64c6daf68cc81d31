"""rho_bar >= max_u |u~^T Q(w) u~| from a branch-and-bound tree (docs/math.md §5; proofs/bnb_tree.md).

A tree proves  max_u sign * u~^T Q u~ <= rho_bar  for sign = +1 and sign = -1. It fixes a variable
order (a permutation of 0..p-1) and lists leaves: each leaf is a prefix, a string over {+, -} giving
the signs of the first k variables of the order; its cylinder is every u with that prefix. The
verifier checks, with integers only, that the cylinders partition {-1,+1}^p (for an even activation,
whose value is invariant under u -> -u, the half with first variable +1), and bounds each leaf:

* a Shor leaf carries (shift index j, t, z_last): with F the free variables, A = Q_FF and
  g = Q_{F,K} s_K + Q_{F,p}, c = s~_K^T Q_{K~K~} s~_K the reduced homogenised matrix is
  Q' = [[A, g], [g^T, c]] and u~^T Q u~ = v^T Q' v for v = (u_F, 1). With z = (mu_j + t 1, z_last),
  Diag(z) - sign Q' >= 0 (checked by the rigorous PSD test) gives sign u~^T Q u~ <= 1^T z on the leaf;
* an enumeration leaf (at most TREE_ENUM_MAX_FREE free variables) is enumerated here, with the
  rounding bound of the exact check (trusted.rho.exact_rho_bound).

Q' is formed in floating point from Q_hat; the elementwise bound E' on |Q'_hat - Q'| adds the
error E of Q_hat and the rounding of the sums that form g and c.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import CertificateFormatError
from ..limits import MAX_TREE_LEAVES, TREE_ENUM_MAX_FREE
from .arith import SAFETY, TINY, gamma, up
from .enumerate import sign_vectors
from .psd import is_psd_rigorous_batch

SIDES = ("plus", "minus")
_PREFIX = re.compile(r"[+-]*\Z")
CHUNK_ENTRIES = 1 << 21            # matrix entries per batch of PSD tests / enumerations (16 MiB)


@dataclass
class SideTree:
    """The leaves proving max_u sign * u~^T Q u~ <= rho_bar for one sign.

    shifts: list of vectors mu_j (one per distinct use; length = the leaf's number of free
    variables); shor_prefix (N,) strings, shor_shift (N,) ints, shor_t (N,), shor_z_last (N,);
    enum_prefix: prefixes whose free set the verifier enumerates."""

    shifts: list = field(default_factory=list)
    shor_prefix: list = field(default_factory=list)
    shor_shift: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shor_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shor_z_last: np.ndarray = field(default_factory=lambda: np.zeros(0))
    enum_prefix: list = field(default_factory=list)

    @property
    def leaves(self) -> int:
        return len(self.shor_prefix) + len(self.enum_prefix)

    def to_dict(self) -> dict:
        return {"shifts": [np.asarray(m, float).tolist() for m in self.shifts],
                "shor": {"prefix": list(self.shor_prefix), "shift": [int(j) for j in self.shor_shift],
                         "t": np.asarray(self.shor_t, float).tolist(),
                         "z_last": np.asarray(self.shor_z_last, float).tolist()},
                "enum": list(self.enum_prefix)}


@dataclass
class RhoTree:
    """Both sides' trees over one variable order (order: (p,) a permutation of 0..p-1)."""

    order: np.ndarray
    plus: SideTree
    minus: SideTree

    @property
    def leaves(self) -> int:
        return self.plus.leaves + self.minus.leaves

    def to_dict(self) -> dict:
        return {"order": [int(i) for i in self.order], "plus": self.plus.to_dict(), "minus": self.minus.to_dict()}

    @classmethod
    def from_dict(cls, doc, key: str = "dual.tree") -> "RhoTree":
        """Type- and size-checked reading; CertificateFormatError names the field. Whether the
        tree proves anything is decided by tree_rho_bound, not here."""
        if not isinstance(doc, dict):
            raise CertificateFormatError(key, "must be an object")
        order = _int_list(doc.get("order"), f"{key}.order")
        sides = [_side(doc.get(s), f"{key}.{s}") for s in SIDES]
        if sum(s.leaves for s in sides) > MAX_TREE_LEAVES:
            raise CertificateFormatError(key, f"more than {MAX_TREE_LEAVES} leaves")
        return cls(np.array(order, dtype=np.int64), *sides)


def _int_list(value, key):
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise CertificateFormatError(key, "must be a list of integers")
    return value


def _float_array(value, key):
    if not isinstance(value, list) or not all(type(v) in (int, float) for v in value):
        raise CertificateFormatError(key, "must be a list of numbers")
    try:
        arr = np.array(value, dtype=float)
    except OverflowError:
        raise CertificateFormatError(key, "contains a number too large for a double") from None
    if not np.all(np.isfinite(arr)):
        raise CertificateFormatError(key, "contains NaN or inf")
    return arr


def _prefixes(value, key):
    if not isinstance(value, list) or not all(isinstance(v, str) and _PREFIX.match(v) for v in value):
        raise CertificateFormatError(key, "must be a list of strings over '+' and '-'")
    return value


def _side(doc, key) -> SideTree:
    if not isinstance(doc, dict):
        raise CertificateFormatError(key, "must be an object")
    shifts_raw = doc.get("shifts")
    if not isinstance(shifts_raw, list):
        raise CertificateFormatError(f"{key}.shifts", "must be a list of vectors")
    shifts = [_float_array(m, f"{key}.shifts[{i}]") for i, m in enumerate(shifts_raw)]
    shor = doc.get("shor")
    if not isinstance(shor, dict):
        raise CertificateFormatError(f"{key}.shor", "must be an object")
    prefix = _prefixes(shor.get("prefix"), f"{key}.shor.prefix")
    shift = np.array(_int_list(shor.get("shift"), f"{key}.shor.shift"), dtype=object)
    t = _float_array(shor.get("t"), f"{key}.shor.t")
    z_last = _float_array(shor.get("z_last"), f"{key}.shor.z_last")
    if not (len(prefix) == shift.size == t.size == z_last.size):
        raise CertificateFormatError(f"{key}.shor", "prefix, shift, t and z_last need one entry per leaf")
    if shift.size and (min(shift) < 0 or max(shift) >= len(shifts)):
        raise CertificateFormatError(f"{key}.shor.shift", f"indices must lie in 0..{len(shifts) - 1}")
    enum = _prefixes(doc.get("enum"), f"{key}.enum")
    return SideTree(shifts, prefix, shift.astype(np.int64), t, z_last, enum)


# -- the checks ----------------------------------------------------------------------------------
def partition_error(prefixes: list[str], p: int, even: bool) -> str | None:
    """None if the cylinders of the prefixes partition {-1,+1}^p (even: the half whose first
    variable is +; every prefix must then start with '+'); otherwise the reason.

    Sorted lexicographically, a prefix precedes every extension of it and every string between
    the two shares it, so an overlap shows between neighbours. Disjoint cylinders of total
    measure 2^p (resp. 2^(p-1)), summed in integers, cover the whole (resp. the half)."""
    if any(len(s) > p for s in prefixes):
        return f"a prefix is longer than p = {p}"
    if even and any(not s.startswith("+") for s in prefixes):
        return "for an even activation every prefix must start with '+' (the half u_1 = +1)"
    ordered = sorted(prefixes)
    for a, b in zip(ordered, ordered[1:]):
        if b.startswith(a):
            return f"leaves {a!r} and {b!r} overlap"
    total = sum(1 << (p - len(s)) for s in ordered)
    need = 1 << (p - 1) if even else 1 << p
    if total != need:
        return f"leaves cover {total} of the {need} sign vectors"
    return None


def _signs(prefixes: list[str], k: int) -> np.ndarray:
    """(k, N) the +-1 values of the prefixes (all of length k)."""
    if not prefixes:
        return np.zeros((k, 0))
    codes = np.frombuffer("".join(prefixes).encode("ascii"), dtype=np.uint8).reshape(len(prefixes), k)
    return np.where(codes == ord("-"), -1.0, 1.0).T.copy()


def leaf_system(Qo: np.ndarray, Eo: np.ndarray, k: int, S: np.ndarray):
    """The reduced homogenised matrices of leaves that fix the first k coordinates of Qo (the
    permuted Q, constant coordinate last, (p+1, p+1)) to the columns of S (k, N).

    Returns (A (r, r), G (r, N), c (N,), Ep (r+1, r+1)) with r = p - k: Q'_leaf = [[A, g], [g^T, c]]
    in floating point, and |Q'_hat - Q'| <= Ep for every leaf (E of Q_hat plus the rounding of the
    (k+1)-term sums in g and the (k+1)^2-term sum in c; products with +-1 are exact)."""
    p = Qo.shape[0] - 1
    r = p - k
    A = Qo[k:p, k:p]
    G = Qo[k:p, :k] @ S + Qo[k:p, p][:, None]
    c = np.einsum("in,ij,jn->n", S, Qo[:k, :k], S) + 2.0 * (Qo[p, :k] @ S) + Qo[p, p]
    Ep = np.empty((r + 1, r + 1))
    Ep[:r, :r] = Eo[k:p, k:p]
    eg = (Eo[k:p, :k].sum(1) + Eo[k:p, p]
          + gamma(k + 1) * (np.abs(Qo[k:p, :k]).sum(1) + np.abs(Qo[k:p, p]))) * SAFETY + TINY
    Ep[:r, r] = Ep[r, :r] = eg
    Kt = np.r_[np.arange(k), p]
    Ep[r, r] = (float(Eo[np.ix_(Kt, Kt)].sum())
                + gamma((k + 1) ** 2 + 1) * float(np.abs(Qo[np.ix_(Kt, Kt)]).sum())) * SAFETY + TINY
    return A, G, c, Ep


def shor_leaf_check(A, G, c, Ep, sign: float, ZF: np.ndarray, z_last: np.ndarray):
    """(ok (N,), bound (N,)) for Shor leaves sharing A, Ep: ok_i iff Diag(z_i) - sign Q'_i passes the
    rigorous PSD test (z_i = (ZF[:, i], z_last_i), ZF (r, N)); bound_i >= 1^T z_i (rounded up)."""
    r, N = G.shape
    D = r + 1
    ok = np.zeros(N, dtype=bool)
    bound = np.full(N, np.inf)
    step = max(1, CHUNK_ENTRIES // (D * D))
    idx_r = np.arange(r)
    for s0 in range(0, N, step):
        sl = slice(s0, min(N, s0 + step))
        n = sl.stop - sl.start
        Z = np.vstack([ZF[:, sl], z_last[None, sl]])            # (D, n)
        Qp = np.empty((n, D, D))
        Qp[:, :r, :r] = sign * A
        Qp[:, :r, r] = Qp[:, r, :r] = sign * G[:, sl].T
        Qp[:, r, r] = sign * c[sl]
        M = -Qp
        M[:, idx_r, idx_r] += Z[:r].T
        M[:, r, r] += Z[r]
        EM = Ep[None] + gamma(2) * np.abs(Qp)
        EM[:, idx_r, idx_r] += gamma(2) * np.abs(Z[:r].T)
        EM[:, r, r] += gamma(2) * np.abs(Z[r])
        EM = EM * SAFETY + TINY
        ok[sl] = is_psd_rigorous_batch(M, EM)
        # |fl(sum z) - sum z| <= gamma(D - 1) sum |z|; one more rounding of the addition is covered by up()
        err = gamma(D + 2) * np.abs(Z).sum(0) * SAFETY + TINY
        bound[sl] = np.nextafter(Z.sum(0) + err, np.inf)
    return ok, bound


def enum_leaf_bounds(Qo: np.ndarray, k: int, S: np.ndarray, sign: float, err: float) -> np.ndarray:
    """(N,) upper bounds of sign * u~^T Q u~ over each enumeration leaf (all completions of the
    prefixes S (k, N)); err bounds the rounding of one evaluation and the error of Q_hat."""
    p = Qo.shape[0] - 1
    r = p - k
    A, G, c, _ = leaf_system(Qo, np.zeros_like(Qo), k, S)
    T = sign_vectors(r)                                          # (r, 2^r)
    qT = np.einsum("in,ij,jn->n", T, A, T) if r else np.zeros(1)
    N = S.shape[1]
    out = np.empty(N)
    step = max(1, CHUNK_ENTRIES // T.shape[1])
    for s0 in range(0, N, step):
        sl = slice(s0, min(N, s0 + step))
        vals = qT[:, None] + 2.0 * (T.T @ G[:, sl]) + c[None, sl] if r else np.broadcast_to(c[None, sl], (1, sl.stop - sl.start))
        vals = sign * vals
        top = vals.max(0)
        out[sl] = np.where(np.isnan(top) | np.isnan(vals.min(0)), np.inf, top)
    return np.nextafter(out + err, np.inf)


def tree_rho_bound(Q: np.ndarray, E: np.ndarray, tree: RhoTree, even: bool) -> tuple[float | None, str]:
    """rho_bar >= max_u |u~^T Q u~| for every Q with |Q - Q_hat| <= E, from a RhoTree; (None, reason)
    when a check fails. Q, E (p+1, p+1); even: the activation is even (u and -u give one value)."""
    p = Q.shape[0] - 1
    order = np.asarray(tree.order)
    if p < 1 or order.shape != (p,) or sorted(order.tolist()) != list(range(p)):
        return None, f"tree order must be a permutation of 0..{p - 1}"
    perm = np.r_[order, p]
    Qo, Eo = Q[np.ix_(perm, perm)], E[np.ix_(perm, perm)]
    D = p + 1
    enum_err = (gamma(D * D + 2 * D + 2) * float(np.abs(Q).sum()) + float(E.sum())) * SAFETY + TINY
    best = -math.inf
    counts = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for name, sign in zip(SIDES, (1.0, -1.0)):
            side: SideTree = getattr(tree, name)
            bad = partition_error(list(side.shor_prefix) + list(side.enum_prefix), p, even)
            if bad is not None:
                return None, f"tree {name}: {bad}"
            if any(p - len(s) > TREE_ENUM_MAX_FREE for s in side.enum_prefix):
                return None, f"tree {name}: an enumeration leaf has more than {TREE_ENUM_MAX_FREE} free variables"
            by_len: dict[int, list[int]] = {}
            for i, s in enumerate(side.shor_prefix):
                by_len.setdefault(len(s), []).append(i)
            for k, idx in by_len.items():
                idx = np.array(idx)
                r = p - k
                js = side.shor_shift[idx]
                if any(side.shifts[j].shape != (r,) for j in set(js.tolist())):
                    return None, f"tree {name}: a Shor leaf with {r} free variables uses a shift of another length"
                S = _signs([side.shor_prefix[i] for i in idx], k)
                A, G, c, Ep = leaf_system(Qo, Eo, k, S)
                MU = np.stack([side.shifts[j] for j in js], axis=1) if r else np.zeros((0, idx.size))
                ZF = MU + side.shor_t[idx][None, :]
                ok, bound = shor_leaf_check(A, G, c, Ep, sign, ZF, side.shor_z_last[idx])
                if not ok.all():
                    i = int(idx[np.flatnonzero(~ok)[0]])
                    return None, (f"tree {name}: leaf {side.shor_prefix[i]!r}: Diag(z) - Q' is not PSD "
                                  f"by the rigorous test ({int((~ok).sum())} leaves fail)")
                best = max(best, float(bound.max()))
            by_len = {}
            for s in side.enum_prefix:
                by_len.setdefault(len(s), []).append(s)
            for k, prefs in by_len.items():
                bound = enum_leaf_bounds(Qo, k, _signs(prefs, k), sign, enum_err)
                best = max(best, float(bound.max()))
            counts.append(f"{name}: {len(side.shor_prefix)} Shor + {len(side.enum_prefix)} enumerated leaves")
    if not math.isfinite(best):
        return None, "tree bound is not finite"
    return up(best), "branch-and-bound tree, " + "; ".join(counts)
