"""Check and report score recalibration before evaluation."""
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..engine.distributed import unwrap_model
from ..heads import recalibration_requested


@HOOKS.register_module()
class ScoreRecalibrationHook(Hook):
    """Say before val and test whether scores are recalibrated, and how.

    ``model.test_cfg.recalibrate_scores=True`` is carried out by
    :class:`~focal_det.heads.RecalibratingRetinaHead`. A head that cannot
    do it would silently ignore the option, so evaluation is refused then;
    otherwise the inverse map in use is logged.
    """

    def _report(self, runner) -> None:
        model = unwrap_model(runner.model)
        head = getattr(model, 'bbox_head', None)
        if head is None or not recalibration_requested(head):
            return
        params = head.score_recalibration_params()
        runner.logger.info(f"score recalibration on: {params['kind']} "
                           f"inverse map, gamma={params['gamma']:.4f}")

    def before_val(self, runner) -> None:
        self._report(runner)

    def before_test(self, runner) -> None:
        self._report(runner)
