"""Our calibrator fits against scipy's for the same problems.

The isotonic fit was our own pool-adjacent-violators loop (focal_det/
calibration/isotonic.py at commit ``OLD_COMMIT``) and now calls
``scipy.optimize.isotonic_regression``. The Platt fit is our damped Newton
solver on the penalised log-loss (focal_det/calibration/platt.py), compared
with ``scipy.optimize.minimize(method='trust-exact')`` on the same
objective, gradient and Hessian (scikit-learn's ``LogisticRegression``
cannot shrink toward a non-zero prior mean); it stays ours because it
reaches the same optimum faster. On the same detections
(the calibrator tests' synthetic detector: hit probability uniform, scores
over-confident by a temperature, 4 classes in 3 buckets) this prints, per
size, for each fit:

* fit quality: for the isotonic fit the largest difference between the two
  fitted step functions (both solve the same convex problem, whose
  solution is unique) and between the knots of the calibrator built on
  them; for the logistic fit the penalised log-loss each reaches (lower is
  better) and the largest parameter difference;
* time: the median of ``--repeats`` fits, wall clock, one thread.

The old isotonic code is read from git (``git show OLD_COMMIT:...``), so it
runs exactly as it was::

    python benchmarks/bench_calibrator_fits.py [--sizes 1000 10000 60000]
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time
import types

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
OLD_COMMIT = '2faa82a'

from focal_det.calibration import isotonic, platt  # noqa: E402
from focal_det.calibration.base import detection_arrays  # noqa: E402
from focal_det.theory.focal import logistic  # noqa: E402

BUCKETS = ['f', 'c', 'c', 'r']


def old_module(path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as it was at :data:`OLD_COMMIT`, importing
    today's package for its relative imports."""
    source = subprocess.run(['git', 'show', f'{OLD_COMMIT}:{path}'],
                            cwd=REPO, check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(name)
    module.__package__ = 'focal_det.calibration'
    exec(compile(source, f'{OLD_COMMIT}:{path}', 'exec'), module.__dict__)
    return module


def detections(n: int, seed: int = 0, temperature: float = 0.5,
               bias: float = 0.3):
    """The synthetic detector of tests/test_calibration_fit.py."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    outcomes = (rng.uniform(size=n) < p).astype(float)
    logit = np.log(p) - np.log1p(-p)
    scores = 1 / (1 + np.exp(-(logit - bias) / temperature))
    return scores, rng.integers(0, len(BUCKETS), n), outcomes


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scipy_penalised_logistic(x, y, prior_mean, prior_strength):
    """``platt.fit_penalised_logistic``'s problem solved by scipy's
    trust-region Newton from the prior mean, exact gradient and Hessian."""
    from scipy.optimize import minimize
    features = np.stack([x, np.ones_like(x)], axis=1)
    prior = np.asarray(prior_mean, dtype=np.float64)

    def gradient(theta):
        p = logistic(features @ theta)
        return features.T @ (p - y) + prior_strength * (theta - prior)

    def hessian(theta):
        p = logistic(features @ theta)
        return (features.T * (p * (1 - p))) @ features + \
            prior_strength * np.eye(2)

    theta = minimize(
        lambda t: penalised_loss(x, y, t, prior, prior_strength), prior,
        jac=gradient, hess=hessian, method='trust-exact',
        options=dict(gtol=1e-8)).x
    return max(float(theta[0]), platt.MIN_SLOPE), float(theta[1])


def penalised_loss(x, y, theta, prior, strength) -> float:
    z = theta[0] * x + theta[1]
    return float((np.logaddexp(0.0, z) - y * z).sum() +
                 0.5 * strength * np.sum((np.asarray(theta) - prior)**2))


def compare(n: int, repeats: int, old_iso) -> dict:
    scores, labels, outcomes = detections(n)
    x, labels, y, _ = detection_arrays(scores, labels, outcomes,
                                       len(BUCKETS), BUCKETS)
    order = np.argsort(x, kind='mergesort')
    values, weights = y[order], np.ones(n)
    old_blocks = old_iso.pool_adjacent_violators(values, weights)
    new_blocks = isotonic.isotonic_blocks(values, weights)
    same_blocks = all(
        len(a) == len(b) for a, b in zip(old_blocks, new_blocks))
    step_diff = float('inf')
    if same_blocks:
        step_diff = max(float(np.max(np.abs(a - b)))
                        for a, b in zip(old_blocks, new_blocks))
    old_knots = old_iso.isotonic_knots(x, y)
    new_knots = isotonic.isotonic_knots(x, y)
    knot_diff = max(float(np.max(np.abs(a - b)))
                    for a, b in zip(old_knots, new_knots))
    result = dict(
        n=n,
        isotonic=dict(
            same_blocks=same_blocks, max_fitted_value_difference=step_diff,
            max_knot_difference=knot_diff,
            seconds_old=median_time(
                lambda: old_iso.pool_adjacent_violators(values, weights),
                repeats),
            seconds_scipy=median_time(
                lambda: isotonic.isotonic_blocks(values, weights),
                repeats)))
    # The three kinds of logistic fit fit_platt makes: global (weak prior
    # toward the identity), one bucket, one class (strong priors).
    fits = {}
    for name, selected, prior, strength in (
            ('global', np.ones(n, bool), (1.0, 0.0), 1e-3),
            ('bucket c', np.isin(labels, [1, 2]), (0.6, -0.1), 10.0),
            ('class 3', labels == 3, (0.5, -0.2), 10.0)):
        args = (x[selected], y[selected], prior, strength)
        ours = platt.fit_penalised_logistic(*args)
        theirs = scipy_penalised_logistic(*args)
        fits[name] = dict(
            n=int(selected.sum()),
            loss_ours=penalised_loss(*args[:2], ours, prior, strength),
            loss_scipy=penalised_loss(*args[:2], theirs, prior, strength),
            max_parameter_difference=float(
                np.max(np.abs(np.subtract(ours, theirs)))),
            seconds_ours=median_time(
                lambda: platt.fit_penalised_logistic(*args), repeats),
            seconds_scipy=median_time(
                lambda: scipy_penalised_logistic(*args), repeats))
    result['logistic'] = fits
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[1000, 10000, 60000])
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    old_iso = old_module('focal_det/calibration/isotonic.py', 'old_isotonic')
    results = [compare(n, args.repeats, old_iso)
               for n in args.sizes]
    print(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
