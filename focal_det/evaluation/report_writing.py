"""What the long-tail and calibration reports share: where they are written,
how their values become strict JSON, and how a number that may be missing is
printed in their tables.
"""
import math
import numbers
import os.path as osp
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from ..atomic_files import write_json


def resolve_report_dir(save_dir: Optional[str]) -> Optional[str]:
    """Pick the directory a metric writes its report files to.

    Args:
        save_dir (str, optional): Explicit directory; wins when given.

    Returns:
        str or None: ``save_dir``, else the directory of the current mmengine
        logger's log file (mmengine's Runner puts it in
        ``<work_dir>/<timestamp>/``), else None when that logger writes no
        file (e.g. the metric is used outside a Runner).
    """
    if save_dir is not None:
        return save_dir
    log_file = MMLogger.get_current_instance().log_file
    return osp.dirname(osp.abspath(log_file)) if log_file else None


def report_dir_or_warn(save_dir: Optional[str], owner: str,
                       file_names: Sequence[str]) -> Optional[str]:
    """:func:`resolve_report_dir`, logging a warning when there is none.

    Args:
        save_dir (str, optional): The metric's ``save_dir`` argument.
        owner (str): Class name of the metric, for the message.
        file_names (Sequence[str]): The files that will not be written, for
            the message.

    Returns:
        str or None: The directory, or None after warning that ``file_names``
        are not written.
    """
    directory = resolve_report_dir(save_dir)
    if directory is None:
        them = 'it' if len(file_names) == 1 else 'them'
        MMLogger.get_current_instance().warning(
            f'{owner}: {" and ".join(file_names)} not written: save_dir is '
            f'None and the current logger has no log file to put {them} '
            f'beside. Pass save_dir= to write {them}.')
    return directory


def json_safe(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python ones, recursively.

    Strict JSON has no NaN (``json.dump`` would write a ``NaN`` token that
    strict parsers reject); None (null) reads as "no value" everywhere.

    Args:
        value: A JSON-like structure of dicts, lists, tuples and scalars.

    Returns:
        The same structure with string keys, lists for tuples, Python
        scalars for numpy ones and None for NaN.
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_json_report(report: dict, directory: str, file_name: str) -> str:
    """Write ``report`` as strict, indented JSON to ``directory/file_name``.

    Args:
        report (dict): The report; made JSON-safe with :func:`json_safe`.
        directory (str): Created if missing.
        file_name (str): Name of the file.

    Returns:
        str: Path of the file written.
    """
    return write_json(osp.join(directory, file_name), json_safe(report),
                      indent=2, allow_nan=False)


def is_missing(value: Any) -> bool:
    """True for None and NaN: a number that was not measured or undefined.

    Args:
        value: A number or None.

    Returns:
        bool: Whether ``value`` is None or a NaN float.
    """
    return value is None or (isinstance(value, (float, np.floating))
                             and math.isnan(value))


def format_number(value: Any, decimals: int = 3, missing: str = '-') -> str:
    """Print a measurement for a table: fixed decimals, counts as integers.

    Args:
        value: A float, an integer count, None or NaN.
        decimals (int): Digits after the point for non-integers.
            Defaults to 3.
        missing (str): Text for None / NaN. Defaults to '-'.

    Returns:
        str: ``missing``, ``str(count)`` or ``value`` with ``decimals``
        digits.
    """
    if is_missing(value):
        return missing
    if isinstance(value, numbers.Integral):
        return str(value)
    return f'{value:.{decimals}f}'


def format_percent(value: Any, missing: str = 'n/a') -> str:
    """Print a fraction as a percentage with one decimal (0.392 -> '39.2').

    Args:
        value: A fraction, None or NaN.
        missing (str): Text for None / NaN. Defaults to 'n/a'.

    Returns:
        str: ``missing`` or ``100 * value`` with one decimal.
    """
    if is_missing(value):
        return missing
    return format_number(100.0 * float(value), decimals=1)
