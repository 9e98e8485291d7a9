"""The PyTorch side of deployment.

A detector built from its config with a checkpoint that must match it
exactly, the graph that is exported (backbone + neck + head, no
post-processing), and mmdet's own predictions on an image prepared by the
runtime's preprocessing — the reference the exported model is checked
against.
"""
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from torch import nn

import focal_det  # noqa: F401  (registers our modules)
from ..engine.detector_loading import load_detector
from .config_metadata import runtime_metadata
from .postprocess import Detections
from .preprocess import PreparedImage, load_image, prepare_image


def build_detector(cfg: Config, checkpoint_path: Optional[str] = None
                   ) -> Tuple[nn.Module, Dict[str, Any]]:
    """The config's detector in eval mode, with the checkpoint's weights.

    Args:
        cfg: The detector's config.
        checkpoint_path: ``None`` keeps the random initialisation (tests).

    Returns:
        (model, checkpoint meta). With ``test_cfg.score_calibration`` the
        head (:class:`~focal_det.heads.ScoreMappingMixin`) calibrates its
        predictions, as in tools/test.py.
    """
    model, meta = load_detector(cfg, checkpoint_path)
    return model.eval(), meta


class HeadOutputsNet(nn.Module):
    """Backbone, neck and head of a single-stage detector: the graph that
    is exported.

    Args:
        detector: An mmdet ``SingleStageDetector`` (RetinaNet).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Run the network.

        Args:
            image: (N, 3, H, W) normalised, padded input.

        Returns:
            Class logits of every level, (N, A * C, H_l, W_l), then box
            deltas of every level, (N, A * 4, H_l, W_l): a flat tuple, which
            every exporter accepts.
        """
        cls_scores, bbox_preds = self.detector.bbox_head(
            self.detector.extract_feat(image))
        return tuple(cls_scores) + tuple(bbox_preds)


def mmdet_detections(detector: nn.Module,
                     prepared: PreparedImage) -> Detections:
    """mmdet's own ``predict`` on an image prepared by the runtime.

    Args:
        detector: The mmdet detector, in eval mode.
        prepared: The image as the network sees it.

    Returns:
        The detections of ``detector.predict(..., rescale=True)``.
    """
    input_shape = tuple(prepared.network_input.shape[2:])
    sample = DetDataSample(metainfo=dict(
        img_shape=prepared.image_shape,
        ori_shape=prepared.original_shape,
        scale_factor=prepared.scale_factor,
        batch_input_shape=input_shape,
        pad_shape=input_shape))
    with torch.no_grad():
        (result, ) = detector.predict(
            torch.from_numpy(prepared.network_input), [sample], rescale=True)
    instances = result.pred_instances
    return Detections(boxes=instances.bboxes.numpy().astype(np.float32),
                      scores=instances.scores.numpy().astype(np.float32),
                      labels=instances.labels.numpy().astype(np.int64))


class PytorchDetector:
    """A config and checkpoint, from image to detections with mmdet.

    Same interface as :class:`focal_det.deploy.runtime.ExportedDetector`;
    the image is prepared by the runtime's preprocessing, then
    ``model.predict`` does the rest.

    Args:
        cfg: The detector's config.
        checkpoint_path: Its checkpoint (must match; see
            :func:`~focal_det.engine.load_detector`).
        score_thr: Replaces the config's ``test_cfg.score_thr``.

    Attributes:
        model: The mmdet detector.
        metadata: What an export would write next to the model.
        class_names: Name of each class index.
    """

    def __init__(self, cfg: Config, checkpoint_path: str,
                 score_thr: Optional[float] = None) -> None:
        self.model, checkpoint_meta = build_detector(cfg, checkpoint_path)
        if score_thr is not None:
            self.model.bbox_head.test_cfg.score_thr = float(score_thr)
        # The shape only matters to fixed-size exports; none here.
        self.metadata = runtime_metadata(cfg, self.model, checkpoint_meta,
                                         'pytorch', (0, 0), dynamic=True)
        self.class_names = self.metadata['class_names']

    def __call__(self, image: Union[str, np.ndarray]) -> Detections:
        """Detect objects in one image (path or (H, W, 3) uint8 RGB)."""
        if isinstance(image, str):
            image = load_image(image)
        prepared = prepare_image(image, self.metadata['preprocess'])
        return mmdet_detections(self.model, prepared)
