"""QNNProblem validation (docs/math.md §1) and level-set parsing (docs/math.md §2)."""
import math

import numpy as np
import pytest

from certqnn import InvalidProblemError, Levels, Polynomial, QNNProblem

RNG = np.random.default_rng(0)
X0 = RNG.standard_normal((6, 3))
Y0 = RNG.standard_normal(6)


def field_of(excinfo):
    return excinfo.value.field


# -- data ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_X_rejected(bad):
    X = X0.copy()
    X[2, 1] = bad
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X, Y0)
    assert field_of(e) == "X"
    assert "row 2" in str(e.value) and "column 1" in str(e.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_y_rejected(bad):
    y = Y0.copy()
    y[4] = bad
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, y)
    assert field_of(e) == "y"
    assert "index 4" in str(e.value)


@pytest.mark.parametrize("X", [
    np.zeros(6),                    # 1-D
    np.zeros((6, 3, 1)),            # 3-D
    np.zeros((0, 3)),               # no samples
    np.zeros((6, 0)),               # no features
    [],                             # empty list
    [[1.0, 2.0], [3.0]],            # ragged
    [["a", "b"], ["c", "d"]],       # not numeric
    5.0,                            # scalar
])
def test_bad_X_shapes_rejected(X):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X, Y0)      # X is validated first, whatever y is
    assert field_of(e) == "X"


@pytest.mark.parametrize("y", [
    np.zeros(5),                    # too short
    np.zeros(7),                    # too long
    np.zeros((6, 2)),               # 2-D, not a column
    np.zeros((2, 3)),               # 2-D with 6 entries: still wrong
    ["a"] * 6,                      # not numeric
    np.zeros(0),                    # empty
])
def test_bad_y_rejected(y):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, y)
    assert field_of(e) == "y"


def test_column_and_row_y_are_flattened():
    for y in (Y0[:, None], Y0[None, :]):
        p = QNNProblem(X0, y)
        assert p.y.shape == (6,)
        np.testing.assert_array_equal(p.y, Y0)


def test_data_are_copied_and_read_only():
    X, y = X0.copy(), Y0.copy()
    p = QNNProblem(X, y)
    X[0, 0] += 1.0
    y[0] += 1.0
    assert p.X[0, 0] == X0[0, 0] and p.y[0] == Y0[0]
    with pytest.raises(ValueError):
        p.X[0, 0] = 3.0
    with pytest.raises(ValueError):
        p.y[0] = 3.0


# -- scalars ------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.0, -1.0, -1e-300, math.nan, math.inf, -math.inf, "abc", None, [1.0]])
def test_bad_beta_rejected(beta):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, Y0, beta=beta)
    assert field_of(e) == "beta"


def test_tiny_positive_beta_accepted():
    assert QNNProblem(X0, Y0, beta=1e-300).beta == 1e-300


@pytest.mark.parametrize("loss", ["softmax", "cross-entropy", "", 3, None, "huber:0", "hinge:1"])
def test_unknown_loss_rejected(loss):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, Y0, loss=loss)
    assert field_of(e) == "loss"


def test_loss_name_is_case_insensitive():
    assert QNNProblem(X0, Y0, loss="Squared").loss.name == "squared"


@pytest.mark.parametrize("width", [0, -1, 1.5, 2.0, True, False, "3", [2]])
def test_bad_width_rejected(width):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, Y0, width=width)
    assert field_of(e) == "width"


def test_width_accepts_numpy_integers():
    p = QNNProblem(X0, Y0, width=np.int64(3))
    assert p.width == 3 and type(p.width) is int
    assert QNNProblem(X0, Y0).width is None


@pytest.mark.parametrize("act, field", [
    ((0, 0, 1), "activation"),              # constant network
    ((math.nan, 0, 0), "activation.a"),
    ((1, math.inf, 0), "activation.b"),
    ((1, 0, "x"), "activation.c"),
    ((1, 2, 3, 4), "activation"),
    ("1,0", "activation"),
    ("a,b,c", "activation"),
    (object(), "activation"),
])
def test_bad_activation_rejected(act, field):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, Y0, activation=act)
    assert field_of(e) == field


def test_activation_forms_are_equivalent():
    for act in ((1, 0.5, -2), Polynomial(1, 0.5, -2), "1, 0.5, -2", [1, 0.5, -2]):
        p = QNNProblem(X0, Y0, activation=act)
        assert p.activation == Polynomial(1.0, 0.5, -2.0)
    assert Polynomial(1, 0, 0).is_even and not Polynomial(1, 0.5, 0).is_even
    t = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(Polynomial(1, 0.5, -2)(t), t ** 2 + 0.5 * t - 2)


