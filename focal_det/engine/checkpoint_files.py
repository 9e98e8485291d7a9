"""The checkpoint files of a work dir: written whole, found again on resume.

A checkpoint is written to a temporary name and renamed, so a file named
``*.pth`` is complete or absent; ``last_checkpoint`` is replaced the same
way. It holds the absolute path, as mmengine writes it (tools that read it
keep working); on resume it is resolved against the work dir, so a copied
work dir resumes from its own files. The newest checkpoint that reads back
whole is used; any other is reported by name.
"""
import glob
import os.path as osp
import zipfile
from typing import Callable, Optional

from ..atomic_files import atomic_write

LAST_CHECKPOINT_RECORD = 'last_checkpoint'


def write_last_checkpoint(work_dir: str, checkpoint_path: str) -> None:
    """Record ``checkpoint_path`` (made absolute) atomically."""
    with atomic_write(osp.join(work_dir, LAST_CHECKPOINT_RECORD)) as f:
        f.write(osp.abspath(checkpoint_path))


def unreadable_reason(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or ``None`` when it is.

    torch writes checkpoints as zip archives with a checksum per member:
    every member is read and checked, nothing is unpickled.
    """
    if not osp.isfile(path):
        return 'the file does not exist'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f'it is truncated or not a checkpoint ({error})'
    if corrupt is not None:
        return f'its member {corrupt} is corrupt'
    return None


def recorded_checkpoint(work_dir: str,
                        warn: Callable[[str], None]) -> Optional[str]:
    """The file ``last_checkpoint`` names, resolved against ``work_dir``.

    A relative path is taken within ``work_dir``. An absolute path outside
    it (the work dir was copied or moved) is replaced by the file of the
    same name in ``work_dir``: a copy never resumes from the original.
    """
    record = osp.join(work_dir, LAST_CHECKPOINT_RECORD)
    if not osp.isfile(record):
        return None
    with open(record) as f:
        recorded = f.read().strip()
    if not recorded:
        return None
    path = osp.join(work_dir, recorded)
    inside = osp.commonpath([osp.realpath(path), osp.realpath(work_dir)
                             ]) == osp.realpath(work_dir)
    if not inside:
        path = osp.join(work_dir, osp.basename(recorded))
        warn(f'{record} names {recorded}, outside this work dir (was it '
             f'copied?); using {path} instead')
    return path


def latest_complete_checkpoint(work_dir: str,
                               warn: Callable[[str], None]) -> Optional[str]:
    """The checkpoint to resume from, or ``None`` when none is complete.

    The one ``last_checkpoint`` names comes first, then the other
    ``*.pth`` files (not ``best_*``), newest first. Each that cannot be used
    is reported through ``warn`` by name, with the reason.
    """
    candidates = [recorded_checkpoint(work_dir, warn)]
    others = [
        path for path in glob.glob(osp.join(work_dir, '*.pth'))
        if not osp.basename(path).startswith('best_')
    ]
    candidates += sorted(others, key=osp.getmtime, reverse=True)
    seen = set()
    for path in candidates:
        if path is None or osp.realpath(path) in seen:
            continue
        seen.add(osp.realpath(path))
        reason = unreadable_reason(path)
        if reason is None:
            return path
        warn(f'cannot resume from checkpoint {path}: {reason}; trying the '
             'previous one')
    return None
