"""Score calibrators (focal_det.calibration) on detections with a known
miscalibration: they undo it, stay monotone, round-trip through JSON, and
shrink classes with few detections toward their bucket."""
import json
import os

import numpy as np
import pytest

from focal_det.analysis import calibration_fitting
from focal_det.analysis.calibration_fitting import (best_method,
                                                    compare_methods, d_ece)
from focal_det.calibration import (FITTERS, AgnosticIsotonicCalibrator,
                                   FocalEntropyCalibrator, PlattCalibrator,
                                   ScoreCalibrator, calibrator_from_dict,
                                   calibrator_to_dict, fit_agnostic_isotonic,
                                   fit_focal_entropy, fit_isotonic,
                                   fit_platt, load_calibrator,
                                   save_calibrator)
from focal_det.calibration.isotonic import isotonic_blocks, isotonic_knots
from focal_det.theory.focal import logistic, sigmoid_minimiser

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


@pytest.mark.parametrize(
    'method', ['platt', 'isotonic', 'platt_isotonic', 'isotonic_agnostic'])
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


STRICTLY_INCREASING = sorted(set(FITTERS) - {'isotonic_agnostic'})


@pytest.mark.parametrize('method', STRICTLY_INCREASING)
def test_maps_are_strictly_increasing_within_every_class(method):
    scores, labels, outcomes = detections(0.5, 0.3, n=5000)
    calibrator = FITTERS[method](scores, labels, outcomes, NUM_CLASSES,
                                 BUCKETS)
    grid = np.linspace(1e-4, 1 - 1e-4, 2001)
    log_odds = calibrator.log_odds(np.repeat(grid[:, None], NUM_CLASSES, 1))
    assert np.all(np.diff(log_odds, axis=0) > 0)


def test_isotonic_blocks_are_the_isotonic_fit():
    means, weights, starts = isotonic_blocks(
        np.array([1.0, 3.0, 2.0, 0.0, 5.0]), np.ones(5))
    assert means.tolist() == [1.0, 5 / 3, 5.0]
    assert weights.tolist() == [1.0, 3.0, 1.0]
    assert starts.tolist() == [0, 1, 4]


def old_pool_adjacent_violators(values, weights):
    """The hand-written pool-adjacent-violators scipy's replaced
    (focal_det/calibration/isotonic.py before the change), as the
    reference: blocks merge while the previous mean is >= the last."""
    means, block_weights, starts = [], [], []
    for index, (value, weight) in enumerate(zip(values, weights)):
        means.append(float(value))
        block_weights.append(float(weight))
        starts.append(index)
        while len(means) > 1 and means[-2] >= means[-1]:
            weight = block_weights[-2] + block_weights[-1]
            means[-2] = (means[-2] * block_weights[-2] +
                         means[-1] * block_weights[-1]) / weight
            block_weights[-2] = weight
            del means[-1], block_weights[-1], starts[-1]
    return np.array(means), np.array(block_weights), np.array(starts)


@pytest.mark.parametrize('temperature,bias', [(0.5, 0.3), (2.0, 0.5)])
def test_scipy_isotonic_fit_equals_the_old_one_on_the_test_data(
        temperature, bias):
    scores, labels, outcomes = detections(temperature, bias, n=8000)
    order = np.argsort(scores, kind='mergesort')
    old = old_pool_adjacent_violators(outcomes[order], np.ones(len(order)))
    new = isotonic_blocks(outcomes[order], np.ones(len(order)))
    for old_part, new_part in zip(old, new):
        np.testing.assert_allclose(new_part, old_part, rtol=0, atol=1e-12)
    # So the calibrator built on it is the old one too.
    calibrator = fit_isotonic(scores, labels, outcomes, NUM_CLASSES, BUCKETS)
    assert len(calibrator.maps) == 4  # global and three buckets


