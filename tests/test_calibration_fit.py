"""Score calibrators (focal_det.calibration) on detections with a known
miscalibration: they undo it, stay monotone, round-trip through JSON, and
shrink classes with few detections toward their bucket."""
import json
import os

import numpy as np
import pytest

from focal_det.analysis.calibration_fitting import (best_method,
                                                    compare_methods, d_ece)
from focal_det.calibration import (FITTERS, FocalEntropyCalibrator,
                                   PlattCalibrator, calibrator_from_dict,
                                   calibrator_to_dict, fit_focal_entropy,
                                   fit_platt, load_calibrator,
                                   save_calibrator)
from focal_det.calibration.isotonic import pool_adjacent_violators
from focal_det.theory.focal import sigmoid_minimiser

NUM_CLASSES = 4
BUCKETS = ['f', 'c', 'c', 'r']


def logit(p):
    return np.log(p) - np.log1p(-p)


def detections(temperature, bias, n=60000, seed=0):
    """Detections whose true hit probability p is uniform; the detector
    reports sigmoid((logit(p) - bias) / temperature): over-confident for
    temperature < 1, under-confident for > 1."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    outcomes = (rng.uniform(size=n) < p).astype(float)
    scores = 1 / (1 + np.exp(-(logit(p) - bias) / temperature))
    labels = rng.integers(0, NUM_CLASSES, n)
    return scores, labels, outcomes


@pytest.mark.parametrize('method',
                         ['platt', 'isotonic', 'platt_isotonic'])
@pytest.mark.parametrize('temperature,bias', [(0.5, 0.0), (2.0, 0.5)],
                         ids=['over-confident', 'under-confident'])
def test_calibrators_remove_a_known_miscalibration(method, temperature,
                                                   bias):
    scores, labels, outcomes = detections(temperature, bias)
    before = d_ece(scores, outcomes)['d_ece']
    assert before > 0.05
    calibrator = FITTERS[method](scores, labels, outcomes, NUM_CLASSES,
                                 BUCKETS)
    # Judged on fresh detections of the same detector.
    scores, labels, outcomes = detections(temperature, bias, seed=1)
    after = d_ece(calibrator.calibrate(scores, labels), outcomes)['d_ece']
    assert after < 0.01, (method, before, after)


def test_focal_entropy_fit_recovers_gamma_alpha_and_calibration():
    # A detector at the focal-entropy minimiser of gamma 2, alpha 0.25:
    # the miscalibration the theory predicts (and the only kind the
    # focal-entropy family can undo; a temperature is outside it).
    def minimiser_detections(seed):
        rng = np.random.default_rng(seed)
        p = rng.uniform(0.02, 0.98, 60000)
        outcomes = (rng.uniform(size=len(p)) < p).astype(float)
        return sigmoid_minimiser(p, 2.0, 0.25), outcomes

    scores, outcomes = minimiser_detections(0)
    labels = np.zeros(len(scores), int)
    assert d_ece(scores, outcomes)['d_ece'] > 0.05
    calibrator = fit_focal_entropy(scores, labels, outcomes, 1)
    assert calibrator.gamma == pytest.approx(2.0, abs=0.3)
    assert calibrator.alpha == pytest.approx(0.25, abs=0.05)
    scores, outcomes = minimiser_detections(1)
    assert d_ece(calibrator.calibrate(scores, labels),
                 outcomes)['d_ece'] < 0.01


@pytest.mark.parametrize('method', sorted(FITTERS))
def test_maps_are_strictly_increasing_within_every_class(method):
    scores, labels, outcomes = detections(0.5, 0.3, n=5000)
    calibrator = FITTERS[method](scores, labels, outcomes, NUM_CLASSES,
                                 BUCKETS)
    grid = np.linspace(1e-4, 1 - 1e-4, 2001)
    log_odds = calibrator.log_odds(np.repeat(grid[:, None], NUM_CLASSES, 1))
    assert np.all(np.diff(log_odds, axis=0) > 0)


def test_pool_adjacent_violators_is_the_isotonic_fit():
    means, weights, starts = pool_adjacent_violators(
        np.array([1.0, 3.0, 2.0, 0.0, 5.0]), np.ones(5))
    assert means.tolist() == [1.0, 5 / 3, 5.0]
    assert weights.tolist() == [1.0, 3.0, 1.0]
    assert starts.tolist() == [0, 1, 4]


@pytest.mark.parametrize('method', sorted(FITTERS))
def test_json_round_trip_gives_the_same_scores(method, tmp_path):
    scores, labels, outcomes = detections(0.5, 0.3, n=3000)
    calibrator = FITTERS[method](scores, labels, outcomes, NUM_CLASSES,
                                 BUCKETS)
    path = str(tmp_path / 'calibration.json')
    save_calibrator(calibrator, path, ['a', 'b', 'c', 'd'], dict(note=1))
    assert os.listdir(tmp_path) == ['calibration.json']  # no temporary left
    loaded = load_calibrator(path, num_classes=NUM_CLASSES)
    assert type(loaded) is type(calibrator)
    np.testing.assert_array_equal(loaded.calibrate(scores, labels),
                                  calibrator.calibrate(scores, labels))
    with open(path) as f:
        assert json.load(f)['info'] == dict(note=1)


def test_saving_never_replaces_a_file_silently(tmp_path):
    path = tmp_path / 'calibration.json'
    path.write_text('mine')
    calibrator = PlattCalibrator([1.0], [0.0])
    with pytest.raises(FileExistsError, match='calibration.json'):
        save_calibrator(calibrator, str(path))
    assert path.read_text() == 'mine'


def test_a_file_for_another_number_of_classes_is_refused(tmp_path):
    path = str(tmp_path / 'calibration.json')
    save_calibrator(FocalEntropyCalibrator(10, 1.0, 0.5), path)
    with pytest.raises(ValueError, match='fitted for 10 classes.*has 20'):
        load_calibrator(path, num_classes=20)
    with pytest.raises(ValueError, match='fitted for 10 classes'):
        FocalEntropyCalibrator(10, 1.0, 0.5).log_odds(np.zeros((3, 20)))


def test_malformed_files_are_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{not json')
    with pytest.raises(ValueError, match='bad.json is not valid JSON'):
        load_calibrator(str(path))
    document = calibrator_to_dict(PlattCalibrator([1.0], [0.0]))
    with pytest.raises(ValueError, match='unknown calibration method'):
        calibrator_from_dict(dict(document, method='magic'), 'x.json')
    with pytest.raises(ValueError, match='not a score calibration file'):
        calibrator_from_dict({'method': 'platt'}, 'x.json')
    with pytest.raises(ValueError, match='slope must be > 0'):
        PlattCalibrator([-1.0], [0.0])


def test_a_class_with_few_detections_is_shrunk_toward_its_bucket():
    # Bucket 'r' holds classes 2 and 3: class 2 has many detections of an
    # over-confident detector (slope 0.5); class 3 has four, all hits.
    scores, _, outcomes = detections(0.5, 0.0, n=20000)
    labels = np.full(len(scores), 2)
    scores = np.append(scores, [0.3, 0.4, 0.5, 0.6])
    labels = np.append(labels, [3, 3, 3, 3])
    outcomes = np.append(outcomes, [1, 1, 1, 1])
    calibrator = fit_platt(scores, labels, outcomes, 4, ['f', 'c', 'r', 'r'])
    assert calibrator.slopes[2] == pytest.approx(0.5, abs=0.03)
    # Alone, four hits would give an unbounded bias; shrunk, class 3 stays
    # near its bucket's map.
    assert abs(calibrator.slopes[3] - calibrator.slopes[2]) < 0.15
    assert abs(calibrator.biases[3] - calibrator.biases[2]) < 0.5
    alone = fit_platt(scores[-4:], labels[-4:], outcomes[-4:], 4,
                      ['f', 'c', 'r', 'r'], prior_strength=1e-3)
    assert alone.biases[3] > calibrator.biases[3] + 2
    # Classes without detections get their bucket's (here: the global) map.
    assert calibrator.slopes[0] == pytest.approx(calibrator.slopes[1])


def test_cross_fitting_picks_a_calibrator_that_beats_raw_scores():
    scores, labels, outcomes = detections(0.5, 0.3, n=6000)
    data = dict(scores=scores, labels=labels, outcomes=outcomes,
                image_ids=np.arange(len(scores)) // 10,
                class_names=list('abcd'), class_buckets=BUCKETS)
    table = compare_methods(data, sorted(FITTERS))
    chosen = best_method(table)
    assert chosen in ('platt', 'isotonic', 'platt_isotonic')
    assert table[chosen]['all']['d_ece'] < 0.03
    assert table['uncalibrated']['all']['d_ece'] > 0.05
    assert set(table[chosen]) == {'all', 'rare', 'common', 'frequent'}
