"""Our D-ECE against netcal's detection ECE on the same detections.

netcal (Kueppers et al., who defined D-ECE) computes it as
``netcal.metrics.ECE(bins, detection=True).measure(scores, matched)``:
equal-width bins over [0, 1] (``np.histogramdd``: closed on the left, the
last bin also holds 1), each bin's precision against its mean confidence,
weighted by its count. Ours
(:func:`focal_det.evaluation.calibration.calibration_bins` and
:func:`~focal_det.evaluation.calibration.expected_calibration_error`) bins
``[lower, 1]``; with ``lower = 0`` the binning is netcal's, and the two
must agree to 1e-6. The metric's default, 10 bins over [0.3, 1] (the
detections scored >= 0.3), is a different binning from netcal's 10 bins
over [0, 1] applied to the same detections (7 of which can hold them);
both values are printed.

netcal 1.4 needs numpy >= 2, which the project's pins exclude, so it runs
in its own virtual environment, created on first use under the git-ignored
``work_dirs/netcal_venv`` (netcal without its dependencies, plus the
numpy, scipy, scikit-learn and CPU torch its metrics import); netcal is
not a dependency of focal_det. The same environment checks the
class-agnostic isotonic calibrator against scikit-learn's
``IsotonicRegression(y_min=0, y_max=1, out_of_bounds='clip')``, the fit of
Kuzucu, Oksuz et al.'s reference code.

Detections: synthetic detectors (scores and hit probabilities as in the
calibration tests, several sizes, with ties), and with ``--config`` and
``--checkpoint`` a trained model's detections on its test split, labelled
by our matching::

    python benchmarks/crosscheck_netcal.py [--config C --checkpoint P]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import venv

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from focal_det.calibration import fit_agnostic_isotonic  # noqa: E402
from focal_det.evaluation.calibration import (  # noqa: E402
    calibration_bins, expected_calibration_error)

VENV = osp.join(REPO, 'work_dirs', 'netcal_venv')
NETCAL = 'netcal==1.4.0'
# torch as the project pins it (its CPU build), not the CUDA one.
NETCAL_DEPENDENCIES = ('numpy>=2', 'scipy', 'scikit-learn', 'torch==2.13.0')
SCORE_THR = 0.3
NUM_BINS = 10

#: Run inside the netcal environment: netcal's D-ECE and scikit-learn's
#: isotonic fit of every detection set in the npz file.
NETCAL_SIDE = r'''
import json, sys
import numpy as np
import netcal
from netcal.metrics import ECE
from sklearn.isotonic import IsotonicRegression
data = np.load(sys.argv[1])
out = dict(netcal_version=netcal.__version__, numpy=np.__version__)
for name in data['names']:
    scores, hits = data[name + '/scores'], data[name + '/hits']
    kept = scores >= float(data['score_thr'])
    ece = ECE(int(data['num_bins']), detection=True)
    fit = IsotonicRegression(y_min=0., y_max=1., out_of_bounds='clip')
    fit.fit(scores, hits)
    out[str(name)] = dict(
        netcal_d_ece=float(ece.measure(scores[kept], hits[kept])),
        sklearn_isotonic=fit.predict(data['grid']).tolist())
print(json.dumps(out))
'''


def netcal_python() -> str:
    """The netcal environment's python, created on first use."""
    python = osp.join(VENV, 'bin', 'python')
    if not osp.isfile(python):
        venv.create(VENV, with_pip=True)
        pip = [python, '-m', 'pip', 'install', '-q']
        subprocess.run(pip + list(NETCAL_DEPENDENCIES), check=True)
        subprocess.run(pip + ['--no-deps', NETCAL], check=True)
    return python


def synthetic_detections(n: int, seed: int):
    """Scores of an over-confident detector (hit probability p, score
    ``sigmoid(2 logit(p) + 0.3)``), rounded to 4 digits for ties."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    hits = rng.uniform(size=n) < p
    scores = 1 / (1 + np.exp(-(2 * (np.log(p) - np.log1p(-p)) + 0.3)))
    return np.round(scores, 4), hits


def model_detections(config: str, checkpoint: str):
    """A trained model's labelled detections on its test split."""
    from focal_det.analysis.calibration_fitting import (collect_detections,
                                                        hits, labelled)
    from focal_det.engine import load_config, load_detector
    cfg = load_config(config, None, 'none')
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    model, _ = load_detector(cfg, checkpoint)
    detections = collect_detections(cfg, model)
    keep = labelled(detections)
    return detections['scores'][keep], hits(detections)[keep] > 0.5


def ours(scores, hits, lower):
    kept = scores >= SCORE_THR
    return expected_calibration_error(
        calibration_bins(scores[kept], hits[kept], lower, NUM_BINS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config')
    parser.add_argument('--checkpoint')
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[300, 1000, 10000, 100000])
    args = parser.parse_args()
    sets = {f'synthetic_{n}': synthetic_detections(n, seed)
            for seed, n in enumerate(args.sizes)}
    if args.config:
        sets['model'] = model_detections(args.config, args.checkpoint)
    grid = np.linspace(0, 1, 1001)
    arrays = dict(names=np.array(list(sets)), score_thr=SCORE_THR,
                  num_bins=NUM_BINS, grid=grid)
    for name, (scores, hits) in sets.items():
        arrays[name + '/scores'] = scores
        arrays[name + '/hits'] = hits.astype(np.float64)
    os.makedirs(osp.dirname(VENV), exist_ok=True)
    npz = osp.join(osp.dirname(VENV), 'netcal_crosscheck.npz')
    np.savez(npz, **arrays)
    theirs = json.loads(subprocess.run(
        [netcal_python(), '-c', NETCAL_SIDE, npz], check=True,
        capture_output=True, text=True).stdout)
    report = dict(netcal=theirs.pop('netcal_version'),
                  netcal_numpy=theirs.pop('numpy'), sets={})
    worst_d_ece = worst_isotonic = 0.0
    for name, (scores, hits) in sets.items():
        same_binning = ours(scores, hits, 0.0)
        ours_isotonic = fit_agnostic_isotonic(
            scores, np.zeros(len(scores), int), hits.astype(float),
            1).calibrate(grid, np.zeros(len(grid), int))
        sklearn = np.clip(theirs[name]['sklearn_isotonic'], 1e-12,
                          1 - 1e-12)
        difference = abs(same_binning - theirs[name]['netcal_d_ece'])
        isotonic_difference = float(np.max(np.abs(ours_isotonic - sklearn)))
        worst_d_ece = max(worst_d_ece, difference)
        worst_isotonic = max(worst_isotonic, isotonic_difference)
        report['sets'][name] = dict(
            detections_scored_ge_0_3=int((scores >= SCORE_THR).sum()),
            netcal_d_ece=theirs[name]['netcal_d_ece'],
            ours_bins_0_to_1=same_binning, difference=difference,
            ours_default_bins_0_3_to_1=ours(scores, hits, SCORE_THR),
            isotonic_max_difference_vs_sklearn=isotonic_difference)
    report['agree_to_1e-6'] = bool(worst_d_ece <= 1e-6)
    report['isotonic_agrees_to_1e-9'] = bool(worst_isotonic <= 1e-9)
    print(json.dumps(report, indent=1))
    if not (report['agree_to_1e-6'] and report['isotonic_agrees_to_1e-9']):
        sys.exit('cross-check failed')


if __name__ == '__main__':
    main()
