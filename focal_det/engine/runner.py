"""mmengine's Runner, loading and saving checkpoints safely.

focal_det's tools build this runner (unless a config names its own
``runner_type``); configs can name it too: ``runner_type =
'FocalDetRunner'``. It differs from mmengine's in how it reads and writes
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
  plainly when there is none and training starts from scratch;
- every checkpoint it writes to a local folder (periodic, best, or any
  hook's) is written to a hidden temporary name and renamed when complete
  (:mod:`focal_det.atomic_files`): a kill never leaves a truncated ``.pth``.

It uses mmengine's public API only (mmengine 0.10.7).
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional

from mmdet.registry import RUNNERS
from mmengine.dist import is_main_process
from mmengine.runner import CheckpointLoader, Runner, load_state_dict

from ..atomic_files import publish, temporary_name
from ..checkpoint import checkpoint_state_dict, read_checkpoint
from .checkpoint_files import latest_complete_checkpoint
from .detector_loading import check_state_dict_matches
from .distributed import unwrap_model


def revise_keys_of(state_dict: dict, revise_keys: list) -> OrderedDict:
    """``state_dict`` with each ``(pattern, replacement)`` of
    ``revise_keys`` applied to every key in turn (``re.sub``); its
    ``_metadata`` (module versions, which ``load_state_dict`` reads) is
    kept."""
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    revised._metadata = getattr(state_dict, '_metadata', OrderedDict())
    return revised


@RUNNERS.register_module()
class FocalDetRunner(Runner):
    """See the module's description; construct it as mmengine's Runner
    (``model`` may be positional, every other argument by keyword, as
    ``Runner.from_cfg`` passes them)."""

    def __init__(self, *args, load_from: Optional[str] = None,
                 resume: bool = False, **kwargs) -> None:
        super().__init__(*args, load_from=load_from, resume=resume, **kwargs)
        # mmengine keeps these two in private attributes only.
        self.requested_load_from, self.requested_resume = load_from, resume
        self.checkpoint_loaded = False
        #: Loading must fit the model exactly (resume, test, val).
        self.strict_loading = False

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """mmengine's ``load_checkpoint``; see the module's description."""
        if '://' in filename:
            checkpoint = CheckpointLoader.load_checkpoint(
                filename, map_location=map_location)
        else:
            checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = unwrap_model(self.model)
        if strict or self.strict_loading:
            check_state_dict_matches(
                model, checkpoint_state_dict(checkpoint, filename), filename)
        state_dict = checkpoint.get('state_dict', checkpoint)
        load_state_dict(model, revise_keys_of(state_dict, revise_keys),
                        strict, logger=self.logger)
        self.checkpoint_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """Resume from the newest complete checkpoint, or load load_from."""
        if self.checkpoint_loaded:
            return
        if self.requested_resume:
            self.strict_loading = True
            resume_from = self.requested_load_from or \
                latest_complete_checkpoint(self.work_dir,
                                           self.logger.warning)
            if resume_from is None:
                self.logger.warning(
                    f'--resume: no complete checkpoint in {self.work_dir}; '
                    'training starts from scratch')
                return
            self.logger.info(f'Resuming from {resume_from}')
            self.resume(resume_from)
        elif self.requested_load_from is not None:
            self.load_checkpoint(self.requested_load_from)

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """mmengine's ``save_checkpoint``; to a local ``out_dir`` (no
        storage backend arguments) the file appears only once complete."""
        local = '://' not in str(out_dir) and not (file_client_args or
                                                   backend_args)
        folder, name = osp.split(filename)
        written = osp.join(folder, temporary_name(name)) if local else filename
        super().save_checkpoint(
            out_dir, written, file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=backend_args)
        if local and is_main_process():  # mmengine writes on rank 0 only
            publish(osp.join(out_dir, written), osp.join(out_dir, filename))

    def val(self) -> dict:
        self.strict_loading = True
        return super().val()

    def test(self) -> dict:
        self.strict_loading = True
        return super().test()
