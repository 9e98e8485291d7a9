"""ATSS head with an IoU branch: the dense head of the "improved baseline"
on which Equalized Focal Loss reports its LVIS v1 results (Li et al., CVPR
2022; ModelTC/United-Perception, ``RetinaHeadWithIOU`` with the
``retina_post_iou`` post-process and the ``atss`` supervisor).

Per level, two towers of four 3x3 conv + GroupNorm + ReLU; the class tower
ends in a 3x3 conv with A x C sigmoid logits, the box tower in a 3x3 conv
with A x 4 deltas and in a 3x3 conv with A logits that predict the IoU of
the regressed box with its ground truth. There is no per-level learnable
scale (mmdet's ``ATSSHead`` has one; the reference has none).

Training (one image batch, all levels together, as the reference's loss
sees them):

- ATSS assigns anchors to ground truth (mmdet's ``ATSSAssigner``);
- the classification loss is called **once** on the logits of all levels
  concatenated, normalised by the number of positives (mean over
  processes, at least one in total). A loss with state, such as Equalized
  Focal Loss, therefore updates its gradient statistics once per iteration
  from every level, with the same per-class focusing for all levels;
- for each positive anchor the IoU target is the IoU of its decoded
  predicted box (no gradient) with its ground-truth box; the IoU branch
  gets sigmoid cross-entropy against it, normalised like the
  classification loss;
- the box loss (GIoU in the configs) is weighted by the IoU target and
  normalised by the sum of the IoU targets (mean over processes, at least
  one in total).

Prediction: the score of class c at an anchor is
``sigmoid(cls_logit_c) * sigmoid(iou_logit)``, used for the score
threshold, the per-level top-k, NMS and the output, as in the reference.
:meth:`IoUBranchATSSHead.predict_by_feat` turns each level's class logits
into the log-odds of that product (:func:`detection_logits`) and hands
them to mmdet's post-processing, whose sigmoid gives the product back.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import ATSSHead
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import (ConfigType, InstanceList, MultiConfig,
                         OptInstanceList, reduce_mean)
from mmengine.config import ConfigDict
from mmengine.dist import get_world_size
from torch import Tensor, nn

from ..errors import InvalidCalibrationError
from .score_mapping import ScoreMappingMixin


def detection_logits(cls_score: Tensor, iou_pred: Tensor,
                     num_anchors: int) -> Tensor:
    """Log-odds of ``sigmoid(cls_score) * sigmoid(iou_pred)``.

    With ``p = sigmoid(a) sigmoid(b)``, ``(1 - p) / p = e^-a + e^-b +
    e^-(a+b)``, so the log-odds are ``-logsumexp(-a, -b, -a-b)``: finite
    for any finite logits, with no cancellation when ``p`` is near 1.

    Args:
        cls_score (Tensor): Class logits (N, A * C, H, W), anchor-major
            (mmdet's layout).
        iou_pred (Tensor): IoU logits (N, A, H, W).
        num_anchors (int): A.

    Returns:
        Tensor: (N, A * C, H, W), float32 at least.
    """
    n, channels, h, w = cls_score.shape
    dtype = torch.promote_types(cls_score.dtype, torch.float32)
    a = cls_score.to(dtype).reshape(n, num_anchors, -1, h, w)
    b = iou_pred.to(dtype).reshape(n, num_anchors, 1, h, w)
    neg_log_odds = torch.logaddexp(torch.logaddexp(-a, -b), -(a + b))
    return (-neg_log_odds).reshape(n, channels, h, w)


def levels_to_rows(level_maps: Sequence[Tensor], width: int) -> Tensor:
    """Per-level maps as one row per anchor of every level.

    Rows run over images, then levels, then locations, then anchors: the
    order of mmdet's anchors and of ``images_to_levels`` targets
    concatenated along the level axis.

    Args:
        level_maps (Sequence[Tensor]): Per level (N, A * width, H, W),
            anchor-major channels.
        width (int): Values per anchor (C logits, 4 deltas, 1 IoU logit).

    Returns:
        Tensor: (N * K, width), K the anchors of an image over all levels.
    """
    num_images = level_maps[0].shape[0]
    return torch.cat([
        level.permute(0, 2, 3, 1).reshape(num_images, -1, width)
        for level in level_maps
    ], dim=1).reshape(-1, width)


def share_per_process(local_total: Tensor) -> float:
    """The reference's normaliser: ``max(sum over processes, 1) / world``.

    Args:
        local_total (Tensor): This process's total (0-dim).

    Returns:
        float: Equal on every process.
    """
    mean = reduce_mean(local_total.detach().float()).item()
    return max(mean, 1.0 / get_world_size())


@MODELS.register_module()
class IoUBranchATSSHead(ScoreMappingMixin, ATSSHead):
    """ATSS head whose quality branch predicts the IoU of the regressed box.

    ``model.test_cfg.score_calibration=FILE`` maps the combined score
    (:class:`~focal_det.heads.ScoreMappingMixin` receives the log-odds of
    ``class score * IoU``, the score ``tools/calibrate.py`` fits on);
    ``'loss'`` is refused: the loss's inverse map speaks of the class score
    alone.

    Args:
        num_classes (int): Object classes (no background).
        in_channels (int): Channels of the input feature maps.
        stacked_convs (int): Conv + norm + ReLU blocks per tower.
        norm_cfg (dict): Norm of the tower convs (GroupNorm, 32 groups).
        loss_iou (dict): Loss of the IoU branch against the IoU targets
            (sigmoid cross-entropy, weight 1).
        init_cfg (dict): Normal(0, 0.01) for every conv, the class conv's
            bias at prior 0.001.
        **kwargs: Those of ``ATSSHead`` / ``AnchorHead`` (``anchor_generator``,
            ``bbox_coder``, ``loss_cls``, ``loss_bbox``, ``train_cfg``,
            ``test_cfg``, ...). ``reg_decoded_bbox`` must stay True: the box
            loss and the IoU targets compare decoded boxes.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 stacked_convs: int = 4,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 loss_iou: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=1.0),
                 init_cfg: MultiConfig = dict(
                     type='Normal',
                     layer='Conv2d',
                     std=0.01,
                     override=dict(
                         type='Normal',
                         name='atss_cls',
                         std=0.01,
                         bias_prob=0.001)),
                 **kwargs) -> None:
        if not kwargs.get('reg_decoded_bbox', True):
            raise ValueError(
                'IoUBranchATSSHead: reg_decoded_bbox must be True (the IoU '
                'targets and the box loss compare decoded boxes)')
        # ATSSHead builds the quality branch's loss under its centerness
        # name; here it is the IoU branch's.
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            stacked_convs=stacked_convs,
            norm_cfg=norm_cfg,
            loss_centerness=loss_iou,
            init_cfg=init_cfg,
            **kwargs)
        self.loss_iou = self.loss_centerness
        del self.loss_centerness

    def _init_layers(self) -> None:
        """The towers and the three 3x3 prediction convs (no scales)."""
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            channels = self.in_channels if i == 0 else self.feat_channels
            for tower in (self.cls_convs, self.reg_convs):
                tower.append(
                    ConvModule(
                        channels,
                        self.feat_channels,
                        3,
                        padding=1,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=self.norm_cfg))
        anchors = self.num_base_priors
        self.atss_cls = nn.Conv2d(
            self.feat_channels, anchors * self.cls_out_channels, 3, padding=1)
        self.atss_reg = nn.Conv2d(self.feat_channels, anchors * 4, 3,
                                  padding=1)
        self.atss_iou = nn.Conv2d(self.feat_channels, anchors, 3, padding=1)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List[Tensor]]:
        """Predictions for every level.

        Args:
            x (tuple[Tensor]): FPN levels, each (N, in_channels, H, W).

        Returns:
            tuple[list[Tensor]]: ``cls_scores`` (N, A * C, H, W),
            ``bbox_preds`` (N, A * 4, H, W) and ``iou_preds`` (N, A, H, W)
            per level; channels anchor-major.
        """
        return multi_apply(self.forward_single, x)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Class logits, box deltas and IoU logits of one level."""
        cls_feat = x
        reg_feat = x
        for cls_conv, reg_conv in zip(self.cls_convs, self.reg_convs):
            cls_feat = cls_conv(cls_feat)
            reg_feat = reg_conv(reg_feat)
        # Deltas in fp32 under --amp, as in ATSSHead: decoding exponentiates.
        return (self.atss_cls(cls_feat), self.atss_reg(reg_feat).float(),
                self.atss_iou(reg_feat))

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            iou_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Classification, box and IoU-branch losses of a batch.

        Args:
            cls_scores (list[Tensor]): Per level (N, A * C, H, W).
            bbox_preds (list[Tensor]): Per level (N, A * 4, H, W).
            iou_preds (list[Tensor]): Per level (N, A, H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes`` (G, 4) and
                ``labels`` (G,) per image.
            batch_img_metas (list[dict]): Image meta information.
            batch_gt_instances_ignore (list[InstanceData], optional):
                Ignored boxes per image.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou``.
        """
        featmap_sizes = [level.shape[-2:] for level in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device)
        (anchor_list, labels_list, label_weights_list, bbox_targets_list,
         _, _) = self.get_targets(
             anchor_list,
             valid_flag_list,
             batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore=batch_gt_instances_ignore)

        cls_score = levels_to_rows(cls_scores, self.cls_out_channels)
        bbox_pred = levels_to_rows(bbox_preds, 4)
        iou_pred = levels_to_rows(iou_preds, 1).reshape(-1)
        anchors = torch.cat(anchor_list, dim=1).reshape(-1, 4)
        labels = torch.cat(labels_list, dim=1).reshape(-1)
        label_weights = torch.cat(label_weights_list, dim=1).reshape(-1)
        gt_boxes = torch.cat(bbox_targets_list, dim=1).reshape(-1, 4)

        positive = ((labels >= 0) & (labels < self.num_classes)).nonzero(
            as_tuple=True)[0]
        # The positives of the batch (get_targets' factor counts an image
        # without positives as one).
        avg_factor = share_per_process(
            torch.tensor(float(len(positive)), device=device))
        loss_cls = self.loss_cls(
            cls_score, labels, label_weights, avg_factor=avg_factor)
        pos_boxes = self.bbox_coder.decode(anchors[positive],
                                           bbox_pred[positive])
        pos_gt_boxes = gt_boxes[positive]
        iou_targets = bbox_overlaps(
            pos_boxes.detach(), pos_gt_boxes, is_aligned=True)
        # Collective on every process, with or without positives here.
        box_avg_factor = share_per_process(iou_targets.sum())
        if len(positive) > 0:
            loss_bbox = self.loss_bbox(
                pos_boxes,
                pos_gt_boxes,
                weight=iou_targets,
                avg_factor=box_avg_factor)
            loss_iou = self.loss_iou(
                iou_pred[positive], iou_targets, avg_factor=avg_factor)
        else:
            loss_bbox = bbox_pred.sum() * 0
            loss_iou = iou_pred.sum() * 0
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_iou=loss_iou)

    def loss_inverse_calibrator(self):
        """Refused: the mapped logits are those of ``class score * IoU``
        (:meth:`predict_by_feat`), which the classification loss's inverse
        map does not describe.

        Raises:
            InvalidCalibrationError: Always.
        """
        raise InvalidCalibrationError(
            "model.test_cfg.score_calibration='loss': IoUBranchATSSHead "
            'scores detections by class score * IoU, which the loss\'s '
            'inverse map does not describe; fit a calibrator with '
            'tools/calibrate.py instead')

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        iou_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Detections scored ``sigmoid(class) * sigmoid(IoU)``.

        Each level's class logits are replaced by the log-odds of the
        combined score (:func:`detection_logits`), so mmdet's
        ``_predict_by_feat_single`` applies the score threshold, the
        per-level ``nms_pre`` top-k and NMS to the combined score, as the
        reference does, and outputs it. A subclass that maps scores in
        ``_predict_by_feat_single`` (e.g. a fitted calibrator) receives
        these combined log-odds, (A * C, H, W) per level, anchor-major.

        Args:
            cls_scores (list[Tensor]): Per level (N, A * C, H, W).
            bbox_preds (list[Tensor]): Per level (N, A * 4, H, W).
            iou_preds (list[Tensor]): Per level (N, A, H, W).
            batch_img_metas (list[dict], optional): Image meta information.
            cfg (ConfigDict, optional): Test config; ``test_cfg`` if None.
            rescale (bool): Boxes in the original image's scale.
            with_nms (bool): Apply NMS.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (n, 4), ``scores``
            (n,), ``labels`` (n,).
        """
        combined = [
            detection_logits(cls_score, iou_pred, self.num_base_priors)
            for cls_score, iou_pred in zip(cls_scores, iou_preds)
        ]
        return super().predict_by_feat(
            combined,
            bbox_preds,
            score_factors=None,
            batch_img_metas=batch_img_metas,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms)
