"""A fitted calibrator applied by the detector head
(``model.test_cfg.score_calibration``), tools/test.py, tools/infer.py,
tools/export.py and the numpy runtime; tools/calibrate.py end to end. On the
tiny randomly initialised model of tests/test_deploy.py."""
import json
import os
import os.path as osp
import pickle
import stat

import numpy as np
import pytest
from mmengine.config import Config

from focal_det.calibration import (FocalEntropyCalibrator, PlattCalibrator,
                                   save_calibrator)
from focal_det.datasets import LONGTAIL_CLASSES
from focal_det.deploy.export import export_detector
from focal_det.deploy.metadata import read_metadata
from focal_det.deploy.preprocess import load_image
from focal_det.deploy.pytorch_model import build_detector
from focal_det.deploy.verify import verify_export
from focal_det.errors import InvalidCalibrationError
from focal_det.heads import requested_score_calibrator
from tests.test_deploy import (mmdet_pipeline_detections, run_tool,
                               tiny_checkpoint, tiny_config_file)

NUM_CLASSES = 20
# Per class a slope from 0.5 to 1.5 around a fixed point at the test
# config's score threshold 0.01: every score moves, but the same (anchor,
# class) pairs pass the threshold, so the same detections come out.
SLOPES = np.linspace(0.5, 1.5, NUM_CLASSES)
BIASES = (1 - SLOPES) * np.log(0.01 / 0.99)


def expected_scores(raw_scores, labels):
    logits = np.log(raw_scores) - np.log1p(-raw_scores)
    return 1 / (1 + np.exp(-(SLOPES[labels] * logits + BIASES[labels])))


def calibration_setup(tmp_path, tiny_root):
    """The tiny config and checkpoint, a Platt file for its classes
    (``calibration``) and three validation images, in ``tmp_path``."""
    cfg_path = tiny_config_file(tmp_path, tiny_root)
    checkpoint = tiny_checkpoint(tmp_path, Config.fromfile(cfg_path))
    calibration = str(tmp_path / 'platt.json')
    save_calibrator(PlattCalibrator(SLOPES, BIASES), calibration,
                    LONGTAIL_CLASSES)
    images = [osp.join(tiny_root, 'val', f'{i:06d}.png') for i in (1, 2, 3)]
    return dict(cfg=cfg_path, checkpoint=checkpoint, calibration=calibration,
                images=images, tmp=tmp_path)


@pytest.fixture(scope='module')
def setup(tmp_path_factory, tiny_root):
    return calibration_setup(tmp_path_factory.mktemp('calibration_apply'),
                             tiny_root)


def calibrated_cfg(setup):
    cfg = Config.fromfile(setup['cfg'])
    cfg.merge_from_dict(
        {'model.test_cfg.score_calibration': setup['calibration']})
    return cfg


def by_box(detections):
    return {(tuple(np.round(box, 3)), int(label)): float(score)
            for box, label, score in zip(detections.boxes, detections.labels,
                                         detections.scores)}


def test_head_maps_every_detection_score(setup):
    raw_model, _ = build_detector(Config.fromfile(setup['cfg']),
                                  setup['checkpoint'])
    calibrated_model, _ = build_detector(calibrated_cfg(setup),
                                         setup['checkpoint'])
    raw = mmdet_pipeline_detections(setup['cfg'], raw_model, setup['images'])
    calibrated = mmdet_pipeline_detections(setup['cfg'], calibrated_model,
                                           setup['images'])
    checked = 0
    for raw_image, calibrated_image in zip(raw, calibrated):
        mapped = by_box(calibrated_image)
        for (box, label), score in by_box(raw_image).items():
            expected = expected_scores(np.array([score]), np.array([label]))
            assert mapped[(box, label)] == pytest.approx(expected[0],
                                                         rel=1e-5)
            checked += 1
    assert checked > 10


def test_export_writes_the_calibrator_and_the_runtime_matches_mmdet(setup):
    path = str(setup['tmp'] / 'calibrated.onnx')
    metadata, detector = export_detector(calibrated_cfg(setup),
                                         setup['checkpoint'], 'onnx', path)
    assert metadata['score_calibration']['method'] == 'platt'
    assert metadata['score_calibration']['params']['biases'] == \
        BIASES.tolist()
    assert read_metadata(path)['score_calibration'] == \
        metadata['score_calibration']
    images = [(p, load_image(p)) for p in setup['images']]
    report = verify_export(path, detector, images, num_threads=1)
    assert report.ok, report.describe()
    assert sum(r.num_detections[0] for r in report.inputs) > 10


