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


# -- the trusted core at scale: block sums, exact arithmetic, certificates with a data file ------
from fractions import Fraction  # noqa: E402
import json  # noqa: E402

from certqnn import QNNProblem, certify, solve, verify  # noqa: E402
from certqnn.cli import main  # noqa: E402
from certqnn.errors import CertQNNError, CertificateFormatError  # noqa: E402
from certqnn.losses import get_loss  # noqa: E402
from certqnn.trusted import certificate as certmod  # noqa: E402
from certqnn.trusted.arith import exact_dot  # noqa: E402
from certqnn.trusted.bounds import exact_objective, outputs_with_error  # noqa: E402
from certqnn.trusted.certificate import Certificate, read_certificate  # noqa: E402
from certqnn.trusted.rho import q_matrix_with_error  # noqa: E402

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(a=st.lists(finite, max_size=30), b=st.lists(finite, max_size=30))
@settings(max_examples=150, deadline=None)
def test_exact_dot_is_the_rational_dot(a, b):
    """Subnormals, huge and tiny exponents, zeros and signs: the integer dot equals Fraction's."""
    k = min(len(a), len(b))
    ref = sum((Fraction(x) * Fraction(z) for x, z in zip(a[:k], b[:k])), Fraction(0))
    assert exact_dot(a[:k], b[:k]) == ref


def _exact_q(Xb, act, w):
    """Q(w) in rationals, (p+1, p+1) lists."""
    n, p = Xb.shape
    coef = [[Fraction(act.a) if k < p and l < p else Fraction(act.c) if k == p and l == p else Fraction(act.b) / 2
             for l in range(p + 1)] for k in range(p + 1)]
    Q = [[Fraction(0)] * (p + 1) for _ in range(p + 1)]
    for i in range(n):
        xt = [Fraction(v) for v in Xb[i].tolist()] + [Fraction(1)]
        wi = Fraction(w[i])
        for k in range(p + 1):
            for l in range(p + 1):
                Q[k][l] += coef[k][l] * wi * xt[k] * xt[l]
    return Q


@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), p=st.integers(1, 4), block=st.integers(1, 6),
       wexp=st.integers(-20, 20))
@settings(max_examples=40, deadline=None)
def test_blockwise_q_error_bound_holds_exactly(seed, n, p, block, wexp):
    """|Q_hat - Q(w)| <= E entrywise, in rationals, whatever the row block size; the block sums
    agree with the one-block matrix to rounding."""
    rng = np.random.default_rng(seed)
    Xb = np.where(rng.random((n, p)) < 0.5, -1.0, 1.0) * rng.choice([1.0, 0.3, 3.0], (n, p))
    w = rng.normal(size=n) * 2.0 ** wexp
    w[::3] *= -1e8                                  # cancellation
    act = Polynomial(1.3, -0.7, 0.2)
    Q, E = q_matrix_with_error(Xb, act, w, block_rows=block)
    Qx = _exact_q(Xb, act, w)
    for k in range(p + 1):
        for l in range(p + 1):
            assert abs(Fraction(Q[k, l]) - Qx[k][l]) <= Fraction(E[k, l])
    Q1, E1 = q_matrix_with_error(Xb, act, w, block_rows=n)
    assert np.all(np.abs(Q - Q1) <= E + E1)


@given(seed=st.integers(0, 10_000), block=st.integers(1, 8))
@settings(max_examples=20, deadline=None)
def test_blockwise_outputs_keep_their_error_bound(seed, block):
    """Any block size: |yhat_i - f(x_i)| <= err_i against f computed in rationals (BLAS may round
    a block differently, so the outputs agree with the one-block call only to the bound)."""
    rng = np.random.default_rng(seed)
    X, U, alpha = rng.normal(size=(17, 5)) * 1e3, np.sign(rng.normal(size=(5, 3))), rng.normal(size=3)
    act = Polynomial(1.0, 0.3, -0.1)
    f, err = outputs_with_error(X, act, U, alpha, block_rows=block)
    a, b, c = (Fraction(v) for v in (act.a, act.b, act.c))
    for i in range(17):
        fx = Fraction(0)
        for j in range(3):
            t = sum((Fraction(X[i, k]) * Fraction(U[k, j]) for k in range(5)), Fraction(0))
            fx += Fraction(alpha[j]) * ((a * t + b) * t + c)
        assert abs(Fraction(f[i]) - fx) <= Fraction(err[i])
    f1, e1 = outputs_with_error(X, act, U, alpha, block_rows=17)
    assert np.all(np.abs(f - f1) <= err + e1)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), d=st.integers(1, 4), m=st.integers(0, 3),
       block=st.integers(1, 5), xexp=st.integers(-40, 40), zeros=st.booleans())
