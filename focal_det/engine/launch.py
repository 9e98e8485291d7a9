"""What tools/train.py and tools/test.py share: config, data, devices, work dir."""
import difflib
import glob
import os
import os.path as osp
import time
import warnings
from typing import Iterator, Optional, Tuple

import torch
from mmengine.config import Config

from ..datasets import ensure_longtail_dataset
from ..datasets.validation import validate_dataset
from .runner import FocalDetRunner


def load_config(path: str, cfg_options: Optional[dict],
                launcher: str) -> Config:
    """Read a config, apply ``--cfg-options`` and ``--launcher``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        warn_about_unknown_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    return cfg


def warn_about_unknown_keys(cfg: Config, cfg_options: dict) -> None:
    """Warn about ``--cfg-options`` whose top-level key the config lacks.

    mmengine adds such a key silently, and nothing reads a misspelt one.
    """
    for key in cfg_options:
        top = key.split('.')[0]
        if top in cfg:
            continue
        close = difflib.get_close_matches(top, list(cfg.keys()), n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        warnings.warn(f'--cfg-options {key}: the config has no top-level key '
                      f'{top!r}{hint}; it is added, but nothing may read it')


def prepare_launcher(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work without CUDA (gloo, CPU DDP).

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` whatever the
    backend, and its DDP wrapper passes ``device_ids``; on a machine without
    CUDA the process group is started here with gloo (the runner then skips
    its own) and the model is wrapped by :class:`DeviceAgnosticDDP`.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ValueError(f'--launcher {cfg.launcher} needs CUDA; on CPU use '
                         '--launcher pytorch (tools/dist_train.sh)')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    cfg.model_wrapper_cfg = dict(type='DeviceAgnosticDDP')
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')


def build_runner(cfg: Config):
    """:class:`FocalDetRunner`, or the config's own ``runner_type``.

    mmengine's plain ``CheckpointHook`` is replaced by
    :class:`~focal_det.hooks.AtomicCheckpointHook` (same arguments), so
    every config run by our tools writes checkpoints whole.
    """
    from mmengine.registry import RUNNERS
    checkpoint_hook = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint_hook and checkpoint_hook.get('type') == 'CheckpointHook':
        checkpoint_hook['type'] = 'AtomicCheckpointHook'
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return FocalDetRunner.from_cfg(cfg)


def resolve_work_dir(cfg: Config, config_path: str,
                     work_dir: Optional[str]) -> str:
    """``--work-dir``, else the config's, else ``./work_dirs/<config name>``.

    Raises:
        NotADirectoryError: The work dir exists as a file.
    """
    work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(config_path))[0])
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        raise NotADirectoryError(f'work dir {work_dir} is a file, not a '
                                 'folder: choose another --work-dir')
    return work_dir


def refuse_to_overwrite_checkpoints(work_dir: str, resuming: bool) -> None:
    """Never write a new run over the checkpoints of another one."""
    existing = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    if existing and not resuming:
        raise FileExistsError(
            f'work dir {work_dir} already holds checkpoints '
            f'({", ".join(osp.basename(p) for p in existing[:3])}); pass '
            '--resume to continue that run, or choose another --work-dir')


def enable_amp(cfg: Config) -> None:
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a CUDA device (mmengine\'s '
                           'AmpOptimWrapper); on CPU train without --amp')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def enable_auto_scale_lr(cfg: Config) -> None:
    if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
        raise ValueError('--auto-scale-lr needs auto_scale_lr = dict('
                         'base_batch_size=...) in the config')
    cfg.auto_scale_lr.enable = True


def _dataset_cfgs(cfg: Config,
                  loader_keys: Tuple[str, ...]) -> Iterator[Tuple[str, dict]]:
    """(config key, innermost dataset config) of each dataloader."""
    for key in loader_keys:
        loader = cfg.get(key)
        if not loader:
            continue
        dataset = loader['dataset']
        # Dataset wrappers (ClassBalancedDataset, RepeatDataset) nest it.
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        parts = dataset.get('datasets')
        for part in parts if parts else [dataset]:
            yield key, part


def prepare_data(cfg: Config, loader_keys: Tuple[str, ...]) -> None:
    """Generate the embedded dataset if needed, then check every dataset
    (:func:`check_datasets`).

    Only local rank 0 generates; the other processes of a node wait for it.
    """
    embedded = cfg.get('embedded_dataset')
    if embedded:
        if int(os.environ.get('LOCAL_RANK', '0')) == 0:
            ensure_longtail_dataset(**embedded)
        else:
            _wait_for(osp.join(embedded['data_root'], 'annotations',
                               'train.json'))
    check_datasets(cfg, loader_keys)


def check_datasets(cfg: Config, loader_keys: Tuple[str, ...]) -> None:
    """Check the dataset of each of ``loader_keys``: its ann_file exists,
    and a json one passes
    :func:`~focal_det.datasets.validation.validate_dataset`.

    Raises:
        FileNotFoundError: A missing annotation file, named.
        InvalidDataError: See ``validate_dataset``.
    """
    for key, dataset in _dataset_cfgs(cfg, loader_keys):
        ann_file = dataset.get('ann_file')
        if not ann_file:
            continue
        data_root = dataset.get('data_root') or ''
        path = ann_file if osp.isabs(ann_file) else osp.join(
            data_root, ann_file)
        if not osp.isfile(path):
            where = (f'data_root {data_root} does not exist'
                     if data_root and not osp.isdir(data_root) else
                     f'{path} does not exist')
            raise FileNotFoundError(
                f'{key}: annotation file {path} not found ({where}). Put the '
                'dataset there or set data_root with --cfg-options')
        if path.endswith('.json'):
            image_dir = (dataset.get('data_prefix') or {}).get('img', '')
            validate_dataset(
                path, osp.join(data_root, image_dir),
                training=key == 'train_dataloader'
                and not dataset.get('test_mode', False),
                filter_cfg=dataset.get('filter_cfg'), warn=warnings.warn)


def _wait_for(path: str, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not osp.isfile(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f'waited {timeout_s:.0f} s for local rank 0 '
                               f'to generate {path}')
        time.sleep(1.0)
