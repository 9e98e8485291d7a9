"""Score mapping: one mechanism by which any focal_det dense head applies a
score calibrator before its threshold, top-k and NMS.

``model.test_cfg.score_calibration`` names the calibrator:

* ``'loss'``: the inverse map of the head's own classification loss, with
  its trained parameters (``loss_cls.inverse_calibrator(C)``, see
  :mod:`focal_det.calibration.loss_inverse`); read at every prediction, so
  it follows the loaded state (class counts, a learnt gamma);
* a path: a calibrator file fitted by ``tools/calibrate.py``
  (:mod:`focal_det.calibration.io`), read once per file version and
  checked whole (every number, the number of classes and, once the
  model's classes are known, their names and order);
* unset, ``None`` or ``''``: the head's own scores.

The calibrator maps the class logits in float64 numpy, as the
exported-model runtime does (:mod:`focal_det.deploy.runtime`), so that
both keep and rank the same detections. A head that cannot apply the
option would silently ignore it; :func:`requested_score_calibrator` is the
one check that refuses it (used by :class:`~focal_det.hooks.
ScoreCalibrationHook` before training, validation and testing, and by the
export).
"""
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..calibration import ScoreCalibrator, load_calibrator
from ..errors import InvalidCalibrationError

#: ``score_calibration`` value that names the loss's own inverse map.
LOSS_INVERSE = 'loss'

_LOADED: Dict[Tuple[Any, ...], ScoreCalibrator] = {}


def score_calibration_option(test_cfg) -> Optional[str]:
    """``test_cfg.score_calibration``: ``'loss'``, a path, or None (off).

    Raises:
        InvalidCalibrationError: It is set to something else.
    """
    value = (test_cfg or {}).get('score_calibration')
    if value is None or value == '':
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidCalibrationError(
            f'model.test_cfg.score_calibration must be a calibration file '
            f"(tools/calibrate.py) or '{LOSS_INVERSE}' (the loss's own "
            f'inverse map), got {value!r}')
    return str(value)


def _calibrator_file(path: str, num_classes: int,
                     class_names: Optional[Sequence[str]]
                     ) -> ScoreCalibrator:
    """The calibrator in ``path``, checked against the model; read again
    only when the file changes."""
    path = osp.abspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'model.test_cfg.score_calibration: no such file {path}')
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size, num_classes,
           None if class_names is None else tuple(class_names))
    if key not in _LOADED:
        _LOADED[key] = load_calibrator(path, num_classes, class_names)
    return _LOADED[key]


def _map_level_logits(level: Tensor, calibrator: ScoreCalibrator) -> Tensor:
    """One level's (A * C, H, W) class logits, anchor-major, mapped; same
    shape, dtype and device."""
    num_classes = calibrator.num_classes
    classes_last = level.detach().reshape(
        -1, num_classes, *level.shape[-2:]).movedim(1, -1)
    log_odds = calibrator.map_logits(classes_last.double().cpu().numpy())
    mapped = torch.from_numpy(log_odds).to(device=level.device,
                                           dtype=level.dtype)
    return mapped.movedim(-1, 1).reshape(level.shape)