@settings(max_examples=60, deadline=None)
def test_exact_objective_matches_rational_arithmetic(seed, n, d, m, block, xexp, zeros):
    """The integer/dyadic evaluation equals a plain Fraction evaluation of J, for any block size,
    rows with zeros and wildly different magnitudes, levels with non-unit values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 2.0 ** rng.integers(-xexp if xexp > 0 else xexp, abs(xexp) + 1, (n, d))
    if zeros:
        X[rng.random((n, d)) < 0.4] = 0.0
    U = rng.choice([-1.5, -0.5, 0.0, 0.5, 1.5], (d, m))
    alpha = rng.normal(size=m)
    if m and zeros:
        alpha[0] = 0.0
    y = rng.normal(size=n)
    act = Polynomial(*rng.normal(size=3))
    a, b, c = (Fraction(v) for v in (act.a, act.b, act.c))
    J = Fraction(0)
    for i in range(n):
        f = Fraction(0)
        for j in range(m):
            t = sum((Fraction(X[i, k]) * Fraction(U[k, j]) for k in range(d)), Fraction(0))
            f += Fraction(alpha[j]) * ((a * t + b) * t + c)
        J += (f - Fraction(y[i])) ** 2 / 2
    J += Fraction(0.7) * sum((abs(Fraction(v)) for v in alpha), Fraction(0))
    assert exact_objective(get_loss("squared"), X, y, act, U, alpha, 0.7, block_rows=block) == J


def _small_cert():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X[:, 0] ** 2 - X[:, 1] + 0.1 * rng.normal(size=30)
    problem = QNNProblem(X, y, beta=0.5)
    return problem, certify(problem, solve(problem, backend="enumeration"), rho="exact")


def test_streamed_json_equals_json_dumps_and_round_trips(tmp_path):
    """The chunked writer gives exactly json.dumps(to_dict()), for any chunk size."""
    problem, cert = _small_cert()
    text = json.dumps(cert.to_dict(), allow_nan=False)
    assert cert.to_json() == text
    old = certmod.CHUNK_ROWS
    try:
        certmod.CHUNK_ROWS = 7
        assert "".join(certmod._array_chunks(problem.X, 7)) == json.dumps(problem.X.tolist())
        assert "".join(certmod._array_chunks(problem.y, 4)) == json.dumps(problem.y.tolist())
    finally:
        certmod.CHUNK_ROWS = old
    cert.write(tmp_path / "c.json", data="embed")
    assert (tmp_path / "c.json").read_text() == text
    again = Certificate.read(tmp_path / "c.json")
    np.testing.assert_array_equal(again.problem_doc["X"], problem.X)
    assert verify(again).ok


def test_certificate_with_a_data_file(tmp_path, monkeypatch):
    """write(data='file') puts X, y in CERT.data.npz next to the JSON; verify reads it from the
    certificate's directory (any working directory) and checks its SHA-256; a changed data file
    or a missing one fails; hostile names are refused."""
    problem, cert = _small_cert()
    side = cert.write(tmp_path / "c.json", data="file")
    assert side == str(tmp_path / "c.data.npz")
    doc = json.loads((tmp_path / "c.json").read_text())
    assert "X" not in doc["problem"] and doc["data_file"] == "c.data.npz"
    assert doc["data_sha256"] == problem.data_hash()
    monkeypatch.chdir("/")
    again = read_certificate(tmp_path / "c.json")
    assert verify(again).ok
    assert main(["verify", str(tmp_path / "c.json")]) == 0
    # tampered data: the hash check fails (and the bounds are recomputed on the new data)
    with np.load(tmp_path / "c.data.npz") as f:
        X, y = f["X"].copy(), f["y"].copy()
    X[0, 0] += 1e-9
    np.savez(tmp_path / "c.data.npz", X=X, y=y)
    verdict = verify(read_certificate(tmp_path / "c.json"))
    assert not verdict.ok and [c.name for c in verdict.failed][0] == "data_hash"
    # a pickle-bearing or extra-array file is refused; a missing file fails the problem check
    np.savez(tmp_path / "c.data.npz", X=X, y=y, extra=y)
    assert [c.name for c in verify(read_certificate(tmp_path / "c.json")).failed] == ["problem"]
    (tmp_path / "c.data.npz").unlink()
    assert [c.name for c in verify(read_certificate(tmp_path / "c.json")).failed] == ["problem"]
    # the CLI calls a missing data file missing input (exit 2, naming the file), not a failed check
    assert main(["verify", str(tmp_path / "c.json")]) == 2
    for bad in ["../c.data.npz", "/etc/passwd.npz", "sub/c.npz", "c.data.npy", "", 7]:
        d = dict(doc, data_file=bad)
        with pytest.raises(CertificateFormatError, match="data_file"):
            Certificate.from_dict(d)
    with pytest.raises(CertificateFormatError, match="data_sha256"):
        Certificate.from_dict(dict(doc, data_sha256=None))


def test_auto_writes_a_data_file_only_beyond_the_limit(tmp_path, monkeypatch):
    problem, cert = _small_cert()
    assert cert.write(tmp_path / "a.json") is None            # 120 numbers: embedded
    monkeypatch.setattr(certmod, "EMBED_MAX_VALUES", 100)
    assert cert.write(tmp_path / "b.json") == str(tmp_path / "b.data.npz")
    assert verify(read_certificate(tmp_path / "b.json")).ok
    assert "X" in cert.problem_doc                            # the in-memory certificate is unchanged


def test_write_refuses_a_file_the_readers_would_refuse(tmp_path, monkeypatch):
    problem, cert = _small_cert()
    monkeypatch.setattr(certmod, "MAX_FILE_BYTES", 2000)
    with pytest.raises(CertQNNError, match="embed"):
        cert.write(tmp_path / "c.json", data="embed")
    assert not (tmp_path / "c.json").exists()
    cert.write(tmp_path / "c.json", data="file")              # the lean JSON fits
    monkeypatch.setattr(certmod, "MAX_FILE_BYTES", 1 << 30)
    assert verify(read_certificate(tmp_path / "c.json")).ok


def test_cli_solves_and_verifies_a_directory(tmp_path, monkeypatch):
    """DATA = a directory of row shards + y.npy: loaded like the .npz of the same arrays."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    y = X[:, 0] * X[:, 1] + 0.1 * rng.normal(size=40)
    (tmp_path / "dir").mkdir()
    for k, (lo, hi) in enumerate([(0, 15), (15, 30), (30, 40)]):
        np.save(tmp_path / "dir" / f"part-{k}.npy", X[lo:hi])
    np.save(tmp_path / "dir" / "y.npy", y)
    np.savez(tmp_path / "same.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "dir", "--backend", "enumeration", "--out", "a.json"]) == 0
    assert main(["solve", "same.npz", "--backend", "enumeration", "--out", "b.json"]) == 0
    a, b = (json.loads(open(f).read()) for f in ("a.json", "b.json"))
    assert a["data_sha256"] == b["data_sha256"] and a["upper_bound"] == b["upper_bound"]
    assert main(["verify", "a.json"]) == 0
    (tmp_path / "dir2").mkdir()
    np.save(tmp_path / "dir2" / "X.npy", X)
    assert main(["solve", "dir2", "--backend", "enumeration"]) == 2          # no y.npy


@pytest.mark.parametrize("levels", ["ternary", "kbit:3", [-0.3, 0.3]])
def test_q_error_bound_expands_blocks_like_the_full_design(levels):
    """levels=: raw X expanded block by block gives the same (Q_hat, E) as the full binary design."""
    rng = np.random.default_rng(4)
    X, w = rng.normal(size=(50, 3)), rng.normal(size=50)
    lv = Levels.parse(levels)
    act = Polynomial(1.0, 0.5, 0.25)
    Q1, E1 = q_matrix_with_error(lv.expand(X), act, w, block_rows=16)
    Q2, E2 = q_matrix_with_error(X, act, w, block_rows=16, levels=lv)
    np.testing.assert_array_equal(Q1, Q2)
    np.testing.assert_array_equal(E1, E2)


@given(seed=st.integers(0, 10_000), m=st.integers(0, 9), xexp=st.integers(-30, 30),
       act=st.sampled_from([(1.0, 0.0, 0.0), (1.0, 0.3, -0.1), (-0.5, -2.0, 0.0), (0.0, 1.0, 0.7)]))
@settings(max_examples=60, deadline=None)
def test_the_blocks_outputs_and_bounds_are_the_formulas_bits(seed, m, xexp, act):
    """The in-place evaluation of a block (trusted.bounds._outputs_block) gives, bit for bit, the
    outputs and error bounds of the formulas it implements (docs/math.md §8)."""
    from certqnn.trusted.arith import SAFETY, TINY, gamma
    from certqnn.trusted.bounds import _outputs_block

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(23, 6)) * 2.0 ** xexp
    X[0, :2] = [0.0, -0.0]
    U, alpha = np.sign(rng.normal(size=(6, m))), rng.normal(size=m)
    a, b, c = act
    T = X @ U
    eT = (gamma(6) * (np.abs(X) @ np.abs(U))) * SAFETY + TINY
    S = (a * T + b) * T + c
    eS = eT * (abs(a) * (2 * np.abs(T) + eT) + abs(b)) + gamma(4) * ((abs(a) * np.abs(T) + abs(b)) * np.abs(T) + abs(c))
    eS = eS * SAFETY + TINY
    f = S @ alpha
    ef = (gamma(m) * (np.abs(S) @ np.abs(alpha)) + eS @ np.abs(alpha)) * SAFETY + TINY
    got_f, got_ef = _outputs_block(X, Polynomial(*act), U, alpha)
    np.testing.assert_array_equal(got_f.view(np.int64), f.view(np.int64))
    np.testing.assert_array_equal(got_ef.view(np.int64), ef.view(np.int64))
