"""A calibration file that cannot be applied ends every tool with one line,
``error: ...`` naming the file and what is wrong, and exit status 1: a
number that is not finite, a file fitted for other classes, unreadable
JSON, a head that would ignore it, a tampered export sidecar. Before,
tools/test.py, tools/export.py --verify and tools/infer.py accepted a NaN
bias and dropped the class's detections with exit status 0."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config

from focal_det.datasets import LONGTAIL_CLASSES
from focal_det.deploy.export import export_detector
from focal_det.deploy.metadata import read_metadata, write_metadata
from tests.test_calibration_apply import calibration_setup
from tests.test_deploy import run_tool

TEST_OPTIONS = ['test_dataloader.dataset.indices=2',
                'test_evaluator.0.classwise=False']


@pytest.fixture(scope='module')
def setup(tmp_path_factory, tiny_root):
    return calibration_setup(tmp_path_factory.mktemp('calibration_errors'),
                             tiny_root)


@pytest.fixture(scope='module')
def files(setup):
    """Calibration files made from ``setup``'s valid Platt file."""
    with open(setup['calibration']) as f:
        document = json.load(f)
    documents = {}
    for name, (key, index, value) in {
            'nan_bias': ('biases', 3, float('nan')),
            'inf_slope': ('slopes', 5, float('inf')),
    }.items():
        documents[name] = json.loads(json.dumps(document))
        documents[name]['params'][key][index] = value
    documents['other_classes'] = dict(
        document, class_names=document['class_names'][::-1])
    paths = {}
    for name, tampered in documents.items():
        paths[name] = str(setup['tmp'] / f'{name}.json')
        with open(paths[name], 'w') as f:
            json.dump(tampered, f)  # writes NaN / Infinity
    paths['bom'] = str(setup['tmp'] / 'bom.json')
    with open(paths['bom'], 'wb') as f:
        f.write(b'\xef\xbb\xbf' + json.dumps(document).encode())
    return paths


def assert_one_line_error(result, *parts):
    """Exit status 1, no traceback, and a last line ``error: ...`` holding
    every part."""
    assert result.returncode == 1, result.stdout[-2000:] + \
        result.stderr[-4000:]
    assert 'Traceback' not in result.stderr, result.stderr[-4000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: '), last
    for part in parts:
        assert part in last, (part, last)


@pytest.mark.slow  # a tool in a subprocess
@pytest.mark.parametrize('file,what', [
    ('nan_bias', 'platt calibrator: biases[3] = nan, must be finite'),
    ('other_classes', "was fitted for other classes than the model's: its "
     f"class 0 is {LONGTAIL_CLASSES[-1]!r}, the model's is "
     f'{LONGTAIL_CLASSES[0]!r}'),
    ('bom', 'is not valid JSON (UTF-8): Unexpected UTF-8 BOM'),
])
def test_test_tool(setup, files, file, what):
    path = files[file]
    result = run_tool([
        'tools/test.py', setup['cfg'], setup['checkpoint'], '--work-dir',
        str(setup['tmp'] / f'test_{file}'), '--cfg-options', *TEST_OPTIONS,
        f'model.test_cfg.score_calibration={path}'
    ])
    assert_one_line_error(result, f'score calibration file {path}', what)
    assert 'bbox_mAP' not in result.stdout + result.stderr


@pytest.mark.slow  # a tool in a subprocess
def test_test_tool_refuses_a_head_that_would_ignore_the_option(setup):
    missing = str(setup['tmp'] / 'no_such_calibration.json')
    result = run_tool([
        'tools/test.py', setup['cfg'], setup['checkpoint'], '--work-dir',
        str(setup['tmp'] / 'test_plain_head'), '--cfg-options',
        *TEST_OPTIONS, 'model.bbox_head.type=RetinaHead',
        f'model.test_cfg.score_calibration={missing}'
    ])
    assert_one_line_error(
        result, f"score_calibration='{missing}' would be ignored: "
        'RetinaHead cannot map its scores')


@pytest.mark.slow  # a tool in a subprocess
def test_export_tool_exports_nothing(setup, files):
    out = str(setup['tmp'] / 'export' / 'model.onnx')
    path = files['inf_slope']
    result = run_tool([
        'tools/export.py', setup['cfg'], setup['checkpoint'], '--format',
        'onnx', '--out', out, '--verify', '--cfg-options',
        f'model.test_cfg.score_calibration={path}'
    ])
    assert_one_line_error(result, f'score calibration file {path}',
                          'slopes[5] = inf, must be finite')
    assert 'verified' not in result.stdout
    assert not osp.exists(out) and not osp.exists(out + '.json')


@pytest.mark.slow  # a tool in a subprocess
def test_infer_tool_from_config(setup, files):
    path = files['nan_bias']
    out_dir = str(setup['tmp'] / 'infer_config')
    result = run_tool([
        'tools/infer.py', setup['cfg'], setup['checkpoint'],
        setup['images'][0], '--out-dir', out_dir, '--cfg-options',
        f'model.test_cfg.score_calibration={path}'
    ])
    assert_one_line_error(result, f'score calibration file {path}',
                          'biases[3] = nan, must be finite')
    assert not osp.exists(osp.join(out_dir, 'detections.json'))


@pytest.mark.slow  # a tool in a subprocess
def test_infer_tool_on_a_tampered_export(setup):
    path = str(setup['tmp'] / 'exported' / 'model.onnx')
    os.makedirs(osp.dirname(path))
    cfg = Config.fromfile(setup['cfg'])
    cfg.model.test_cfg.score_calibration = setup['calibration']
    export_detector(cfg, setup['checkpoint'], 'onnx', path)
    metadata = read_metadata(path)
    metadata['score_calibration']['params']['biases'][3] = float('nan')
    write_metadata(path, metadata)
    result = run_tool(['tools/infer.py', '--model', path,
                       setup['images'][0], '--out-dir',
                       str(setup['tmp'] / 'infer_export')],
                      without_torch_and_mmdet=True)
    assert_one_line_error(
        result, f'the score_calibration entry of {path}.json',
        'biases[3] = nan, must be finite')


@pytest.mark.slow  # a tool in a subprocess
def test_calibrate_tool_names_the_file_it_cannot_start_from(setup, files):
    path = files['nan_bias']
    result = run_tool([
        'tools/calibrate.py', setup['cfg'], setup['checkpoint'], '--out',
        str(setup['tmp'] / 'refit.json'), '--cfg-options',
        f'model.test_cfg.score_calibration={path}'
    ])
    assert_one_line_error(result, 'calibrators are fitted on raw scores',
                          f'model.test_cfg.score_calibration={path}')
    assert not osp.exists(setup['tmp'] / 'refit.json')
