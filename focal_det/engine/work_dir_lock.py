"""One training run per work dir at a time.

The lock is ``fcntl.flock`` on ``<work_dir>/.train.lock``: the operating
system releases it when the process ends, however it ends (``kill -9``
included), so a dead run never leaves a stale lock behind. The file itself
stays; it says which process last held the lock.
"""
import fcntl
import os
import os.path as osp
import socket
import time
from typing import IO, Dict

from ..errors import WorkDirBusyError

LOCK_FILE_NAME = '.train.lock'

# Work dir (real path) -> its open lock file, held until the process ends.
_held_locks: Dict[str, IO[str]] = {}


def lock_work_dir(work_dir: str) -> None:
    """Hold the work dir's lock for the rest of this process.

    Only the main process of a run (``RANK`` 0 or unset) takes it; the
    other processes of a distributed run share its work dir.

    Raises:
        WorkDirBusyError: Another live process holds it; the message names
            that process.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return
    os.makedirs(work_dir, exist_ok=True)
    key = osp.realpath(work_dir)
    if key in _held_locks:
        return
    handle = open(osp.join(work_dir, LOCK_FILE_NAME), 'a+')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        handle.close()
        raise WorkDirBusyError(
            f'work dir {work_dir} is in use by a training run that is still '
            f'alive ({holder}); wait for it to finish, or choose another '
            '--work-dir') from None
    handle.seek(0)
    handle.truncate()
    handle.write(f'pid {os.getpid()} on {socket.gethostname()}, since '
                 f'{time.strftime("%Y-%m-%d %H:%M:%S")}\n')
    handle.flush()
    _held_locks[key] = handle
