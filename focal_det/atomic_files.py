"""Files that are complete or absent, whatever kills the writer.

Every file focal_det writes for a user (checkpoints, ``last_checkpoint``,
calibration files, export sidecars, reports, generated datasets) is written
under a hidden temporary name in its final folder, flushed to disk, then
renamed onto its final name. A kill leaves at most a hidden temporary file,
never a truncated file under a name a tool would read. Standard library
only: the exported-model runtime and the numpy calibrators use it.

Temporary files are created with mode ``0o666`` minus the umask, like any
file a program opens for writing, so the result has the user's usual
permissions (``tempfile.mkstemp`` would make it private, 0600).
"""
import contextlib
import json
import os
import os.path as osp
from typing import IO, Any, Iterator

TEMPORARY_SUFFIX = '.tmp'


def temporary_name(filename: str) -> str:
    """The hidden name ``filename`` is written under before it is complete.

    Not ``*.pth`` or ``*.json``, so nothing mistakes it for a result;
    :func:`remove_unfinished_writes` finds it by its suffix.
    """
    return f'.{filename}{TEMPORARY_SUFFIX}'


def _fsync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(temporary_path: str, final_path: str,
            overwrite: bool = True) -> None:
    """Flush ``temporary_path`` to disk and rename it to ``final_path``.

    Args:
        temporary_path (str): The complete file, in ``final_path``'s folder.
        final_path (str): Its name once published.
        overwrite (bool): Replace an existing ``final_path``. With False the
            rename is a hard link, which fails atomically if ``final_path``
            appeared meanwhile; the temporary file is removed either way.

    Raises:
        FileExistsError: ``final_path`` exists and ``overwrite`` is False.
    """
    with open(temporary_path, 'rb') as file:
        os.fsync(file.fileno())
    if overwrite:
        os.replace(temporary_path, final_path)
    else:
        try:
            os.link(temporary_path, final_path)
        except FileExistsError:
            raise FileExistsError(
                f'{final_path} exists; it is not replaced') from None
        finally:
            os.remove(temporary_path)
    _fsync_directory(osp.dirname(osp.abspath(final_path)))


@contextlib.contextmanager
def atomic_write(path: str,
                 mode: str = 'w',
                 overwrite: bool = True,
                 encoding: str = 'utf-8') -> Iterator[IO[Any]]:
    """Open ``path`` for writing; it appears only once the block completes.

    Args:
        path (str): The final file; its folder is created if missing.
        mode (str): ``'w'`` (text) or ``'wb'``.
        overwrite (bool): Whether an existing ``path`` may be replaced
            (checked again at the rename, see :func:`publish`).
        encoding (str): Text encoding for ``'w'``.

    Yields:
        The open temporary file.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got "
                         f'{mode!r}')
    if not overwrite and osp.exists(path):
        raise FileExistsError(f'{path} exists; it is not replaced')
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # The pid keeps two processes writing the same file apart.
    temporary = osp.join(
        directory, temporary_name(f'{osp.basename(path)}.{os.getpid()}'))
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o666)
    try:
        with os.fdopen(descriptor, mode,
                       encoding=None if 'b' in mode else encoding) as file:
            yield file
        publish(temporary, path, overwrite)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)


def write_json(path: str, document: Any, overwrite: bool = True,
               **dump_options) -> str:
    """Write ``document`` as JSON (with a final newline) atomically.

    Args:
        path (str): The final file.
        document: JSON-serialisable.
        overwrite (bool): See :func:`atomic_write`.
        **dump_options: For :func:`json.dump` (``indent``, ``allow_nan``,
            ``separators``, ...).

    Returns:
        str: ``path``.
    """
    with atomic_write(path, overwrite=overwrite) as file:
        json.dump(document, file, **dump_options)
        file.write('\n')
    return path


def remove_unfinished_writes(directory: str) -> list:
    """Delete the temporary files that interrupted writes left in
    ``directory``; returns their paths."""
    if not osp.isdir(directory):
        return []
    leftovers = [
        osp.join(directory, name) for name in sorted(os.listdir(directory))
        if name.startswith('.') and name.endswith(TEMPORARY_SUFFIX)
    ]
    for path in leftovers:
        os.remove(path)
    return leftovers