@pytest.mark.slow  # a tool in a subprocess
def test_export_tool_takes_the_option_and_verifies(setup):
    out = str(setup['tmp'] / 'tool.onnx')
    result = run_tool([
        'tools/export.py', setup['cfg'], setup['checkpoint'], '--format',
        'onnx', '--out', out, '--verify', '--verify-images',
        *setup['images'], '--cfg-options',
        f'model.test_cfg.score_calibration={setup["calibration"]}'
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_metadata(out)['score_calibration']['method'] == 'platt'


@pytest.mark.slow  # a tool in a subprocess
def test_infer_tool_applies_the_option(setup):
    scores = {}
    for name, options in (('raw', []), ('calibrated', [
            '--cfg-options',
            f'model.test_cfg.score_calibration={setup["calibration"]}'])):
        out_dir = str(setup['tmp'] / f'infer_{name}')
        result = run_tool(['tools/infer.py', setup['cfg'],
                           setup['checkpoint'], setup['images'][0],
                           *options, '--out-dir', out_dir])
        assert result.returncode == 0, result.stderr[-3000:]
        with open(osp.join(out_dir, 'detections.json')) as f:
            (entry, ) = json.load(f)['images']
        scores[name] = {(tuple(np.round(box, 2)), label): score
                        for box, label, score in zip(
                            entry['boxes'], entry['labels'],
                            entry['scores'])}
    assert scores['raw']
    for (box, label), score in scores['raw'].items():
        assert scores['calibrated'][(box, label)] == pytest.approx(
            expected_scores(np.array([score]), np.array([label]))[0],
            rel=1e-4)


@pytest.mark.slow  # a tool in a subprocess
def test_test_tool_applies_the_option(setup):
    results = {}
    for name, options in (('raw', []), ('calibrated', [
            f'model.test_cfg.score_calibration={setup["calibration"]}'])):
        out = str(setup['tmp'] / f'{name}.pkl')
        result = run_tool([
            'tools/test.py', setup['cfg'], setup['checkpoint'], '--work-dir',
            str(setup['tmp'] / f'test_{name}'), '--out', out,
            '--cfg-options', 'test_dataloader.dataset.indices=4',
            'test_evaluator.0.classwise=False', *options
        ])
        assert result.returncode == 0, result.stderr[-3000:]
        with open(out, 'rb') as f:
            results[name] = pickle.load(f)
    checked = 0
    for raw, calibrated in zip(results['raw'], results['calibrated']):
        raw, calibrated = raw['pred_instances'], calibrated['pred_instances']
        # The same detections (see SLOPES), each score mapped.
        expected = expected_scores(raw['scores'].numpy(),
                                   raw['labels'].numpy())
        np.testing.assert_allclose(np.sort(calibrated['scores'].numpy()),
                                   np.sort(expected), rtol=1e-5)
        checked += len(expected)
    assert checked > 10


def test_a_file_for_another_number_of_classes_is_refused(setup, tmp_path,
                                                         tiny_root):
    cfg = Config.fromfile(tiny_config_file(
        tmp_path, tiny_root, 10, score_calibration=setup['calibration']))
    model, _ = build_detector(cfg)
    with pytest.raises(InvalidCalibrationError,
                       match='fitted for 20 classes, the model has 10'):
        requested_score_calibrator(model.bbox_head)


def test_the_loss_inverse_is_one_calibrator_like_a_file(setup):
    """``score_calibration='loss'`` and a file holding the same map give the
    same detections: one mechanism, whatever the calibrator's source."""
    cfg = Config.fromfile(setup['cfg'])
    cfg.model.test_cfg.score_calibration = 'loss'
    own_model, _ = build_detector(cfg, setup['checkpoint'])
    # Class-balanced weights need the counts (the training hook's job).
    own_model.bbox_head.loss_cls.class_balancing.set_class_counts(
        [max(1, 300 // (k + 1)**2) for k in range(NUM_CLASSES)])
    inverse = own_model.bbox_head.loss_cls.inverse_calibrator(NUM_CLASSES)
    assert isinstance(inverse, FocalEntropyCalibrator)
    path = str(setup['tmp'] / 'loss_inverse.json')
    save_calibrator(inverse, path, LONGTAIL_CLASSES, overwrite=True)
    cfg.model.test_cfg.score_calibration = path
    file_model, _ = build_detector(cfg, setup['checkpoint'])
    raw_model, _ = build_detector(Config.fromfile(setup['cfg']),
                                  setup['checkpoint'])
    own, from_file, raw = (
        mmdet_pipeline_detections(setup['cfg'], model, setup['images'])
        for model in (own_model, file_model, raw_model))
    for own_image, file_image, raw_image in zip(own, from_file, raw):
        np.testing.assert_array_equal(own_image.scores, file_image.scores)
        np.testing.assert_array_equal(own_image.boxes, file_image.boxes)
        assert len(own_image) != len(raw_image) or not np.allclose(
            own_image.scores, raw_image.scores)


@pytest.mark.slow  # a tool in a subprocess
def test_calibrate_tool_writes_next_to_the_checkpoint_and_keeps_it(
        setup, tmp_path, tiny_root):
    # Scores around 0.4: enough detections above the D-ECE threshold.
    cfg_path = tiny_config_file(tmp_path, tiny_root, loss='fl')
    checkpoint = tiny_checkpoint(tmp_path, Config.fromfile(cfg_path), -0.4)
    args = ['tools/calibrate.py', cfg_path, checkpoint, '--method', 'platt',
            '--cfg-options', 'test_dataloader.dataset.indices=10']
    # The file gets the user's umask, like every other output (0664 here;
    # a private temporary file would give 0600).
    umask = os.umask(0o002)
    try:
        result = run_tool(args)
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr[-3000:]
    written = checkpoint[:-len('.pth')] + '.calibration.json'
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o664
    with open(written) as f:
        document = json.load(f)
    assert document['method'] == 'platt'
    info = document['info']
    assert info['data'] == 'the embedded calib split'
    assert info['ann_file'] == osp.join(tiny_root, 'annotations',
                                        'calib.json')
    assert info['matching'] == dict(iou_thr=0.5, score_thr=0.3, num_bins=10,
                                    greedy_by_score=True, crowd='ignored')
    assert info['loss_parameters'] == dict(method='focal_entropy',
                                           gamma=2.0, alpha=0.25)
    assert document['class_names'] == list(LONGTAIL_CLASSES)
    assert set(info['cross_fitted_d_ece']) == {
        'uncalibrated', 'platt', 'isotonic', 'platt_isotonic',
        'focal_entropy', 'isotonic_agnostic'}
    # Judged on the raw model's detections >= 0.3, the same for all.
    fixed_counts = {entry['all']['fixed']['num_detections']
                    for entry in info['cross_fitted_d_ece'].values()}
    assert len(fixed_counts) == 1
    assert info['selected_by'].startswith('cross-fitted fixed-set D-ECE')
    assert len(info['lrp_thresholds']['per_class']) == NUM_CLASSES
    assert len(set(info['lrp_thresholds']['detector'])) == 1
    again = run_tool(args)
    assert again.returncode == 1
    assert 'exists' in again.stderr
    with open(written) as f:
        assert json.load(f) == document


@pytest.mark.slow  # a tool in a subprocess
@pytest.mark.parametrize('data_options,description,ann_file', [
    (['--cross-fit'], 'cross-fit on the test split', 'val.json'),
    (['--calib-ann-file', 'annotations/calib.json', '--calib-img-prefix',
      'calib/'], 'held-out annotations', 'calib.json'),
], ids=['cross-fit', 'own-calibration-split'])
def test_calibrate_tool_on_other_data(tmp_path, tiny_root, data_options,
                                      description, ann_file):
    cfg_path = tiny_config_file(tmp_path, tiny_root, loss='fl')
    checkpoint = tiny_checkpoint(tmp_path, Config.fromfile(cfg_path), -0.4)
    out = str(tmp_path / 'calibration.json')
    result = run_tool([
        'tools/calibrate.py', cfg_path, checkpoint, '--method', 'isotonic',
        '--out', out, *data_options, '--cfg-options',
        'test_dataloader.dataset.indices=10'
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        info = json.load(f)['info']
    assert info['data'].startswith(description)
    assert info['ann_file'] == osp.join(tiny_root, 'annotations', ann_file)
    assert info['num_detections'] == 10 * 100  # max_per_img on 10 images


@pytest.mark.slow  # a tool in a subprocess
def test_calibrate_tool_names_a_half_given_split(setup):
    result = run_tool(['tools/calibrate.py', setup['cfg'],
                       setup['checkpoint'], '--calib-ann-file', 'x.json'])
    assert result.returncode == 2
    assert '--calib-ann-file and --calib-img-prefix go together' in \
        result.stderr
