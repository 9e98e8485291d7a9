"""Export to ONNX / TorchScript, the numpy runtime, tools/export.py and
tools/infer.py, on a tiny randomly initialised model of the embedded
config."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmcv.ops import batched_nms
from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import \
    delta2bbox
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

from focal_det.deploy import preprocess as preprocess_module
from focal_det.deploy.export import export_detector
from focal_det.deploy.metadata import read_metadata, write_metadata
from focal_det.deploy.postprocess import (Detections, classwise_nms,
                                          decode_deltas, grid_anchors,
                                          postprocess)
from focal_det.deploy.preprocess import load_image, prepare_image
from focal_det.deploy.pytorch_model import build_detector
from focal_det.calibration import FocalEntropyCalibrator, calibrator_to_dict
from focal_det.engine.detector_loading import load_checkpoint_strictly
from focal_det.errors import CheckpointMismatchError, InvalidCalibrationError
from focal_det.deploy.runtime import ExportedDetector
from focal_det.deploy.verify import (BOX_TOLERANCE, SCORE_TOLERANCE,
                                     compare_detections, verify_export)
from tests.tiny_data import REPO, TINY_TEST_PIPELINE, config_path

torch.set_num_threads(1)  # small inputs; other jobs share the cores
# Random weights give every score ~0.5; this class bias leaves few
# (anchor, class) pairs above the 0.01 threshold (59, 9 and 4 detections
# on the three images used), so thresholding, top-k and NMS all matter.
CLS_BIAS = -6.5
# Run in a subprocess before anything else: mmdet, mmcv, mmengine and torch
# then cannot be imported (and importlib.util.find_spec reports them
# missing), as on a machine that has only the runtime's packages.
WITHOUT_TORCH_AND_MMDET = '''
import runpy, sys
HEAVY = ('torch', 'torchvision', 'mmdet', 'mmcv', 'mmengine')
for name in HEAVY:
    sys.modules[name] = None
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    loaded = sorted(name for name, module in sys.modules.items()
                    if module is not None and name.split('.')[0] in HEAVY)
    print('heavy modules loaded:', loaded)
'''


def tiny_config_file(tmp_path, data_root, num_classes=20, loss='cbfl',
                     score_calibration=None, class_counts=None):
    path = tmp_path / f'tiny_{loss}_{num_classes}.py'
    head = dict(num_classes=num_classes)
    if class_counts is not None:
        head['loss_cls'] = dict(class_counts=class_counts)
    path.write_text(f'''
_base_ = {config_path(loss)!r}
data_root = {data_root + '/'!r}
model = dict(bbox_head={head!r},
             test_cfg=dict(score_calibration={score_calibration!r}))
{TINY_TEST_PIPELINE}
test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root,
                                    pipeline=test_pipeline))
''')
    return str(path)


def tiny_checkpoint(tmp_path, cfg, cls_bias=CLS_BIAS):
    """A checkpoint of the config's model: seeded random weights, and the
    class bias."""
    torch.manual_seed(0)
    detector, _ = build_detector(cfg)
    with torch.no_grad():
        detector.bbox_head.retina_cls.bias.fill_(cls_bias)
    path = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=detector.state_dict(), meta={}), path)
    return path


@pytest.fixture(scope='module')
def val_images(tiny_root):
    return [osp.join(tiny_root, 'val', f'{i:06d}.png') for i in (1, 2, 3)]


@pytest.fixture(scope='module')
def tiny_cfg_path(tmp_path_factory, tiny_root):
    return tiny_config_file(tmp_path_factory.mktemp('cfg'), tiny_root)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, tiny_cfg_path):
    return tiny_checkpoint(tmp_path_factory.mktemp('ckpt'),
                           Config.fromfile(tiny_cfg_path))


@pytest.fixture(scope='module')
def exported_onnx(tmp_path_factory, tiny_cfg_path, checkpoint):
    path = str(tmp_path_factory.mktemp('onnx') / 'tiny.onnx')
    _, detector = export_detector(Config.fromfile(tiny_cfg_path), checkpoint,
                                  'onnx', path)
    return path, detector


def mmdet_pipeline_detections(cfg_path, detector, image_paths):
    """mmdet end to end: the config's test pipeline, data preprocessor and
    predict, on dataset images given by path."""
    dataset = DATASETS.build(Config.fromfile(cfg_path).test_dataloader.dataset)
    index_of = {
        osp.basename(dataset.get_data_info(i)['img_path']): i
        for i in range(len(dataset))
    }
    detections = []
    for path in image_paths:
        batch = pseudo_collate([dataset[index_of[osp.basename(path)]]])
        with torch.no_grad():
            (result, ) = detector.test_step(batch)
        instances = result.pred_instances
        detections.append(
            Detections(instances.bboxes.numpy(), instances.scores.numpy(),
                       instances.labels.numpy()))
    return detections


def run_tool(args, without_torch_and_mmdet=False):
    prefix = ['-c', WITHOUT_TORCH_AND_MMDET] if without_torch_and_mmdet else []
    return subprocess.run([sys.executable] + prefix + args, cwd=REPO,
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))


# --- the numpy pieces against mmdet's ----------------------------------------


def test_anchors_match_mmdet(exported_onnx):
    _, detector = exported_onnx
    metadata = read_metadata(exported_onnx[0])
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2)]
    ours = grid_anchors(sizes, metadata['anchor_generator'])
    theirs = detector.bbox_head.prior_generator.grid_priors(sizes,
                                                            device='cpu')
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-5)


def test_decoding_and_nms_match_mmdet(exported_onnx):
    coder = read_metadata(exported_onnx[0])['bbox_coder']
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 50, (300, 2)).astype(np.float32)
    anchors = np.concatenate(
        [corners, corners + rng.uniform(2, 30, (300, 2))], 1).astype(
            np.float32)
    deltas = rng.normal(0, 1.5, (300, 4)).astype(np.float32)
    ours = decode_deltas(anchors, deltas, coder, (64, 80))
    theirs = delta2bbox(torch.from_numpy(anchors), torch.from_numpy(deltas),
                        max_shape=(64, 80))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-4)

    scores = rng.uniform(0, 1, 300).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    keep = classwise_nms(ours, scores, labels, 0.5)
    _, expected = batched_nms(theirs, torch.from_numpy(scores),
                              torch.from_numpy(labels),
                              dict(type='nms', iou_threshold=0.5))
    np.testing.assert_array_equal(keep, expected.numpy())


def test_preprocessing_matches_mmdet_pipeline(tmp_path, tiny_cfg_path,
                                              exported_onnx, val_images):
    from mmcv.transforms import Compose
    _, detector = exported_onnx
    metadata = read_metadata(exported_onnx[0])
    # A non-square image that has to be resized, as well as dataset images.
    odd = str(tmp_path / 'odd.png')
    Image.fromarray(np.random.default_rng(0).integers(
        0, 256, (50, 90, 3), dtype=np.uint8)).save(odd)
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='PackDetInputs')
    ])
    for path in val_images[:1] + [odd]:
        packed = detector.data_preprocessor(
            pseudo_collate([pipeline(dict(img_path=path))]))
        ours = prepare_image(load_image(path), metadata['preprocess'])
        sample = packed['data_samples'][0]
        np.testing.assert_array_equal(ours.network_input,
                                      packed['inputs'].numpy())
        assert ours.image_shape == sample.img_shape
        assert ours.scale_factor == sample.scale_factor
        assert ours.original_shape == sample.ori_shape


def test_pillow_reads_the_same_pixels_as_opencv(monkeypatch, tmp_path,
                                                val_images):
    with_opencv = load_image(val_images[0])
    monkeypatch.setattr(preprocess_module, '_optional_module',
                        lambda name: None)
    np.testing.assert_array_equal(load_image(val_images[0]), with_opencv)
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    with pytest.raises(ValueError, match=f'cannot read image {broken}'):
        load_image(str(broken))


# --- export and parity -------------------------------------------------------


@pytest.mark.parametrize('model_format,dynamic', [('onnx', False),
                                                  ('onnx', True),
                                                  ('torchscript', False)])
def test_exported_model_matches_pytorch_and_mmdet(tmp_path, tiny_cfg_path,
                                                  checkpoint, val_images,
                                                  model_format, dynamic):
    path = str(tmp_path / f'tiny.{model_format}')
    metadata, detector = export_detector(Config.fromfile(tiny_cfg_path),
                                         checkpoint, model_format, path,
                                         dynamic=dynamic)
    assert metadata['input']['shape'] == [1, 3, 64, 64]
    images = [(p, load_image(p)) for p in val_images]
    if dynamic:  # 64x128, resized to 32x64: a second input size
        images.append(('two images side by side',
                       np.concatenate([images[0][1], images[1][1]], axis=1)))
    report = verify_export(path, detector, images, num_threads=1)
    assert report.ok, report.describe()
    for result in report.inputs:
        assert result.raw_max_abs_diff <= 1e-4
        assert result.num_detections[0] == result.num_detections[1]
    counts = [result.num_detections[0] for result in report.inputs]
    assert 0 < sum(counts) < 100 * len(counts)  # the threshold did filter


def test_sidecar_describes_the_config(exported_onnx):
    metadata = read_metadata(exported_onnx[0])
    assert metadata['anchor_generator']['strides'] == [[4, 4], [8, 8],
                                                       [16, 16], [32, 32]]
    assert metadata['anchor_generator']['octave_base_scale'] == 3
    assert metadata['anchor_generator']['scales_per_octave'] == 2
    assert metadata['preprocess']['mean'] == [123.675, 116.28, 103.53]
    assert metadata['preprocess']['channel_order'] == 'RGB'
    assert metadata['preprocess']['resize']['scale'] == [64, 64]
    assert metadata['test_cfg'] == dict(score_thr=0.01, nms_pre=1000,
                                        min_bbox_size=0.0, iou_threshold=0.5,
                                        class_agnostic=False, max_per_img=100)
    assert len(metadata['class_names']) == 20
    assert metadata['format_version'] == 2
    assert metadata['score_calibration'] is None
    assert 'score_recalibration' not in metadata


# The inverse map lowers these scores: a larger class bias keeps detections.
@pytest.mark.parametrize('loss,method,cls_bias', [('cbfl', 'focal_entropy',
                                                   -5.0),
                                                  ('dfl', 'dual_focal', -4.0)])
def test_export_with_the_loss_inverse_matches_mmdet(tmp_path, tiny_root,
                                                    val_images, loss, method,
                                                    cls_bias):
    # Class-balanced weights need the counts (the training hook's job).
    counts = [max(1, 300 // (k + 1)**2) for k in range(20)]
    cfg = Config.fromfile(
        tiny_config_file(tmp_path, tiny_root, loss=loss,
                         score_calibration='loss',
                         class_counts=counts if loss == 'cbfl' else None))
    path = str(tmp_path / 'loss_inverse.onnx')
    metadata, detector = export_detector(
        cfg, tiny_checkpoint(tmp_path, cfg, cls_bias), 'onnx', path)
    calibration = metadata['score_calibration']
    assert calibration['method'] == method
    assert calibration['info']['source'] == 'loss'
    assert calibration['class_names'] == metadata['class_names']
    expected = detector.bbox_head.loss_cls.inverse_calibrator(20).params()
    assert calibration['params'] == expected
    if loss == 'cbfl':  # one effective alpha per class, rarest highest
        alpha = calibration['params']['alpha']
        assert len(alpha) == 20 and alpha[-1] > alpha[0]
    images = [(p, load_image(p)) for p in val_images]
    report = verify_export(path, detector, images, num_threads=1)
    assert report.ok, report.describe()
    assert sum(r.num_detections[0] for r in report.inputs) > 0


def _with_sidecar_calibration(tmp_path, path, metadata, name, calibration):
    """A second exported model: ``path`` with another sidecar."""
    other = str(tmp_path / name)
    os.symlink(path, other)
    write_metadata(other, dict(metadata, score_calibration=calibration))
    return other


def test_handwritten_calibration_maps_each_class_score(
        tmp_path, exported_onnx, val_images):
    from focal_det.theory.focal import inverse_sigmoid_minimiser
    path, _ = exported_onnx
    metadata = read_metadata(path)
    # The inverse map lowers these scores: a lower threshold keeps
    # detections.
    metadata['test_cfg']['score_thr'] = 1e-4
    gamma, alpha = 0.5, np.linspace(0.25, 0.75, 20)
    calibrated_path = _with_sidecar_calibration(
        tmp_path, path, metadata, 'calibrated.onnx',
        calibrator_to_dict(FocalEntropyCalibrator(20, gamma, alpha),
                           metadata['class_names']))

    def expected_logits(logits):
        """logit(inverse_sigmoid_minimiser(score, gamma, alpha_c)), per
        class column."""
        scores = 1 / (1 + np.exp(-logits.astype(np.float64)))
        calibrated = np.stack([
            inverse_sigmoid_minimiser(scores[:, c], gamma, alpha[c])
            for c in range(scores.shape[1])
        ], axis=1)
        return np.log(calibrated) - np.log1p(-calibrated)

    plain = ExportedDetector(path, score_thr=1e-4, num_threads=1)
    prepared = plain.prepare(load_image(val_images[0]))
    cls_scores, bbox_preds = plain.raw_outputs(prepared)
    expected = postprocess(cls_scores, bbox_preds, prepared, metadata,
                           expected_logits)
    ours = ExportedDetector(calibrated_path,
                            num_threads=1).detect_prepared(prepared)
    labels_equal, box_diff, score_diff = compare_detections(ours, expected)
    assert len(ours) > 0 and labels_equal
    assert box_diff <= 1e-4 and score_diff <= 1e-6
    unchanged = plain.detect_prepared(prepared)
    assert len(ours) != len(unchanged) or not np.allclose(
        ours.scores, unchanged.scores)


@pytest.mark.parametrize('tamper,entry', [
    (lambda doc: doc['params']['alpha'].__setitem__(3, float('nan')),
     r'alpha\[3\] = nan, must be finite'),
    (lambda doc: doc['params'].__setitem__('gamma', float('inf')),
     'gamma = inf, must be finite'),
    (lambda doc: doc['class_names'].reverse(),
     "fitted for other classes.*its class 0 is 'class_19'"),
])
def test_runtime_refuses_a_tampered_sidecar_calibration(
        tmp_path, exported_onnx, tamper, entry):
    path, _ = exported_onnx
    metadata = read_metadata(path)
    names = [f'class_{c:02d}' for c in range(20)]
    metadata['class_names'] = names
    document = calibrator_to_dict(
        FocalEntropyCalibrator(20, 2.0, [0.25] * 20), names)
    tamper(document)
    tampered = _with_sidecar_calibration(tmp_path, path, metadata,
                                         'tampered.onnx', document)
    with pytest.raises(InvalidCalibrationError,
                       match=re.escape(f'score_calibration entry of '
                                       f'{tampered}.json') + '.*' + entry):
        ExportedDetector(tampered, num_threads=1)


# --- the tools ---------------------------------------------------------------


def test_runtime_and_infer_run_without_torch_and_mmdet(
        tmp_path, tiny_cfg_path, exported_onnx, val_images):
    model_path, detector = exported_onnx
    out_dir = str(tmp_path / 'infer')
    result = run_tool(['tools/infer.py', '--model', model_path, *val_images,
                       '--out-dir', out_dir, '--draw-thr', '0.01'],
                      without_torch_and_mmdet=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'heavy modules loaded: []' in result.stdout
    with open(osp.join(out_dir, 'detections.json')) as f:
        written = json.load(f)['images']
    expected = mmdet_pipeline_detections(tiny_cfg_path, detector, val_images)
    class_names = read_metadata(model_path)['class_names']
    for entry, reference in zip(written, expected):
        ours = Detections(np.array(entry['boxes'], np.float32).reshape(-1, 4),
                          np.array(entry['scores'], np.float32),
                          np.array(entry['labels'], np.int64))
        labels_equal, box_diff, score_diff = compare_detections(
            ours, reference)
        assert len(ours) > 0 and labels_equal
        assert box_diff <= BOX_TOLERANCE and score_diff <= SCORE_TOLERANCE
        assert entry['class_names'] == [
            class_names[label] for label in entry['labels']
        ]
        with Image.open(entry['drawing']) as drawing:
            assert drawing.size == (512, 512)  # 64 px, enlarged 8 times


def test_infer_from_config_and_checkpoint(tmp_path, tiny_cfg_path,
                                          checkpoint, val_images):
    out_dir = str(tmp_path / 'infer')
    result = run_tool([
        'tools/infer.py', tiny_cfg_path, checkpoint, val_images[0],
        '--out-dir', out_dir, '--upscale', '2', '--score-thr', '0.02'
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(osp.join(out_dir, 'detections.json')) as f:
        written = json.load(f)
    assert written['score_thr'] == 0.02
    (entry, ) = written['images']
    assert entry['width'] == entry['height'] == 64
    assert all(score > 0.02 for score in entry['scores'])
    with Image.open(osp.join(out_dir, '000001.png')) as drawing:
        assert drawing.size == (128, 128)


# --- clear errors ------------------------------------------------------------


def test_mismatched_checkpoint_names_key_and_shapes(tmp_path, tiny_root,
                                                    checkpoint):
    ten_classes = tiny_config_file(tmp_path, tiny_root, num_classes=10)
    result = run_tool([
        'tools/export.py', ten_classes, checkpoint, '--format', 'onnx',
        '--out', str(tmp_path / 'm.onnx')
    ])
    assert result.returncode != 0
    assert ('bbox_head.retina_cls.weight has shape (120, 64, 3, 3) in the '
            'checkpoint but (60, 64, 3, 3) in the model') in result.stderr
    assert not osp.exists(tmp_path / 'm.onnx')


def test_checkpoint_with_missing_key_is_refused(tmp_path, tiny_cfg_path,
                                                checkpoint):
    state = torch.load(checkpoint, weights_only=False)
    del state['state_dict']['neck.fpn_convs.0.conv.bias']
    broken = str(tmp_path / 'broken.pth')
    torch.save(state, broken)
    detector, _ = build_detector(Config.fromfile(tiny_cfg_path))
    with pytest.raises(CheckpointMismatchError,
                       match='has no neck.fpn_convs.0.conv.bias'):
        load_checkpoint_strictly(detector, broken)


def test_unreadable_image_is_named(tmp_path, exported_onnx, val_images):
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    result = run_tool([
        'tools/infer.py', '--model', exported_onnx[0], val_images[0],
        str(broken), '--out-dir',
        str(tmp_path / 'out')
    ], without_torch_and_mmdet=True)
    assert result.returncode != 0
    assert f'cannot read image {broken}' in result.stderr
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_image(str(tmp_path / 'missing.png'))


def test_unsupported_opset_names_the_supported_range(tmp_path,
                                                     tiny_cfg_path):
    with pytest.raises(ValueError, match='supported opsets are 9 to 20'):
        export_detector(Config.fromfile(tiny_cfg_path), None, 'onnx',
                        str(tmp_path / 'm.onnx'), opset=21)


def test_image_larger_than_a_fixed_export_is_refused(exported_onnx):
    metadata = read_metadata(exported_onnx[0])
    with pytest.raises(ValueError, match='export with --dynamic'):
        prepare_image(np.zeros((64, 64, 3), np.uint8),
                      dict(metadata['preprocess'], resize=None), (32, 32))
