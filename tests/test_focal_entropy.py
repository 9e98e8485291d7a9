"""Focal-entropy minimisers: brute force, exactness, inverses, and the
qualitative distortions (mid-range amplified, high suppressed, tail
over-suppressed when the head mass is spread over mid-range classes)."""
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from focal_det.theory.focal import (focal_entropy, focal_tilt,
                                    inverse_sigmoid_minimiser,
                                    inverse_sigmoid_minimiser_log_odds,
                                    inverse_simplex_minimiser,
                                    sigmoid_focal_entropy, sigmoid_minimiser,
                                    simplex_minimiser)

GAMMAS = (0.5, 1.0, 2.0, 5.0)
ALPHAS = (None, 0.01, 0.25, 0.5, 0.75, 0.99)


def phi_by_hand(q, gamma):
    """-f'(q) for f(q) = -(1 - q)**gamma log q, straight from the product
    rule (independent of the module's log-space form)."""
    return (1 - q)**gamma / q - gamma * (1 - q)**(gamma - 1) * np.log(q)


def brute_force_simplex_minimiser(p, gamma):
    """argmin_q FE(p, q) over q = softmax(z) by BFGS with the exact
    gradient; uses neither the Lagrange condition nor the module."""

    def objective(z):
        q = np.exp(z - z.max())
        q /= q.sum()
        value = -np.sum(p * (1 - q)**gamma * np.log(q))
        grad_q = -p * phi_by_hand(q, gamma)
        return value, q * (grad_q - np.dot(q, grad_q))  # softmax chain rule

    result = minimize(objective, np.log(p), jac=True, method='BFGS',
                      options=dict(gtol=1e-13, maxiter=2000))
    q = np.exp(result.x - result.x.max())
    return q / q.sum()


def long_tail_rows(rng, n_rows, n_classes):
    """Dirichlet rows with a few entries pushed to 1e-12..1e-300 and zeros."""
    p = rng.dirichlet(np.full(n_classes, 0.3), size=n_rows)
    tiny = rng.random(p.shape) < 0.2
    p[tiny] = 10.0**rng.uniform(-300, -12, size=tiny.sum())
    p[rng.random(p.shape) < 0.05] = 0.0
    p[:, 0] += 0.1  # at least one class keeps mass
    return p / p.sum(-1, keepdims=True)


# --- the entropies -------------------------------------------------------


def test_focal_entropy_values_and_conventions():
    p = np.array([[0.5, 0.3, 0.2, 0.0]])
    q = np.array([[0.4, 0.4, 0.2, 0.0]])
    expected = -np.sum(p[0, :3] * (1 - q[0, :3])**2 * np.log(q[0, :3]))
    assert focal_entropy(p, q, 2.0) == pytest.approx([expected], rel=1e-14)
    # gamma = 0 is the cross-entropy; p_i > 0 with q_i = 0 costs +inf.
    assert focal_entropy(p, q, 0.0) == pytest.approx(
        [-np.sum(p[0, :3] * np.log(q[0, :3]))], rel=1e-14)
    assert focal_entropy([0.5, 0.5], [1.0, 0.0], 1.0) == np.inf


def test_sigmoid_focal_entropy_formula():
    p, q = np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.6, 0.9])
    gamma, alpha = 2.0, 0.25
    expected = (-alpha * p * (1 - q)**gamma * np.log(q) -
                (1 - alpha) * (1 - p) * q**gamma * np.log(1 - q))
    np.testing.assert_allclose(sigmoid_focal_entropy(p, q, gamma, alpha),
                               expected, rtol=1e-14)
    unweighted = (-p * (1 - q)**gamma * np.log(q) -
                  (1 - p) * q**gamma * np.log(1 - q))
    np.testing.assert_allclose(sigmoid_focal_entropy(p, q, gamma), unweighted,
                               rtol=1e-14)


# --- simplex minimiser ---------------------------------------------------


@pytest.mark.parametrize('n_classes', [2, 3, 5, 8])
@pytest.mark.parametrize('gamma', GAMMAS)
def test_simplex_minimiser_matches_brute_force(n_classes, gamma):
    rng = np.random.default_rng(n_classes * 10 + int(gamma * 2))
    p = rng.dirichlet(np.ones(n_classes), size=2)
    q = simplex_minimiser(p, gamma)
    for p_row, q_row in zip(p, q):
        q_brute = brute_force_simplex_minimiser(p_row, gamma)
        np.testing.assert_allclose(q_row, q_brute, atol=1e-6)
        assert (focal_entropy(p_row, q_row, gamma) <=
                focal_entropy(p_row, q_brute, gamma) + 1e-13)


