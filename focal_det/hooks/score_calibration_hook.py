"""Check and report score calibration before training and evaluation."""
from typing import List, Optional

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..engine.distributed import unwrap_model
from ..heads import LOSS_INVERSE, requested_score_calibrator


def _loop_classes(loop) -> Optional[List[str]]:
    """The classes of a loop's dataset, in label order (None if unknown)."""
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return None if classes is None else [str(name) for name in classes]


@HOOKS.register_module()
class ScoreCalibrationHook(Hook):
    """Check ``model.test_cfg.score_calibration`` before the model predicts
    and say which calibrator maps the scores.

    The check (:func:`~focal_det.heads.requested_score_calibrator`) refuses
    a head that cannot apply the option (it would silently ignore it), a
    calibration file that is missing, malformed, holds a number that is not
    finite or out of range, or was fitted for other classes than the
    evaluated dataset's (names and order). Before training it runs against
    the validation data, so a bad option stops the run before the first
    epoch rather than at the first validation.
    """

    def _check(self, runner, loop) -> None:
        model = unwrap_model(runner.model)
        head = getattr(model, 'bbox_head', model)
        calibrator = requested_score_calibrator(head, _loop_classes(loop))
        if calibrator is None:
            return
        value = head.test_cfg['score_calibration']
        if value == LOSS_INVERSE:
            what = (f"the loss's own inverse map ({calibrator.method}, "
                    f'gamma={calibrator.gamma:.4f})')
        else:
            what = f'{calibrator.method} calibrator {value}'
        runner.logger.info(f'score calibration on: {what}')

    def before_train(self, runner) -> None:
        if runner.val_loop is not None:
            self._check(runner, runner.val_loop)

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_loop)

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_loop)
