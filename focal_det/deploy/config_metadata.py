"""What the runtime needs to know, read off an mmdet config and model.

Builds the sidecar dict (see :mod:`focal_det.deploy.metadata` and
``docs/deploy.md``). Values are taken from the built modules where mmdet
fills in defaults (the data preprocessor, the anchor generator, the box
coder, the head's ``test_cfg``) and from the config where only it knows
(the test pipeline's ``Resize``). Anything the numpy runtime does not
reproduce is refused here, at export time, with the setting named.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.models.dense_heads import AnchorHead
from mmdet.models.detectors import SingleStageDetector
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import DATASETS
from mmengine.config import Config

from ..calibration import calibrator_to_dict
from ..errors import UnsupportedModelError
from ..heads import LOSS_INVERSE, requested_score_calibrator
from .metadata import METADATA_FORMAT_VERSION

#: Name of the exported graph's image input.
INPUT_NAME = 'image'
# Test-pipeline steps that need nothing from the runtime: annotations are
# not used for prediction, packing only builds mmdet's data structures.
_PASSIVE_TRANSFORMS = {'LoadAnnotations', 'PackDetInputs'}
# The delta coder's ``decode`` default, which RetinaHead does not override.
_WH_RATIO_CLIP = 16 / 1000


def output_names(num_levels: int) -> Tuple[List[str], List[str]]:
    """Names of the exported graph's outputs.

    Args:
        num_levels: Feature-pyramid levels of the head.

    Returns:
        (class-logit names, box-delta names), e.g. ``cls_score_0`` and
        ``bbox_pred_0`` for the first (finest) level.
    """
    return ([f'cls_score_{level}' for level in range(num_levels)],
            [f'bbox_pred_{level}' for level in range(num_levels)])


def _transform_name(step: dict) -> str:
    return step['type'].split('.')[-1]  # 'mmdet.Resize' -> 'Resize'


def _test_pipeline(cfg: Config) -> Sequence[dict]:
    loader = cfg.get('test_dataloader')
    if loader is not None:
        dataset = loader['dataset']
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset['dataset']  # RepeatDataset and the like
        if 'pipeline' in dataset:
            return dataset['pipeline']
    if cfg.get('test_pipeline') is not None:
        return cfg.test_pipeline
    raise UnsupportedModelError(
        'the config has neither test_dataloader.dataset.pipeline nor '
        'test_pipeline: the runtime cannot know how images are resized')


def resize_settings(cfg: Config) -> Optional[Dict[str, Any]]:
    """The test pipeline's ``Resize``, or ``None`` when images are not
    resized.

    Args:
        cfg: The detector's config.

    Returns:
        ``dict(scale=[w, h], keep_ratio, interpolation, backend)`` or
        ``None``.

    Raises:
        ValueError: The pipeline has a step the runtime does not reproduce,
            or a ``Resize`` given by ``scale_factor``.
    """
    resize = None
    for step in _test_pipeline(cfg):
        name = _transform_name(step)
        if name == 'LoadImageFromFile':
            if step.get('color_type', 'color') != 'color':
                raise UnsupportedModelError(
                    'the runtime reads colour images only; the test '
                    'pipeline has LoadImageFromFile('
                    f'color_type={step["color_type"]!r})')
        elif name == 'Resize':
            scale = step.get('scale')
            if scale is None:
                raise UnsupportedModelError(
                    'the runtime reproduces Resize(scale=...) only; the '
                    f'test pipeline has {dict(step)}')
            if isinstance(scale, int):
                scale = (scale, scale)
            resize = dict(scale=[int(scale[0]), int(scale[1])],
                          keep_ratio=bool(step.get('keep_ratio', False)),
                          interpolation=step.get('interpolation', 'bilinear'),
                          backend=step.get('backend', 'cv2'))
        elif name not in _PASSIVE_TRANSFORMS:
            raise UnsupportedModelError(
                f'the test pipeline step {name} is not reproduced by the '
                'runtime (it knows LoadImageFromFile, Resize, '
                'LoadAnnotations and PackDetInputs)')
    return resize


def preprocess_settings(cfg: Config,
                        detector: SingleStageDetector) -> Dict[str, Any]:
    """Resize and ``DetDataPreprocessor`` settings, as the runtime reads them.

    Args:
        cfg: The detector's config (for the test pipeline).
        detector: The built detector (for its data preprocessor).

    Returns:
        The sidecar's ``preprocess`` section: ``resize``,
        ``channel_order`` (of the network input), ``bgr_to_rgb``,
        ``mean``/``std`` (3 floats, in the network's channel order),
        ``pad_size_divisor`` and ``pad_value``.
    """
    preprocessor = detector.data_preprocessor
    # mmdet loads images as BGR; either flag flips them to RGB.
    flips_channels = bool(getattr(preprocessor, '_channel_conversion', False))
    if getattr(preprocessor, '_enable_normalize', False):
        # The float32 values the model uses, written as short as they
        # read back exactly (123.675, not 123.67500305175781).
        mean = [float(str(np.float32(m))) for m in preprocessor.mean.flatten()]
        std = [float(str(np.float32(s))) for s in preprocessor.std.flatten()]
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    return dict(resize=resize_settings(cfg),
                channel_order='RGB' if flips_channels else 'BGR',
                bgr_to_rgb=flips_channels,
                mean=mean,
                std=std,
                pad_size_divisor=int(preprocessor.pad_size_divisor),
                pad_value=float(preprocessor.pad_value))


def _unsupported(runtime_reproduces: str, model_has: Any) -> None:
    raise UnsupportedModelError(f'the runtime reproduces {runtime_reproduces} '
                                f'only; the model has {model_has}')


def head_settings(head: AnchorHead) -> Dict[str, Dict[str, Any]]:
    """What the runtime needs of the head: anchors, box decoding and
    post-processing, with mmdet's defaults filled in.

    Args:
        head: The built RetinaNet head.

    Returns:
        Three sidecar sections:

        * ``anchor_generator`` (its ``AnchorGenerator``): ``strides``
          ([w, h] per level), ``ratios``, ``octave_base_scale`` and
          ``scales_per_octave`` (or explicit ``scales``), ``base_sizes``,
          ``scale_major``, ``center_offset``;
        * ``bbox_coder`` (its ``DeltaXYWHBBoxCoder``): ``means``, ``stds``,
          ``wh_ratio_clip``, ``clip_border``, ``add_ctr_clamp``,
          ``ctr_clamp``;
        * ``test_cfg``: ``score_thr``, ``nms_pre``, ``min_bbox_size``,
          ``iou_threshold``, ``class_agnostic``, ``max_per_img``.

    Raises:
        UnsupportedModelError: Another generator or coder, explicit anchor
            centers, or NMS other than ``nms``.
    """
    generator, coder = head.prior_generator, head.bbox_coder
    if type(generator) is not AnchorGenerator or generator.centers:
        _unsupported("mmdet's AnchorGenerator without explicit centers",
                     generator)
    if type(coder) is not DeltaXYWHBBoxCoder:
        _unsupported('DeltaXYWHBBoxCoder', type(coder).__name__)
    test_cfg = head.test_cfg
    nms = test_cfg.get('nms')
    if nms is None or nms.get('type', 'nms') != 'nms':
        _unsupported("test_cfg.nms = dict(type='nms', ...)", f'nms={nms}')
    uses_octaves = generator.octave_base_scale is not None
    return dict(
        anchor_generator=dict(
            strides=[[int(w), int(h)] for w, h in generator.strides],
            ratios=generator.ratios.tolist(),
            octave_base_scale=generator.octave_base_scale,
            scales_per_octave=generator.scales_per_octave,
            scales=None if uses_octaves else generator.scales.tolist(),
            base_sizes=[float(size) for size in generator.base_sizes],
            scale_major=bool(generator.scale_major),
            center_offset=float(generator.center_offset)),
        bbox_coder=dict(means=[float(m) for m in coder.means],
                        stds=[float(s) for s in coder.stds],
                        wh_ratio_clip=_WH_RATIO_CLIP,
                        clip_border=bool(coder.clip_border),
                        add_ctr_clamp=bool(coder.add_ctr_clamp),
                        ctr_clamp=float(coder.ctr_clamp)),
        test_cfg=dict(score_thr=float(test_cfg.get('score_thr', 0)),
                      nms_pre=int(test_cfg.get('nms_pre', -1)),
                      min_bbox_size=float(test_cfg.get('min_bbox_size', -1)),
                      iou_threshold=float(nms['iou_threshold']),
                      class_agnostic=bool(nms.get('class_agnostic', False)),
                      max_per_img=int(test_cfg['max_per_img'])))


def class_names(cfg: Config, checkpoint_meta: Dict[str, Any],
                num_classes: int) -> List[str]:
    """Class names: the checkpoint's dataset meta, else the config's dataset.

    Args:
        cfg: The detector's config.
        checkpoint_meta: The checkpoint's ``meta`` (empty without one).
        num_classes: Classes the head predicts.

    Returns:
        ``num_classes`` names.

    Raises:
        ValueError: The names found do not number ``num_classes``.
    """
    names = checkpoint_meta.get('dataset_meta', {}).get('classes')
    if names is None:
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset and 'type' in dataset['dataset']:
            dataset = dataset['dataset']
        names = dataset.get('metainfo', {}).get('classes')
        if names is None:
            names = DATASETS.get(dataset['type']).METAINFO['classes']
    names = [str(name) for name in names]
    if len(names) != num_classes:
        raise UnsupportedModelError(f'{len(names)} class names for a head '
                                    f'that predicts {num_classes} classes')
    return names


def score_calibration(head: AnchorHead,
                      names: List[str]) -> Optional[Dict[str, Any]]:
    """The calibrator ``test_cfg.score_calibration`` names, as the JSON
    document the runtime rebuilds it from (``None`` without one).

    Args:
        head: The built head.
        names: The model's classes; a calibration file fitted for others
            is refused.

    Returns:
        ``None``, or :func:`focal_det.calibration.calibrator_to_dict` of
        the calibrator, with ``info.source``: ``'loss'`` (the loss's own
        inverse map, ``info.loss`` its class) or the file's name.

    Raises:
        See :func:`focal_det.heads.requested_score_calibrator`.
    """
    calibrator = requested_score_calibrator(head, names)
    if calibrator is None:
        return None
    value = head.test_cfg['score_calibration']
    info = dict(source=LOSS_INVERSE, loss=type(head.loss_cls).__name__) \
        if value == LOSS_INVERSE else dict(source=osp.basename(value))
    return calibrator_to_dict(calibrator, names, info)


def check_supported(detector) -> AnchorHead:
    """Refuse detectors whose post-processing the runtime does not know.

    Args:
        detector: The built mmdet model.

    Returns:
        Its head.
    """
    if not isinstance(detector, SingleStageDetector):
        raise UnsupportedModelError(
            'the runtime reproduces single-stage detectors (RetinaNet); the '
            f'config builds {type(detector).__name__}')
    head = detector.bbox_head
    if not isinstance(head, AnchorHead) or not head.use_sigmoid_cls or \
            getattr(head.loss_cls, 'custom_cls_channels', False):
        raise UnsupportedModelError(
            'the runtime reproduces anchor heads with sigmoid scores '
            f'(RetinaHead); the config has {type(head).__name__}')
    return head


def runtime_metadata(cfg: Config, detector: SingleStageDetector,
                     checkpoint_meta: Dict[str, Any], model_format: str,
                     network_shape: Tuple[int, int],
                     dynamic: bool) -> Dict[str, Any]:
    """The sidecar of an exported detector.

    Args:
        cfg: The detector's config.
        detector: The built model (weights loaded).
        checkpoint_meta: The checkpoint's ``meta`` (empty without one).
        model_format: ``'onnx'`` or ``'torchscript'``.
        network_shape: (H, W) of the exported input.
        dynamic: Whether the exported input accepts other sizes.

    Returns:
        The JSON-serialisable metadata dict.
    """
    head = check_supported(detector)
    cls_names, bbox_names = output_names(len(head.prior_generator.strides))
    names = class_names(cfg, checkpoint_meta, head.num_classes)
    return dict(
        format_version=METADATA_FORMAT_VERSION,
        model_format=model_format,
        input=dict(name=INPUT_NAME, shape=[1, 3, *network_shape],
                   dynamic=bool(dynamic)),
        outputs=dict(cls_scores=cls_names, bbox_preds=bbox_names),
        num_anchors_per_location=int(head.num_base_priors),
        preprocess=preprocess_settings(cfg, detector),
        **head_settings(head),
        class_names=names,
        score_calibration=score_calibration(head, names))