# -- levels -------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, field", [
    ("quaternary", "levels"), ("kbit:0", "levels"), ("kbit:9", "levels"), ("kbit:x", "levels"),
    ("kbit:", "levels"), ("", "levels"), ("1", "levels"), ("1,a", "levels"),
    ([0.0, 1.0], "levels"),                 # not symmetric
    ([-1.0, 0.5, 1.0], "levels"),           # not a grid
    ([-1.0, 0.0, 0.5, 1.0], "levels"),      # 4 values but not a uniform odd grid
    ([-3.0, -2.0, 2.0, 3.0], "levels"),
    ([1.0], "levels"), ([1.0, 1.0], "levels"), ([], "levels"),
    ([-1.0, math.nan], "levels"), ([-math.inf, math.inf], "levels"),
    ([-1.0, -0.5], "levels"),               # all negative
    ({"a": 1}, "levels"),
])
def test_unknown_levels_rejected(spec, field):
    with pytest.raises(InvalidProblemError) as e:
        QNNProblem(X0, Y0, levels=spec)
    assert field_of(e) == field


@pytest.mark.parametrize("kwargs, field", [
    (dict(kind="quinary"), "levels"), (dict(kind="binary", scale=0.0), "levels.scale"),
    (dict(kind="binary", scale=-1.0), "levels.scale"), (dict(kind="binary", scale=math.nan), "levels.scale"),
    (dict(kind="ternary", scale="big"), "levels.scale"), (dict(kind="kbit", bits=0), "levels"),
    (dict(kind="kbit", bits=2.0), "levels"),
])
def test_bad_levels_object_rejected(kwargs, field):
    with pytest.raises(InvalidProblemError) as e:
        Levels(**kwargs)
    assert field_of(e) == field


@pytest.mark.parametrize("spec, values, bits", [
    ("binary", [-1, 1], 1),
    (" Binary ", [-1, 1], 1),
    ("ternary", [-1, 0, 1], 2),
    ("TERNARY", [-1, 0, 1], 2),
    ("kbit:1", [-1, 1], 1),
    ("kbit:2", [-3, -1, 1, 3], 2),
    ("kbit:3", [-7, -5, -3, -1, 1, 3, 5, 7], 3),
    ("-2,2", [-2, 2], 1),
    ("-1, 0, 1", [-1, 0, 1], 2),
    ([1.0, -1.0, 1.0], [-1, 1], 1),                     # unordered, duplicated
    ([-0.5, 0.0, 0.5], [-0.5, 0, 0.5], 2),              # scaled ternary
    ([-6.0, -2.0, 2.0, 6.0], [-6, -2, 2, 6], 2),        # scaled 2-bit
    ([3.0, 1.0, -1.0, -3.0], [-3, -1, 1, 3], 2),
    (list(range(-15, 16, 2)), list(range(-15, 16, 2)), 4),
    (np.array([-0.25, 0.25]), [-0.25, 0.25], 1),
])
def test_levels_parsing_and_values(spec, values, bits):
    lv = Levels.parse(spec)
    np.testing.assert_array_equal(lv.values, np.array(values, float))
    assert lv.n_bits == bits
    p = QNNProblem(X0, Y0, levels=spec)
    assert p.levels == lv
    assert p.binary_dim == 3 * bits
    assert p.binary_design().shape == (6, 3 * bits)


@pytest.mark.parametrize("kind, bits, scale, expected", [
    ("binary", 1, 1.0, [-1, 1]), ("binary", 1, 2.5, [-2.5, 2.5]),
    ("ternary", 1, 1.0, [-1, 0, 1]), ("ternary", 1, 4.0, [-4, 0, 4]),
    ("kbit", 1, 1.0, [-1, 1]), ("kbit", 2, 0.5, [-1.5, -0.5, 0.5, 1.5]),
    ("kbit", 3, 0.25, [-1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75]),
])
def test_scaled_level_sets(kind, bits, scale, expected):
    lv = Levels(kind, bits, scale=scale)
    np.testing.assert_array_equal(lv.values, np.array(expected, float))
    # the coefficients encode the set exactly: {sum_l c_l s_l} = Q (docs/math.md §2)
    c = np.array(lv.coefficients)
    sums = {float(np.dot(c, s)) for s in np.array(np.meshgrid(*[[-1.0, 1.0]] * len(c))).reshape(len(c), -1).T}
    assert sums == set(map(float, expected))
    # the JSON form (sorted values) parses back to the same set
    again = Levels.parse(lv.to_json())
    np.testing.assert_array_equal(again.values, lv.values)
    assert again.coefficients == lv.coefficients