def test_class_agnostic_isotonic_is_the_pooled_isotonic_regression():
    # Hand example, all classes pooled; tied scores are averaged first:
    # score 0.2: outcomes 0, 1 -> 0.5; 0.4: 0; 0.6: 1; 0.8: 1. PAV pools
    # 0.5 and 0 into 0.25 (weights 2 and 1: (1 + 0) / 3 = 1/3).
    scores = np.array([0.2, 0.2, 0.4, 0.6, 0.8])
    outcomes = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    labels = np.array([0, 1, 2, 0, 1])
    calibrator = fit_agnostic_isotonic(scores, labels, outcomes, 3)
    np.testing.assert_allclose(calibrator.x, [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(calibrator.y, [1 / 3, 1 / 3, 1, 1])
    # Linear between knots, clipped outside, the same for every class.
    mapped = calibrator.calibrate(np.array([0.1, 0.3, 0.5, 0.9, 0.5]),
                                  np.array([0, 0, 1, 2, 2]))
    np.testing.assert_allclose(mapped, [1 / 3, 1 / 3, 2 / 3, 1 - 1e-12,
                                        2 / 3], atol=1e-9)


def test_class_agnostic_isotonic_equals_the_reference_fit_on_test_data():
    # The reference fits IsotonicRegression(y_min=0, y_max=1,
    # out_of_bounds='clip') on all detections and predicts by linear
    # interpolation: here the old pool-adjacent-violators on the pooled,
    # tie-averaged scores, interpolated with numpy.
    scores, labels, outcomes = detections(0.5, 0.3, n=6000)
    scores = np.round(scores, 3)  # ties, as real scores have
    calibrator = fit_agnostic_isotonic(scores, labels, outcomes,
                                       NUM_CLASSES)
    x, inverse, counts = np.unique(scores, return_inverse=True,
                                   return_counts=True)
    means = np.bincount(inverse, weights=outcomes) / counts
    block_means, _, starts = old_pool_adjacent_violators(means, counts)
    fitted = np.repeat(block_means, np.diff(np.append(starts, len(x))))
    grid = np.linspace(0, 1, 5001)
    np.testing.assert_allclose(
        calibrator.calibrate(grid, np.zeros(len(grid), int)),
        np.clip(np.interp(grid, x, fitted), 1e-12, 1 - 1e-12), atol=1e-9)
    assert np.all(np.diff(calibrator.y) >= 0)


def test_class_agnostic_isotonic_refuses_bad_knots():
    with pytest.raises(ValueError, match='isotonic_agnostic'):
        AgnosticIsotonicCalibrator(2, [0.1, 0.1], [0.2, 0.3])
    with pytest.raises(ValueError, match='isotonic_agnostic'):
        AgnosticIsotonicCalibrator(2, [0.1, 0.2], [0.3, 0.2])


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
        save_calibrator(calibrator, str(path), ['a'])
    assert path.read_text() == 'mine'


def test_a_file_for_another_number_of_classes_is_refused(tmp_path):
    path = str(tmp_path / 'calibration.json')
    save_calibrator(FocalEntropyCalibrator(10, 1.0, 0.5), path,
                    [str(c) for c in range(10)])
    with pytest.raises(ValueError, match='fitted for 10 classes.*has 20'):
        load_calibrator(path, num_classes=20)
    with pytest.raises(ValueError, match='fitted for 10 classes'):
        FocalEntropyCalibrator(10, 1.0, 0.5).log_odds(np.zeros((3, 20)))


def test_malformed_files_are_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{not json')
    with pytest.raises(ValueError, match='bad.json is not valid JSON'):
        load_calibrator(str(path))
    document = calibrator_to_dict(PlattCalibrator([1.0], [0.0]), ['a'])
    with pytest.raises(ValueError, match='unknown calibration method'):
        calibrator_from_dict(dict(document, method='magic'), 'x.json')
    with pytest.raises(ValueError, match='not a score calibration file'):
        calibrator_from_dict({'method': 'platt'}, 'x.json')
    with pytest.raises(ValueError, match=r'slopes\[0\] = -1.0, must be > 0'):
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
    assert chosen in ('platt', 'isotonic', 'platt_isotonic',
                      'isotonic_agnostic')
    assert table[chosen]['all']['fixed']['d_ece'] < 0.03
    assert table['uncalibrated']['all']['fixed']['d_ece'] > 0.05
    assert set(table[chosen]) == {'all', 'rare', 'common', 'frequent'}


class ShiftCalibrator(ScoreCalibrator):
    """A test map: scores below ``cut`` go to ``low``, others to
    ``score + shift``."""
    method = 'shift'

    def __init__(self, num_classes, cut, low, shift):
        super().__init__(num_classes)
        self.cut, self.low, self.shift = cut, low, shift

    def _map_log_odds(self, logits, labels):
        scores = logistic(logits)
        mapped = np.where(scores < self.cut, self.low,
                          np.clip(scores + self.shift, 0, 1))
        return np.log(mapped) - np.log1p(-mapped)


def test_auto_chooses_by_the_fixed_set_not_by_the_set_a_candidate_keeps(
        monkeypatch):
    # Raw scores uniform on [0.02, 0.98]; a detection is right with
    # probability equal to its score above 0.6, but 0.9 in [0.3, 0.6).
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.02, 0.98, 20000)
    p = np.where((scores >= 0.3) & (scores < 0.6), 0.9, scores)
    outcomes = (rng.uniform(size=len(scores)) < p).astype(float)
    data = dict(scores=scores, labels=np.zeros(len(scores), int),
                outcomes=outcomes, image_ids=np.arange(len(scores)) // 20,
                class_names=['a'], class_buckets=None)
    # "hide" pushes the badly calibrated [0.3, 0.6) under 0.3 and leaves
    # the rest: the detections it keeps are calibrated. "honest" maps
    # [0.3, 0.6) to 0.9 and the rest 0.04 too high: off everywhere a bit.
    fitters = {
        'hide': lambda *args: ShiftCalibrator(1, 0.6, 0.1, 0.0),
        'honest': lambda *args: ShiftCalibrator(1, 0.0, 0.0, 0.04),
    }
    fitters['honest'] = lambda *args: HonestCalibrator()
    monkeypatch.setattr(calibration_fitting, 'FITTERS', fitters)
    table = compare_methods(data, sorted(fitters), seeds=(0, ))
    hide, honest = table['hide']['all'], table['honest']['all']
    # Judged on what each keeps, hiding wins...
    assert hide['thresholded']['d_ece'] < honest['thresholded']['d_ece']
    assert hide['thresholded']['num_detections'] < \
        honest['thresholded']['num_detections']
    # ...on the raw model's detections (both the same set) it loses.
    assert hide['fixed']['num_detections'] == \
        honest['fixed']['num_detections'] == int((scores >= 0.3).sum())
    assert honest['fixed']['d_ece'] < 0.06 < hide['fixed']['d_ece']
    assert best_method(table) == 'honest'


class HonestCalibrator(ScoreCalibrator):
    """[0.3, 0.6) -> 0.9 (their hit rate), the rest 0.04 too high."""
    method = 'honest'

    def __init__(self):
        super().__init__(1)

    def _map_log_odds(self, logits, labels):
        scores = logistic(logits)
        mapped = np.where((scores >= 0.3) & (scores < 0.6), 0.9,
                          np.clip(scores + 0.04, 1e-6, 1 - 1e-6))
        return np.log(mapped) - np.log1p(-mapped)