class ScoreMappingMixin:
    """Apply ``test_cfg.score_calibration`` to a dense head's class logits
    (module docstring), before its score threshold, top-k and NMS.

    How a head author uses it: put the mixin first among the bases of an
    mmdet dense head and register the class; nothing else::

        @MODELS.register_module()
        class ScoreMappingATSSHead(ScoreMappingMixin, ATSSHead):
            pass

    The mixin overrides ``_predict_by_feat_single`` (mmdet's
    ``BaseDenseHead`` signature) and hands the mapped logits to the next
    class's. What it needs from the head:

    * sigmoid class scores (``use_sigmoid_cls``; a softmax head is
      refused), C = ``cls_out_channels``;
    * per-level class logits of one image, (A * C, H, W) with the C
      classes of each anchor adjacent (anchor-major), which is what
      ``BaseDenseHead._predict_by_feat_single`` reads;
    * for ``'loss'``, a ``loss_cls`` with ``inverse_calibrator(C)``.

    The calibrator maps exactly the logits ``_predict_by_feat_single``
    receives. A score factor passed beside them (ATSS's centerness) is not
    mapped: mmdet multiplies the mapped class score by it after
    thresholding, as it does the raw one. A head that folds a factor into
    the logits before (an IoU branch whose ``predict_by_feat`` hands on the
    log-odds of ``class score * IoU``) gets the combined score mapped,
    which is what ``tools/calibrate.py`` fits on, since it fits the
    detections' final scores; the loss's own inverse map (``'loss'``)
    speaks of the class score alone, so such a head overrides
    :meth:`loss_inverse_calibrator` to refuse it.
    A head that overrides ``_predict_by_feat_single`` itself, without
    calling mmdet's, calls :meth:`map_class_logits` on its
    ``cls_score_list`` first. Training, weights and checkpoints are the
    head's own; with the option unset, so are its predictions. The
    exported-model runtime reproduces RetinaNet-style heads only
    (:mod:`focal_det.deploy`).

    Attributes:
        score_class_names (list[str] or None): The model's classes in
            label order, once known (set by
            :func:`requested_score_calibrator`); a calibration file is
            checked against them.
    """
    score_class_names: Optional[List[str]] = None

    def score_calibrator(self, cfg=None) -> Optional[ScoreCalibrator]:
        """The calibrator ``cfg.score_calibration`` names, or None.

        Args:
            cfg (dict, optional): A test config; the head's own by
                default.

        Returns:
            ScoreCalibrator or None: Checked against the head's number of
            classes and, when known, :attr:`score_class_names`.

        Raises:
            FileNotFoundError: The file named does not exist.
            InvalidCalibrationError: The file is not a valid calibrator for
                this model, the loss has no inverse map, or the head's
                scores are not sigmoids.
        """
        value = score_calibration_option(self.test_cfg if cfg is None
                                         else cfg)
        if value is None:
            return None
        if not self.use_sigmoid_cls:
            raise InvalidCalibrationError(
                f'model.test_cfg.score_calibration={value!r} maps sigmoid '
                f'class scores; {type(self).__name__} uses softmax scores')
        if value != LOSS_INVERSE:
            return _calibrator_file(value, self.cls_out_channels,
                                    self.score_class_names)
        return self.loss_inverse_calibrator()

    def loss_inverse_calibrator(self) -> ScoreCalibrator:
        """The classification loss's own inverse map, with its current
        parameters (``score_calibration='loss'``).

        Returns:
            ScoreCalibrator: ``loss_cls.inverse_calibrator(C)``.

        Raises:
            InvalidCalibrationError: The loss has no inverse map, or not
                for its parameters.
        """
        if not hasattr(self.loss_cls, 'inverse_calibrator'):
            raise InvalidCalibrationError(
                f"model.test_cfg.score_calibration='{LOSS_INVERSE}' needs a "
                'loss with an inverse map (SigmoidFocalLoss, '
                'ClassBalancedFocalLoss, DualFocalLoss); the head has '
                f'{type(self.loss_cls).__name__}')
        try:
            return self.loss_cls.inverse_calibrator(self.cls_out_channels)
        except ValueError as error:
            raise InvalidCalibrationError(
                f"model.test_cfg.score_calibration='{LOSS_INVERSE}': the "
                f"loss's parameters have no inverse map ({error})") from None

    def map_class_logits(self, cls_score_list: List[Tensor],
                         cfg=None) -> List[Tensor]:
        """One image's per-level class logits, mapped by the calibrator
        (unchanged without one).

        Args:
            cls_score_list (list[Tensor]): Per level, (A * C, H, W),
                anchor-major.
            cfg (dict, optional): A test config; the head's own by default.

        Returns:
            list[Tensor]: Same shapes, dtypes and devices.
        """
        calibrator = self.score_calibrator(cfg)
        if calibrator is None:
            return cls_score_list
        return [_map_level_logits(level, calibrator)
                for level in cls_score_list]

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg=None,
                                rescale: bool = False,
                                with_nms: bool = True):
        """The next class's post-processing of one image, on mapped class
        logits.

        Args and Returns: as ``BaseDenseHead._predict_by_feat_single``.
        """
        return super()._predict_by_feat_single(
            self.map_class_logits(cls_score_list, cfg), bbox_pred_list,
            score_factor_list, mlvl_priors, img_meta, cfg, rescale, with_nms)


def requested_score_calibrator(
        head,
        class_names: Optional[Sequence[str]] = None
) -> Optional[ScoreCalibrator]:
    """The one check of ``test_cfg.score_calibration``, before a model
    predicts: the calibrator it names, loaded and checked now.

    Args:
        head: A built dense head (``model.bbox_head``); a model without
            one may be passed itself, its ``test_cfg`` is checked then.
        class_names (Sequence[str], optional): The model's classes in
            label order (the dataset's or the checkpoint's); a calibration
            file fitted for others is refused, now and whenever the head
            reads it again.

    Returns:
        ScoreCalibrator or None: None when the option is unset.

    Raises:
        InvalidCalibrationError: The head cannot apply the option (it would
            silently ignore it), or see
            :meth:`ScoreMappingMixin.score_calibrator`.
        FileNotFoundError: The file named does not exist.
    """
    value = score_calibration_option(getattr(head, 'test_cfg', None))
    if value is None:
        return None
    if not isinstance(head, ScoreMappingMixin):
        raise InvalidCalibrationError(
            f'model.test_cfg.score_calibration={value!r} would be ignored: '
            f'{type(head).__name__} cannot map its scores. Use a head with '
            'focal_det.heads.ScoreMappingMixin, e.g. '
            "bbox_head=dict(type='ScoreMappingRetinaHead', ...)")
    if class_names is not None:
        head.score_class_names = [str(name) for name in class_names]
    return head.score_calibrator()
