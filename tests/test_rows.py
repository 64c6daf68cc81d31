"""Row sources (certqnn/rows.py): blockwise passes equal certqnn.lifting's, shards partition rows."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn.activations import Polynomial
from certqnn.errors import InvalidProblemError
from certqnn.lifting import apply_lifted, neuron_outputs, q_matrix
from certqnn.quantization import Levels
from certqnn.rows import RowSource


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _data(seed, n, d):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


def _sym(rng, D):
    Z = rng.normal(size=(D, D))
    return Z + Z.T


class _Unreadable:
    """Stands for a part file that must not be read."""

    def __init__(self, shape):
        self.shape = shape

    def __getitem__(self, key):
        raise AssertionError("unreadable part was read")


def _write_shards(tmp_path, X, y, cuts):
    bounds = [0, *cuts, X.shape[0]]
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        np.save(tmp_path / f"part-{k}.npy", X[lo:hi])
    np.save(tmp_path / "y.npy", y)
    return RowSource.from_directory(tmp_path)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), d=st.integers(1, 5), block=st.integers(1, 9),
       levels=st.sampled_from(["binary", "ternary", "kbit:2", [-0.5, 0.5]]),
       act=st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2)))
@settings(max_examples=60, deadline=None)
def test_blockwise_passes_equal_lifting(seed, n, d, block, levels, act):
    """q_matrix, apply_lifted, q_matvec and neuron_outputs over blocks equal lifting.py on the
    expanded design Xb, to 1e-12 relative."""
    if act[0] == 0 and act[1] == 0:
        act = (1.0, *act[1:])
    act = Polynomial(*act)
    X, w = _data(seed, n, d)
    lv = Levels.parse(levels)
    Xb = lv.expand(X)
    src = RowSource.from_array(X, activation=act, levels=lv, block_rows=block)
    assert src.p == Xb.shape[1]
    rng = np.random.default_rng(seed + 1)
    Q = q_matrix(Xb, act, w)
    assert _rel(src.q_matrix(w), Q) <= 1e-12 or np.max(np.abs(src.q_matrix(w) - Q)) < 1e-12
    Z = _sym(rng, src.p + 1)
    A = apply_lifted(Xb, act, Z)
    assert np.max(np.abs(src.apply_lifted(Z) - A)) <= 1e-12 * max(np.max(np.abs(A)), 1.0)
    V = rng.normal(size=(src.p + 1, 3))
    QV = Q @ V
    assert np.max(np.abs(src.q_matvec(w, V) - QV)) <= 1e-12 * max(np.max(np.abs(QV)), 1.0)
    np.testing.assert_allclose(src.q_matvec(w, V[:, 0]), QV[:, 0], rtol=0, atol=1e-12 * max(np.max(np.abs(QV)), 1.0))
    S = np.where(rng.random((src.p, 2)) < 0.5, -1.0, 1.0)
    np.testing.assert_allclose(src.neuron_outputs(S), neuron_outputs(Xb, act, S), rtol=1e-12, atol=1e-12)


def test_block_sizes_give_the_same_matrix_at_scale():
    """A realistic block (4096 rows) on n = 10_000, p = 30: 1e-12 relative to the one-shot lifting."""
    X, w = _data(3, 10_000, 30)
    act = Polynomial(1.0, 0.5, -0.25)
    src = RowSource.from_array(X, activation=act)
    assert _rel(src.q_matrix(w), q_matrix(X, act, w)) <= 1e-12
    Z = _sym(np.random.default_rng(0), 31)
    assert _rel(src.apply_lifted(Z), apply_lifted(X, act, Z)) <= 1e-12


@given(n=st.integers(0, 60), size=st.integers(1, 9), block=st.integers(1, 7), seed=st.integers(0, 100))
@settings(max_examples=60, deadline=None)
def test_shards_partition_the_rows_exactly(n, size, block, seed):
    """shard(rank, size) for rank = 0..size-1: consecutive, disjoint, covering [0, n), sizes within
    one; their rows concatenate to X and their partial Q(w) sum to the global Q(w)."""
    X, w = _data(seed, max(n, 1), 3)
    X, w = X[:n], w[:n]
    src = RowSource.from_array(X, block_rows=block) if n else RowSource([(0, X)], 0, 3)
    shards = [src.shard(r, size) for r in range(size)]
    assert shards[0].offset == 0 and shards[-1].hi == n
    for a, b in zip(shards[:-1], shards[1:]):
        assert a.hi == b.lo
    counts = [s.n for s in shards]
    assert sum(counts) == n and max(counts) - min(counts) <= 1
    if n:
        np.testing.assert_array_equal(np.vstack([s.to_array() for s in shards]), X)
        total = sum(s.q_matrix(w[s.lo:s.hi]) for s in shards)
        np.testing.assert_allclose(total, src.q_matrix(w), rtol=1e-12, atol=1e-12)
        Z = _sym(np.random.default_rng(seed), 4)
        np.testing.assert_allclose(np.concatenate([s.apply_lifted(Z) for s in shards]), src.apply_lifted(Z),
                                   rtol=1e-12, atol=1e-12)
    # a shard of a shard stays inside its parent
    if size > 1 and shards[1].n:
        sub = shards[1].shard(0, 2)
        assert shards[1].lo <= sub.lo <= sub.hi <= shards[1].hi


def test_memmap_and_shard_directory_sources(tmp_path):
    """X.npy is memory-mapped; a part-*.npy directory is read in natural name order (part-10 after
    part-2); a rank reads only the part files that hold its rows."""
    X, y = _data(5, 53, 4)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    mm = RowSource.from_npy(tmp_path / "X.npy", tmp_path / "y.npy", block_rows=8)
    assert isinstance(mm._parts[0][1], np.memmap)
    np.testing.assert_array_equal(mm.to_array(), X)
    np.testing.assert_array_equal(mm.shard(1, 3).y(), y[17:35])
    np.testing.assert_allclose(mm.q_matrix(y), q_matrix(X, Polynomial(), y), rtol=1e-12)
    d = tmp_path / "shards"
    d.mkdir()
    cuts = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 51]          # 12 parts: part-0 .. part-11
    src = _write_shards(d, X, y, cuts)
    assert [p[0] for p in src._parts] == [0, *cuts]
    np.testing.assert_array_equal(src.to_array(), X)
    np.testing.assert_array_equal(src.y(), y)
    np.testing.assert_allclose(src.q_matrix(y), q_matrix(X, Polynomial(), y), rtol=1e-12)
    # rank 2 of 4 owns rows [26, 39): parts 5..7 only; the other parts' data are never touched
    rank = src.shard(2, 4)
    assert (rank.lo, rank.hi) == (26, 39)
    touched = []
    for start, arr in rank._parts:
        if start < rank.hi and start + arr.shape[0] > rank.lo:
            touched.append(start)
    assert touched == [25, 30, 35]
    # the other parts replaced by arrays that raise when read: the rank's passes still work
    poisoned = RowSource([(s, a if s in touched else _Unreadable(a.shape)) for s, a in src._parts], src.n_total,
                         src.d, rank.lo, rank.hi, y=y, block_rows=4)
    with pytest.raises(AssertionError, match="unreadable"):
        poisoned._like(0, 53).to_array()
    np.testing.assert_allclose(poisoned.q_matrix(y[26:39]), q_matrix(X[26:39], Polynomial(), y[26:39]), rtol=1e-12)
    np.testing.assert_array_equal(poisoned.to_array(), X[26:39])


def test_bad_input_names_the_field(tmp_path):
    src = RowSource.from_array(np.ones((5, 2)))
    with pytest.raises(InvalidProblemError, match="w"):
        src.q_matrix(np.ones(4))
    with pytest.raises(InvalidProblemError, match="Z"):
        src.apply_lifted(np.eye(2))
    with pytest.raises(InvalidProblemError, match="rank"):
        src.shard(3, 3)
    with pytest.raises(InvalidProblemError, match="block_rows"):
        RowSource.from_array(np.ones((5, 2)), block_rows=0)
    with pytest.raises(InvalidProblemError, match="DATA"):
        RowSource.from_directory(tmp_path)
    np.save(tmp_path / "part-0.npy", np.ones((3, 2)))
    np.save(tmp_path / "part-1.npy", np.ones((3, 3)))
    with pytest.raises(InvalidProblemError, match="DATA"):
        RowSource.from_directory(tmp_path)
