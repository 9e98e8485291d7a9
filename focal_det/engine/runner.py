"""mmengine's Runner, loading checkpoints safely.

focal_det's tools build this runner (unless a config names its own
``runner_type``); configs can name it too: ``runner_type =
'FocalDetRunner'``. It differs from mmengine's in how it reads
checkpoints, and nowhere else:

- local checkpoints are read with :func:`focal_det.checkpoint.read_checkpoint`
  (torch >= 2.6 refuses mmengine's checkpoints by default); a garbage, empty
  or truncated file is named in the error;
- resuming and testing refuse a checkpoint that does not fit the model,
  naming the first offending key and both shapes (mmengine only warns and
  keeps random weights). ``load_from`` for training stays lenient, as in
  mmengine, for fine-tuning from another head;
- ``--resume`` without a file takes the newest checkpoint of the work dir
  that reads back whole, says which ones it skipped and why, and says
  plainly when there is none and training starts from scratch.
"""
from mmdet.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)

from ..checkpoint import checkpoint_state_dict, read_checkpoint
from .checkpoint_files import latest_complete_checkpoint
from .detector_loading import check_state_dict_matches
from .distributed import unwrap_model


@RUNNERS.register_module()
class FocalDetRunner(Runner):
    """See the module's description; construct it as mmengine's Runner."""

    #: Loading must fit the model exactly (resume, test, val).
    _strict_loading = False

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """mmengine's ``load_checkpoint``; see the module's description."""
        if '://' in filename:
            checkpoint = _load_checkpoint(filename, map_location=map_location)
        else:
            checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = unwrap_model(self.model)
        if strict or self._strict_loading:
            check_state_dict_matches(
                model, checkpoint_state_dict(checkpoint, filename), filename)
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """Resume from the newest complete checkpoint, or load load_from."""
        if self._has_loaded:
            return
        if self._resume:
            self._strict_loading = True
            resume_from = self._load_from or latest_complete_checkpoint(
                self.work_dir, self.logger.warning)
            if resume_from is None:
                self.logger.warning(
                    f'--resume: no complete checkpoint in {self.work_dir}; '
                    'training starts from scratch')
                return
            self.logger.info(f'Resuming from {resume_from}')
            self.resume(resume_from)
        elif self._load_from is not None:
            self.load_checkpoint(self._load_from)

    def val(self) -> dict:
        self._strict_loading = True
        return super().val()

    def test(self) -> dict:
        self._strict_loading = True
        return super().test()
