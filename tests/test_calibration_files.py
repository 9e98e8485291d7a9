"""A calibration file is checked whole when it is read (a file, or the
export sidecar's entry): every number finite and in its range, the
structure, the number of classes and the class names and their order.
Each refusal names the file and the entry."""
import copy
import json
import re

import numpy as np
import pytest

from focal_det.calibration import (CALIBRATORS, AgnosticIsotonicCalibrator,
                                   DualFocalCalibrator,
                                   FocalEntropyCalibrator,
                                   IsotonicCalibrator, PlattCalibrator,
                                   PlattIsotonicCalibrator,
                                   calibrator_to_dict, load_calibrator)
from focal_det.errors import InvalidCalibrationError

NAMES = ['cat', 'dog', 'emu']
NAN, INF = float('nan'), float('inf')


def _isotonic():
    return IsotonicCalibrator([dict(x=[-2.0, 0.0, 2.0], y=[-3.0, 0.0, 1.0]),
                               dict(x=[-1.0, 1.0], y=[-1.0, 1.0])],
                              [0, 1, 0])


VALID = {
    'platt': PlattCalibrator([1.0, 0.5, 2.0], [0.0, -1.0, 0.5]),
    'isotonic': _isotonic(),
    'platt_isotonic': PlattIsotonicCalibrator(
        PlattCalibrator([1.0, 0.5, 2.0], [0.0, -1.0, 0.5]), _isotonic()),
    'focal_entropy': FocalEntropyCalibrator(3, 2.0, [0.25, 0.5, 0.75]),
    'dual_focal': DualFocalCalibrator(3, 2.0),
    'isotonic_agnostic': AgnosticIsotonicCalibrator(3, [0.1, 0.5, 0.9],
                                                    [0.0, 0.4, 1.0]),
}


def _write(tmp_path, document, name='calibration.json'):
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        json.dump(document, f)  # NaN and Infinity as JSON writes them
    return path


def _set(document, entry, value):
    """``document`` with ``entry`` (e.g. ``params.maps.0.x.2``) set."""
    document = copy.deepcopy(document)
    *parents, last = [int(key) if key.isdigit() else key
                      for key in entry.split('.')]
    target = document
    for key in parents:
        target = target[key]
    target[last] = value
    return document


def test_every_method_is_covered_and_reads_back(tmp_path):
    assert set(VALID) == set(CALIBRATORS)
    logits = np.linspace(-6, 6, 13)[:, None].repeat(3, axis=1)
    for method, calibrator in VALID.items():
        document = calibrator_to_dict(calibrator, NAMES)
        assert document['method'] == method
        path = _write(tmp_path, document, f'{method}.json')
        again = load_calibrator(path, 3, NAMES)
        np.testing.assert_array_equal(again.map_logits(logits),
                                      calibrator.map_logits(logits))


TAMPERED = [
    # method, entry, value, what the error says about it
    ('platt', 'params.biases.1', NAN, r'biases\[1\] = nan, must be finite'),
    ('platt', 'params.slopes.2', INF, r'slopes\[2\] = inf, must be finite'),
    ('platt', 'params.slopes.0', 0.0, r'slopes\[0\] = 0.0, must be > 0'),
    ('platt', 'params.slopes.1', -0.5, r'slopes\[1\] = -0.5, must be > 0'),
    ('platt', 'params.biases', [0.0, 1.0], r'biases must be shape \(3\)'),
    ('platt', 'params.slopes', ['1', '1', '1'], 'slopes must be numbers'),
    ('platt', 'params.slopes', None, 'slopes must be numbers'),
    ('isotonic', 'params.maps.0.x.2', -5.0,
     r'maps\[0\].x\[2\] = -5.0, must be larger than the knot before it'),
    ('isotonic', 'params.maps.0.y.1', -3.0,
     r'maps\[0\].y\[1\] = -3.0, must be larger than the knot before it'),
    ('isotonic', 'params.maps.1.y.0', NAN,
     r'maps\[1\].y\[0\] = nan, must be finite'),
    ('isotonic', 'params.maps.1', dict(x=[0.0], y=[0.0]),
     r'maps\[1\] needs at least 2 knots'),
    ('isotonic', 'params.maps.1', dict(x=[0.0, 1.0], y=[0.0]),
     r'maps\[1\].y must be shape \(2\)'),
    ('isotonic', 'params.class_map.2', 5,
     r'class_map\[2\] = 5, must be the index of one of the 2 maps'),
    ('isotonic', 'params.class_map.0', 0.5,
     'class_map must be a list of map indices'),
    ('platt_isotonic', 'params.platt.biases.0', -INF,
     r'biases\[0\] = -inf, must be finite'),
    ('platt_isotonic', 'params.isotonic.maps.0.x.1', NAN,
     r'maps\[0\].x\[1\] = nan, must be finite'),
    ('focal_entropy', 'params.gamma', INF, 'gamma = inf, must be finite'),
    ('focal_entropy', 'params.gamma', -1.0, r'gamma = -1.0, must be >= 0'),
    ('focal_entropy', 'params.alpha.2', 1.0,
     r'alpha\[2\] = 1.0, must be in \(0, 1\)'),
    ('focal_entropy', 'params.alpha', [0.25, 0.5],
     r'alpha must be shape \(3\)'),
    ('dual_focal', 'params.gamma', 0.0, r'gamma = 0.0, must be > 0'),
    ('dual_focal', 'params.gamma', NAN, 'gamma = nan, must be finite'),
    ('isotonic_agnostic', 'params.y.1', NAN, r'y\[1\] = nan, must be finite'),
    ('isotonic_agnostic', 'params.x.2', 0.5,
     r'x\[2\] = 0.5, must be larger than the knot before it'),
    ('isotonic_agnostic', 'params.y.2', 0.3,
     r'y\[2\] = 0.3, must be at least the knot before it'),
    ('isotonic_agnostic', 'params.x.2', 1.5, r'x\[2\] = 1.5, must be in'),
    ('platt', 'params', dict(slopes=[1.0, 1.0, 1.0]),
     "params has no 'biases' entry"),
    ('platt', 'params', [1.0], 'params must be a dict'),
    ('platt', 'num_classes', 4, 'class_names must be a list of the 4'),
    ('platt', 'num_classes', 0, 'num_classes must be an integer >= 1'),
    ('platt', 'num_classes', 3.0, 'num_classes must be an integer >= 1'),
    ('platt', 'class_names', None, 'class_names must be a list of the 3'),
    ('platt', 'class_names', ['cat', 'dog', 7],
     'class_names must be a list of the 3'),
    ('platt', 'method', 'magic', "unknown calibration method 'magic'"),
    ('platt', 'version', 2, 'calibration file version 2'),
    ('platt', 'format', 'other', 'is not a score calibration file'),
]


