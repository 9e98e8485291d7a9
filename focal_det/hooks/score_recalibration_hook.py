"""Switch on score recalibration for evaluation when the config asks for it."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ..analysis.recalibration import install_score_recalibration


@HOOKS.register_module()
class ScoreRecalibrationHook(Hook):
    """Apply ``model.test_cfg.recalibrate_scores`` before val and test.

    Does nothing unless the test config sets ``recalibrate_scores=True``;
    then the head's class scores are mapped through the inverse of the
    focal-entropy minimiser of its loss before thresholding, top-k and NMS
    (see :mod:`focal_det.analysis.recalibration`).
    """

    def _install(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if install_score_recalibration(model):
            params = model.bbox_head._focal_det_recalibration
            runner.logger.info(
                f"score recalibration on: {params['kind']} inverse map, "
                f"gamma={params['gamma']:.4f}")

    def before_val(self, runner) -> None:
        self._install(runner)

    def before_test(self, runner) -> None:
        self._install(runner)