@pytest.mark.parametrize('gamma', GAMMAS)
def test_simplex_minimiser_solves_stationarity_exactly(gamma):
    """p_i phi(q_i) = lambda on every positive class, sum q = 1, including
    probabilities down to 1e-300 and zero classes (q_i = 0 there)."""
    p = long_tail_rows(np.random.default_rng(7), n_rows=50, n_classes=12)
    q, multiplier = simplex_minimiser(p, gamma, return_multiplier=True)
    assert q.shape == p.shape and multiplier.shape == (50, )
    np.testing.assert_allclose(q.sum(-1), 1.0, atol=1e-13)
    assert np.all(q[p == 0] == 0)
    positive = p > 0
    rows = np.nonzero(positive)[0]
    balance = p[positive] * phi_by_hand(q[positive], gamma)
    np.testing.assert_allclose(balance, multiplier[rows], rtol=1e-10)


def test_simplex_minimiser_gamma_zero_is_identity():
    """q* is p itself, bit for bit (after the row normalisation)."""
    p = long_tail_rows(np.random.default_rng(3), n_rows=20, n_classes=6)
    q, multiplier = simplex_minimiser(p, 0.0, return_multiplier=True)
    np.testing.assert_array_equal(q, p / p.sum(-1, keepdims=True))
    np.testing.assert_array_equal(multiplier, 1.0)
    np.testing.assert_array_equal(simplex_minimiser([0.5, 0.25, 0.25], 0.0),
                                  [0.5, 0.25, 0.25])


