"""Calibrators as small JSON files: write, read back, check the classes.

File format (``format`` names it, ``version`` 1)::

    {"format": "focal_det.score_calibration", "version": 1,
     "method": "platt" | "isotonic" | "platt_isotonic" | "focal_entropy"
               | "isotonic_agnostic",
     "num_classes": C, "class_names": [...] or null,
     "params": {...the method's parameters...},
     "info": {...how it was fitted: data, detections, held-out D-ECE...}}
"""
import json
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from ..atomic_files import write_json
from .agnostic_isotonic import AgnosticIsotonicCalibrator
from .base import ScoreCalibrator
from .focal_entropy_fit import FocalEntropyCalibrator
from .isotonic import IsotonicCalibrator
from .platt import PlattCalibrator
from .platt_isotonic import PlattIsotonicCalibrator

FILE_FORMAT = 'focal_det.score_calibration'
FILE_VERSION = 1
CALIBRATORS = {
    cls.method: cls
    for cls in (PlattCalibrator, IsotonicCalibrator, PlattIsotonicCalibrator,
                FocalEntropyCalibrator, AgnosticIsotonicCalibrator)
}


def calibrator_to_dict(calibrator: ScoreCalibrator,
                       class_names: Optional[Sequence[str]] = None,
                       info: Optional[Dict[str, Any]] = None
                       ) -> Dict[str, Any]:
    """The JSON document of a calibrator (module docstring)."""
    if class_names is not None and len(class_names) != \
            calibrator.num_classes:
        raise ValueError(f'{len(class_names)} class names for a calibrator '
                         f'of {calibrator.num_classes} classes')
    return dict(format=FILE_FORMAT, version=FILE_VERSION,
                method=calibrator.method, num_classes=calibrator.num_classes,
                class_names=None if class_names is None else
                [str(name) for name in class_names],
                params=calibrator.params(), info=info or {})


def calibrator_from_dict(document: Dict[str, Any], source: str = 'document',
                         num_classes: Optional[int] = None
                         ) -> ScoreCalibrator:
    """Rebuild a calibrator; refuse one fitted for other classes.

    Args:
        document (dict): As :func:`calibrator_to_dict` writes it.
        source (str): Where it came from, named in errors.
        num_classes (int, optional): The model's number of classes.

    Raises:
        ValueError: Not a calibration document, an unknown method or
            version, or ``num_classes`` differs.
    """
    if not isinstance(document, dict) or document.get(
            'format') != FILE_FORMAT:
        raise ValueError(f'{source} is not a score calibration file '
                         f"(format {FILE_FORMAT!r} expected)")
    if document.get('version') != FILE_VERSION:
        raise ValueError(f'{source}: calibration file version '
                         f'{document.get("version")!r}, this focal_det '
                         f'reads version {FILE_VERSION}')
    method = document.get('method')
    if method not in CALIBRATORS:
        raise ValueError(f'{source}: unknown calibration method {method!r}; '
                         f'known: {sorted(CALIBRATORS)}')
    if num_classes is not None and document['num_classes'] != num_classes:
        raise ValueError(
            f'{source} was fitted for {document["num_classes"]} classes, '
            f'the model has {num_classes}')
    try:
        return CALIBRATORS[method].from_params(document['num_classes'],
                                               document['params'])
    except (KeyError, TypeError) as error:
        raise ValueError(f'{source}: malformed {method} parameters '
                         f'({error!r})') from error


def save_calibrator(calibrator: ScoreCalibrator, path: str,
                    class_names: Optional[Sequence[str]] = None,
                    info: Optional[Dict[str, Any]] = None,
                    overwrite: bool = False) -> str:
    """Write a calibrator as JSON; an existing file is kept unless
    ``overwrite``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    document = calibrator_to_dict(calibrator, class_names, info)
    try:
        # Never half a file, and never one a user already has.
        return write_json(path, document, overwrite=overwrite, indent=1)
    except FileExistsError:
        raise FileExistsError(f'{path} exists; choose another --out or '
                              'pass --overwrite') from None


def load_calibrator(path: str,
                    num_classes: Optional[int] = None) -> ScoreCalibrator:
    """Read a calibrator written by :func:`save_calibrator`.

    Args:
        path (str): The JSON file.
        num_classes (int, optional): Refuse a file fitted for another
            number of classes.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not valid JSON or not a calibration file (see
            :func:`calibrator_from_dict`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'score calibration file not found: {path}')
    try:
        with open(path, encoding='utf-8') as file:
            document = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f'score calibration file {path} is not valid JSON: '
                         f'{error}') from error
    return calibrator_from_dict(document, path, num_classes)