def test_levels_contains_and_project():
    lv = Levels("kbit", 2)
    U = np.array([[-3.0, 1.0], [0.0, 3.0000001]])
    np.testing.assert_array_equal(lv.contains(U), [[True, True], [False, False]])
    np.testing.assert_array_equal(lv.project(np.array([-10.0, -1.9, 0.2, 2.5, 99.0])), [-3, -1, 1, 3, 3])
    # ties go to the larger level
    np.testing.assert_array_equal(lv.project(np.array([-2.0, 0.0, 2.0])), [-1, 1, 3])
    np.testing.assert_array_equal(Levels("binary").project(np.array([0.0])), [1])
    np.testing.assert_array_equal(Levels("ternary").project(np.array([-0.5, 0.5, 0.49])), [0, 1, 0])


@pytest.mark.parametrize("spec", [[-1 / 3, 1 / 3], [-0.3, -0.1, 0.1, 0.3], [-3.3, -1.1, 1.1, 3.3]])
def test_collapse_of_any_sign_pattern_is_contained_in_non_dyadic_grids(spec):
    lv = Levels.parse(spec)
    B = lv.n_bits
    S = np.array(np.meshgrid(*[[-1.0, 1.0]] * B)).reshape(B, -1)     # d = 1, every pattern
    assert np.all(lv.contains(lv.collapse(S)))


# -- objective ----------------------------------------------------------------------------------
def test_objective_by_hand():
    X = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    y = np.array([1.0, -2.0, 0.5])
    p = QNNProblem(X, y, activation=(2.0, -1.0, 0.5), levels="ternary", beta=0.3)
    U = np.array([[1.0, 0.0], [-1.0, 1.0]])
    alpha = np.array([0.5, -2.0])
    expected = 0.0
    for i in range(3):
        f = 0.0
        for j in range(2):
            t = X[i] @ U[:, j]
            f += alpha[j] * (2.0 * t * t - t + 0.5)
        expected += 0.5 * (f - y[i]) ** 2
    expected += 0.3 * 2.5
    assert p.objective(U, alpha) == pytest.approx(expected, rel=1e-14)
    # the empty network costs |y|^2 / 2
    assert p.objective(np.zeros((2, 0)), np.zeros(0)) == pytest.approx(0.5 * float(y @ y), rel=1e-15)


def test_to_binary_keeps_the_objective():
    p = QNNProblem(X0, Y0, activation=(1, 0.5, 0.1), levels="kbit:2", beta=0.7, width=4)
    b = p.to_binary()
    assert b.levels.kind == "binary" and b.d == 6 and b.width == 4 and b.beta == 0.7
    S = np.where(RNG.random((6, 4)) < 0.5, -1.0, 1.0)
    alpha = RNG.standard_normal(4)
    assert p.objective(p.levels.collapse(S), alpha) == pytest.approx(b.objective(S, alpha), rel=1e-12)


def test_data_hash_depends_on_data_only():
    p = QNNProblem(X0, Y0)
    assert p.data_hash() == QNNProblem(X0.copy(), Y0.copy(), beta=5.0, levels="ternary").data_hash()
    y = Y0.copy()
    y[0] = np.nextafter(y[0], np.inf)
    assert QNNProblem(X0, y).data_hash() != p.data_hash()
    assert len(p.data_hash()) == 64


def test_network_predict_and_pruned():
    from certqnn import QuantizedNetwork

    X = RNG.standard_normal((5, 2))
    act = Polynomial(1, 0.5, 0)
    U = np.array([[1.0, 1.0, -1.0, 1.0], [1.0, 1.0, 1.0, -1.0]])
    alpha = np.array([0.5, 0.25, 0.0, -2.0])
    net = QuantizedNetwork(U, alpha)
    pruned = net.pruned()
    assert pruned.width == 2                       # zero dropped, duplicates merged
    np.testing.assert_allclose(pruned.predict(X, act), net.predict(X, act), rtol=1e-13)
    assert sorted(pruned.alpha.tolist()) == [-2.0, 0.75]
    cancel = QuantizedNetwork(np.array([[1.0, 1.0]]), np.array([1.0, -1.0])).pruned()
    assert cancel.width == 0 and cancel.U.shape == (1, 0)
    with pytest.raises(ValueError):
        QuantizedNetwork(np.ones((2, 3)), np.ones(2))


def test_network_outputs_go_block_by_block_over_the_rows():
    from certqnn.network import network_outputs

    rng = np.random.default_rng(5)
    X, U, alpha = rng.standard_normal((11, 4)), np.sign(rng.standard_normal((4, 6))), rng.standard_normal(6)
    act = Polynomial(0.5, -1.0, 2.0)
    whole = act(X @ U) @ alpha
    for rows in (1, 3, 4, 11, 64):              # blocks that divide n, do not, and exceed it
        np.testing.assert_allclose(network_outputs(X, act, U, alpha, block_rows=rows), whole, rtol=1e-13, atol=1e-13)