@pytest.mark.parametrize('method,entry,value,message', TAMPERED,
                         ids=[f'{m}:{e}={v!r}'[:60]
                              for m, e, v, _ in TAMPERED])
def test_a_tampered_entry_is_refused_naming_file_and_entry(
        tmp_path, method, entry, value, message):
    document = _set(calibrator_to_dict(VALID[method], NAMES), entry, value)
    path = _write(tmp_path, document)
    with pytest.raises(InvalidCalibrationError) as error:
        load_calibrator(path, 3, NAMES)
    assert re.search(re.escape(f'score calibration file {path}') + '.*' +
                     message, str(error.value)), str(error.value)


def test_params_for_other_classes_than_num_classes_says(tmp_path):
    document = calibrator_to_dict(PlattCalibrator([1.0] * 4, [0.0] * 4),
                                  NAMES + ['fox'])
    document = _set(_set(document, 'num_classes', 3), 'class_names', NAMES)
    with pytest.raises(InvalidCalibrationError,
                       match='params describe 4 classes, num_classes says 3'):
        load_calibrator(_write(tmp_path, document))


@pytest.mark.parametrize('content,message', [
    (b'', r'is not valid JSON \(UTF-8\)'),
    (b'\xef\xbb\xbf{"format": "focal_det.score_calibration"}',
     r'is not valid JSON \(UTF-8\): Unexpected UTF-8 BOM'),
    (b'\xff\xfe{}', r'is not valid JSON \(UTF-8\)'),
    (b'{"format": "focal_det.score_calibration", "version": 1,',
     r'is not valid JSON \(UTF-8\)'),
    (b'[1, 2, 3]', 'is not a score calibration file'),
])
def test_an_unreadable_file_is_named(tmp_path, content, message):
    path = tmp_path / 'calibration.json'
    path.write_bytes(content)
    with pytest.raises(InvalidCalibrationError,
                       match=re.escape(f'score calibration file {path} ') +
                       message):
        load_calibrator(str(path))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=f'score calibration file not found: {tmp_path}'):
        load_calibrator(str(tmp_path / 'none.json'))


@pytest.mark.parametrize('model_names,difference', [
    (['cat', 'dog', 'fox'], "its class 2 is 'emu', the model's is 'fox'"),
    (['dog', 'cat', 'emu'], "its class 0 is 'cat', the model's is 'dog' "
     r'\(the same names in another order\)'),
    (['cat', 'dog'], 'it has 3 classes, the model 2'),
])
def test_a_file_fitted_for_other_classes_is_refused_naming_both(
        tmp_path, model_names, difference):
    path = _write(tmp_path, calibrator_to_dict(VALID['platt'], NAMES))
    with pytest.raises(InvalidCalibrationError) as error:
        load_calibrator(path, class_names=model_names)
    message = str(error.value)
    assert re.search(re.escape(f'score calibration file {path} was fitted '
                               "for other classes than the model's: ") +
                     difference, message), message
    assert f'calibrator classes {NAMES}' in message
    assert f'model classes {model_names}' in message


def test_long_class_lists_are_shortened_in_the_message(tmp_path):
    names = [f'class {k}' for k in range(1203)]
    calibrator = PlattCalibrator([1.0] * 1203, [0.0] * 1203)
    path = _write(tmp_path, calibrator_to_dict(calibrator, names))
    other = names[:-1] + ['another class']
    with pytest.raises(InvalidCalibrationError) as error:
        load_calibrator(path, 1203, other)
    message = str(error.value)
    assert "its class 1202 is 'class 1202', the model's is 'another " \
        "class'" in message
    assert "'class 7', ... 1203 classes]" in message
    assert len(message) < 800


def test_writing_needs_one_name_per_class():
    with pytest.raises(InvalidCalibrationError,
                       match='class_names must be a list of the 3'):
        calibrator_to_dict(VALID['platt'], ['cat'])