def test_simplex_minimiser_leading_axes_and_edge_rows():
    p = np.array([[[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]],
                  [[0.0, 0.5, 0.5], [2.0, 1.0, 1.0]]])  # last row unnormalised
    q, multiplier = simplex_minimiser(p, 2.0, return_multiplier=True)
    assert q.shape == (2, 2, 3) and multiplier.shape == (2, 2)
    np.testing.assert_array_equal(q[0, 1], [0.0, 1.0, 0.0])  # one-hot
    assert np.isnan(multiplier[0, 1])
    np.testing.assert_allclose(q[1, 0], [0.0, 0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(q[1, 1], simplex_minimiser([0.5, 0.25, 0.25],
                                                          2.0), atol=1e-15)
    np.testing.assert_allclose(q[0, 0], simplex_minimiser([0.2, 0.3, 0.5],
                                                          2.0), atol=1e-15)


# --- sigmoid minimiser ---------------------------------------------------


@pytest.mark.parametrize('alpha', ALPHAS)
@pytest.mark.parametrize('gamma', (0.0, ) + GAMMAS)
def test_sigmoid_minimiser_matches_brute_force(gamma, alpha):
    p = np.array([0.001, 0.05, 0.3, 0.5, 0.8, 0.999])
    q = sigmoid_minimiser(p, gamma, alpha)
    for p_value, q_value in zip(p, q):
        brute = minimize_scalar(
            lambda x: sigmoid_focal_entropy(p_value, x, gamma, alpha),
            bounds=(1e-12, 1 - 1e-12), method='bounded',
            options=dict(xatol=1e-12))
        assert q_value == pytest.approx(brute.x, abs=1e-6)


def test_sigmoid_minimiser_closed_forms():
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(sigmoid_minimiser(p, 0.0), p, atol=1e-14)
    alpha = 0.25
    np.testing.assert_allclose(sigmoid_minimiser(p, 0.0, alpha),
                               alpha * p / (alpha * p + (1 - alpha) *
                                            (1 - p)), atol=1e-14)
    q = sigmoid_minimiser(p, 2.0, alpha)
    assert q[0] == 0.0 and q[-1] == 1.0


# --- inverse maps --------------------------------------------------------


@pytest.mark.parametrize('gamma', (0.0, ) + GAMMAS)
def test_inverse_simplex_round_trip(gamma):
    rng = np.random.default_rng(11)
    p = np.concatenate([rng.dirichlet(np.ones(5), size=30),
                        long_tail_rows(rng, n_rows=30, n_classes=5)])
    q = simplex_minimiser(p, gamma)
    np.testing.assert_allclose(inverse_simplex_minimiser(q, gamma), p,
                               atol=1e-8, rtol=1e-8)
    # And the other way: any point of the open simplex is some q*.
    q_any = rng.dirichlet(np.ones(5), size=30)
    np.testing.assert_allclose(
        simplex_minimiser(inverse_simplex_minimiser(q_any, gamma), gamma),
        q_any, atol=1e-10)


def test_simplex_maps_resolve_classes_next_to_a_dominant_one():
    """[1 - 2e-279, 2e-279] is [1.0, 2e-279] in float64; 1 - q_max is taken
    from the other classes, so both maps keep them to full relative
    precision. Here p_2 phi(q_2) = p_1 phi(q_1) reduces to
    q_2 = (p_2 / (1 + gamma))**(1 / (1 + gamma))."""
    p, gamma = np.array([1.0, 2e-279]), 1.0
    q = simplex_minimiser(p, gamma)
    assert q[1] == pytest.approx(10**-139.5, rel=1e-10)
    np.testing.assert_allclose(inverse_simplex_minimiser(q, gamma), p,
                               rtol=1e-10, atol=0)


def test_inverse_simplex_edges_and_validation():
    np.testing.assert_array_equal(
        inverse_simplex_minimiser([[0.0, 1.0, 0.0]], 2.0), [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(
        inverse_simplex_minimiser([0.0, 0.5, 0.5], 2.0), [0.0, 0.5, 0.5],
        atol=1e-15)
    with pytest.raises(ValueError, match='sum to 1'):
        inverse_simplex_minimiser([0.2, 0.2], 2.0)


@pytest.mark.parametrize('alpha', ALPHAS)
@pytest.mark.parametrize('gamma', (0.0, ) + GAMMAS)
def test_inverse_sigmoid_round_trip(gamma, alpha):
    p = np.concatenate([[0.0, 1e-9, 1e-6], np.linspace(0.01, 0.99, 99),
                        [1 - 1e-6, 1.0]])
    q = sigmoid_minimiser(p, gamma, alpha)
    np.testing.assert_allclose(inverse_sigmoid_minimiser(q, gamma, alpha), p,
                               atol=1e-8, rtol=1e-8)


def test_sigmoid_maps_take_one_alpha_per_class():
    """An alpha array broadcasts over the class axis (class-balanced
    losses give each class its own effective alpha)."""
    p = np.array([[0.01, 0.3, 0.9], [0.5, 0.05, 0.6]])
    alpha = np.array([0.1, 0.25, 0.8])
    q = sigmoid_minimiser(p, 2.0, alpha[None, :])
    back = inverse_sigmoid_minimiser(q, 2.0, alpha[None, :])
    for c in range(3):
        np.testing.assert_allclose(q[:, c], sigmoid_minimiser(p[:, c], 2.0,
                                                              alpha[c]),
                                   rtol=1e-14)
        np.testing.assert_allclose(back[:, c], p[:, c], rtol=1e-10)
    np.testing.assert_allclose(
        sigmoid_focal_entropy(p, q, 2.0, alpha)[:, 1],
        sigmoid_focal_entropy(p[:, 1], q[:, 1], 2.0, 0.25), rtol=1e-14)


def test_inverse_sigmoid_matches_explicit_formula():
    """p = (1-a) A / ((1-a) A + a B), A and B written out as in the docs."""
    q, gamma, alpha = np.linspace(0.02, 0.98, 49), 2.0, 0.25
    a_term = q**gamma / (1 - q) - gamma * q**(gamma - 1) * np.log(1 - q)
    b_term = (1 - q)**gamma / q - gamma * (1 - q)**(gamma - 1) * np.log(q)
    expected = ((1 - alpha) * a_term /
                ((1 - alpha) * a_term + alpha * b_term))
    np.testing.assert_allclose(inverse_sigmoid_minimiser(q, gamma, alpha),
                               expected, rtol=1e-12)
    np.testing.assert_array_equal(
        inverse_sigmoid_minimiser([0.0, 1.0], gamma, alpha), [0.0, 1.0])


def test_inverse_sigmoid_is_strictly_increasing():
    """Dense grid, gamma in [0, 5], alpha in (0, 1) and None: the log-odds
    increase strictly (ranking kept without ties); the probability never
    decreases and increases strictly until it saturates in float64."""
    q = np.unique(np.concatenate([
        np.linspace(0, 1, 4001)[1:-1],
        1 / (1 + np.exp(-np.linspace(-60, 36, 4001)))  # logit-spaced tails
    ]))
    q = q[(q > 0) & (q < 1)]
    for gamma in np.linspace(0, 5, 21):
        for alpha in (None, 1e-3, 0.1, 0.25, 0.5, 0.75, 0.9, 1 - 1e-3):
            log_odds = inverse_sigmoid_minimiser_log_odds(q, gamma, alpha)
            assert np.all(np.isfinite(log_odds))
            assert np.all(np.diff(log_odds) > 0), (gamma, alpha)
            p = inverse_sigmoid_minimiser(q, gamma, alpha)
            assert np.all(np.diff(p) >= 0), (gamma, alpha)
            resolvable = (p[:-1] > 1e-290) & (1 - p[1:] > 1e-10)
            assert np.all(np.diff(p)[resolvable] > 0), (gamma, alpha)


def test_inverse_sigmoid_saturation_documented():
    """gamma = 5, alpha = 0.25: 1 - p ~ 2 (1 - q)**6 leaves float64 above
    q = 0.99803, where p rounds to exactly 1 (ties, not reversals)."""
    p = inverse_sigmoid_minimiser([0.99, 0.9975, 0.9981], 5.0, 0.25)
    assert p[0] < p[1] < 1.0 and p[2] == 1.0


# --- the qualitative statements -----------------------------------------


def test_mid_range_amplified_high_suppressed():
    q = simplex_minimiser([0.6, 0.3, 0.1], 2.0)
    assert q[0] < 0.6 and q[1] > 0.3 and q[2] > 0.1  # 0.489, 0.353, 0.158
    q = simplex_minimiser([0.9, 0.05, 0.05], 2.0)
    assert q[0] < 0.9
    # Binary form, no weighting: above 1/2 pulled down, below pushed up.
    q = sigmoid_minimiser([0.2, 0.4, 0.6, 0.9], 2.0)
    np.testing.assert_array_less([0.2, 0.4, q[2], q[3]],
                                 [q[0], q[1], 0.6, 0.9])


@pytest.mark.parametrize('gamma', GAMMAS)
def test_tilt_rule_decides_the_direction(gamma):
    """q*_i > p_i exactly where psi(p_i) > lambda."""
    p = long_tail_rows(np.random.default_rng(5), n_rows=40, n_classes=7)
    q, multiplier = simplex_minimiser(p, gamma, return_multiplier=True)
    tilt = focal_tilt(p, gamma)
    decided = (p > 0) & (np.abs(tilt - multiplier[:, None]) > 1e-9)
    assert np.all((q > p)[decided] == (tilt > multiplier[:, None])[decided])


def test_dominant_class_amplifies_the_tail():
    """One dominant class: lambda < 1, tiny probabilities grow (x8.2)."""
    p = np.array([0.98, 0.0199, 1e-4])
    q, multiplier = simplex_minimiser(p, 2.0, return_multiplier=True)
    assert multiplier == pytest.approx(0.1226, abs=1e-4)
    assert q[2] / p[2] == pytest.approx(8.24, abs=0.01)


def test_over_suppression_of_the_tail():
    """Head mass spread over mid-range classes (none above psi's return to
    1, p = 0.30 for gamma = 2): lambda > 1 and every tiny probability is
    pushed further down, q*_i / p_i -> 1 / lambda."""
    gamma = 2.0
    for n_head, ratio in ((3, 1.074), (4, 0.925), (5, 0.867), (10, 0.818)):
        p = np.append(np.full(n_head, (1 - 1e-4) / n_head), 1e-4)
        q, multiplier = simplex_minimiser(p, gamma, return_multiplier=True)
        assert q[-1] / p[-1] == pytest.approx(ratio, abs=1e-3)
        assert q[-1] / p[-1] == pytest.approx(1 / multiplier, rel=3e-3)
    # Zipf long tail on 100 classes: head up, ranks 9..100 down.
    zipf = 1 / np.arange(1, 101)
    zipf /= zipf.sum()
    q, multiplier = simplex_minimiser(zipf, gamma, return_multiplier=True)
    assert multiplier == pytest.approx(1.120, abs=1e-3)
    assert q[0] > zipf[0]
    assert np.all(q[8:] < zipf[8:]) and np.all(q[:8] > zipf[:8])
    assert q[-1] / zipf[-1] == pytest.approx(0.910, abs=1e-3)
    # A larger gamma suppresses the tail more.
    tail_ratios = [simplex_minimiser(zipf, g)[-1] / zipf[-1] for g in GAMMAS]
    assert np.all(np.diff(tail_ratios) < 0)


# --- contract ------------------------------------------------------------


def test_validation():
    with pytest.raises(ValueError, match='gamma'):
        simplex_minimiser([0.5, 0.5], -1.0)
    with pytest.raises(ValueError, match='alpha'):
        sigmoid_minimiser(0.5, 2.0, alpha=1.0)
    with pytest.raises(ValueError, match='non-negative'):
        simplex_minimiser([0.5, -0.1], 2.0)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        inverse_sigmoid_minimiser(1.5, 2.0)


def test_theory_imports_with_numpy_only():
    """The deploy runtime has numpy + onnxruntime only (the loss inverse
    maps as calibrators included)."""
    code = ("import sys\n"
            "for name in ('torch', 'scipy', 'mmdet', 'mmcv', 'mmengine'):\n"
            "    sys.modules[name] = None  # any import of them now fails\n"
            "from focal_det.theory import class_balanced, dual_focal\n"
            "from focal_det.calibration import loss_inverse\n"
            "from focal_det.theory.focal import simplex_minimiser\n"
            "print(simplex_minimiser([0.5, 0.3, 0.2], 2.0).sum())\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
