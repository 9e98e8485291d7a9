"""Calibrators as small JSON files: write, read back, check every number.

File format (``format`` names it, ``version`` 1)::

    {"format": "focal_det.score_calibration", "version": 1,
     "method": "platt" | "isotonic" | "platt_isotonic" | "focal_entropy"
               | "isotonic_agnostic" | "dual_focal",
     "num_classes": C, "class_names": [C names, in the model's order],
     "params": {...the method's parameters...},
     "info": {...how it was fitted: data, detections, held-out D-ECE...}}

The export sidecar holds the same document (``score_calibration``).
Reading one checks it whole before anything is applied: every parameter
finite and in its range (each calibrator's constructor), the number of
classes, and the class names against the model's, so that a tampered or
foreign file is refused with its name and the entry instead of silently
dropping a class's detections.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from ..atomic_files import write_json
from ..errors import InvalidCalibrationError
from .agnostic_isotonic import AgnosticIsotonicCalibrator
from .base import ScoreCalibrator
from .isotonic import IsotonicCalibrator
from .loss_inverse import DualFocalCalibrator, FocalEntropyCalibrator
from .platt import PlattCalibrator
from .platt_isotonic import PlattIsotonicCalibrator

FILE_FORMAT = 'focal_det.score_calibration'
FILE_VERSION = 1
CALIBRATORS = {
    cls.method: cls
    for cls in (PlattCalibrator, IsotonicCalibrator, PlattIsotonicCalibrator,
                FocalEntropyCalibrator, AgnosticIsotonicCalibrator,
                DualFocalCalibrator)
}
#: Class names shown in an error, at most.
_NAMES_SHOWN = 8


def _names_list(names: Sequence[str]) -> str:
    """``['a', 'b', ... 1203 classes]``: a class list short enough for an
    error message."""
    shown = ', '.join(repr(name) for name in names[:_NAMES_SHOWN])
    more = f', ... {len(names)} classes' if len(names) > _NAMES_SHOWN \
        else ''
    return f'[{shown}{more}]'


def _checked_class_names(names, num_classes: int, source: str) -> List[str]:
    """``names`` as a list of ``num_classes`` strings.

    Raises:
        InvalidCalibrationError: Anything else.
    """
    if not isinstance(names, (list, tuple)) or len(names) != num_classes \
            or not all(isinstance(name, str) for name in names):
        raise InvalidCalibrationError(
            f'{source}: class_names must be a list of the {num_classes} '
            f'class names, got {names!r:.120}')
    return list(names)


def check_class_names(calibrator_names: Sequence[str],
                      model_names: Sequence[str], source: str) -> None:
    """Refuse a calibrator fitted for other classes, or for the same
    classes in another order (it is applied by position).

    Args:
        calibrator_names (Sequence[str]): The calibrator's ``class_names``.
        model_names (Sequence[str]): The model's classes, in label order.
        source (str): Where the calibrator came from, named in the error.

    Raises:
        InvalidCalibrationError: Naming the first difference and both lists.
    """
    calibrator_names = [str(name) for name in calibrator_names]
    model_names = [str(name) for name in model_names]
    if calibrator_names == model_names:
        return
    if len(calibrator_names) != len(model_names):
        difference = (f'it has {len(calibrator_names)} classes, the model '
                      f'{len(model_names)}')
    else:
        index = next(i for i, (ours, theirs) in enumerate(
            zip(calibrator_names, model_names)) if ours != theirs)
        order = ' (the same names in another order)' if sorted(
            calibrator_names) == sorted(model_names) else ''
        difference = (f'its class {index} is {calibrator_names[index]!r}, '
                      f"the model's is {model_names[index]!r}{order}")
    raise InvalidCalibrationError(
        f'{source} was fitted for other classes than the model\'s: '
        f'{difference}; calibrator classes {_names_list(calibrator_names)}, '
        f'model classes {_names_list(model_names)}')


def calibrator_to_dict(calibrator: ScoreCalibrator,
                       class_names: Sequence[str],
                       info: Optional[Dict[str, Any]] = None
                       ) -> Dict[str, Any]:
    """The JSON document of a calibrator (module docstring).

    Args:
        calibrator (ScoreCalibrator): Any calibrator.
        class_names (Sequence[str]): The classes it maps, in label order.
        info (dict, optional): How it was made.

    Raises:
        InvalidCalibrationError: ``class_names`` is not one name per class.
    """
    names = _checked_class_names(
        [str(name) for name in class_names] if isinstance(
            class_names, (list, tuple)) else class_names,
        calibrator.num_classes, f'{calibrator.method} calibrator')
    return dict(format=FILE_FORMAT, version=FILE_VERSION,
                method=calibrator.method, num_classes=calibrator.num_classes,
                class_names=names, params=calibrator.params(),
                info=info or {})


def calibrator_from_dict(document: Dict[str, Any], source: str = 'document',
                         num_classes: Optional[int] = None,
                         class_names: Optional[Sequence[str]] = None
                         ) -> ScoreCalibrator:
    """Rebuild a calibrator, checked whole; refuse one for other classes.

    Args:
        document (dict): As :func:`calibrator_to_dict` writes it.
        source (str): Where it came from, named in errors.
        num_classes (int, optional): The model's number of classes.
        class_names (Sequence[str], optional): The model's classes, in
            label order; the document's must be the same.

    Returns:
        ScoreCalibrator: The calibrator.

    Raises:
        InvalidCalibrationError: Not a calibration document, an unknown
            method or version, a parameter that is missing, not finite or
            out of its range (the entry is named), or other classes than
            the model's.
    """
    if not isinstance(document, dict) or document.get(
            'format') != FILE_FORMAT:
        raise InvalidCalibrationError(
            f'{source} is not a score calibration file (format '
            f'{FILE_FORMAT!r} expected)')
    if document.get('version') != FILE_VERSION:
        raise InvalidCalibrationError(
            f'{source}: calibration file version '
            f'{document.get("version")!r}, this focal_det reads version '
            f'{FILE_VERSION}')
    method = document.get('method')
    if method not in CALIBRATORS:
        raise InvalidCalibrationError(
            f'{source}: unknown calibration method {method!r}; known: '
            f'{sorted(CALIBRATORS)}')
    declared = document.get('num_classes')
    if isinstance(declared, bool) or not isinstance(declared, int) \
            or declared < 1:
        raise InvalidCalibrationError(
            f'{source}: num_classes must be an integer >= 1, got '
            f'{declared!r}')
    names = _checked_class_names(document.get('class_names'), declared,
                                 source)
    if not isinstance(document.get('params'), dict):
        raise InvalidCalibrationError(f'{source}: params must be a dict of '
                                      f'the {method} parameters')
    try:
        calibrator = CALIBRATORS[method].from_params(declared,
                                                     document['params'])
    except KeyError as error:
        raise InvalidCalibrationError(
            f'{source}: params has no {error} entry ({method} '
            'calibrator)') from None
    except (TypeError, ValueError) as error:
        raise InvalidCalibrationError(f'{source}: {error}') from None
    if calibrator.num_classes != declared:
        raise InvalidCalibrationError(
            f'{source}: params describe {calibrator.num_classes} classes, '
            f'num_classes says {declared}')
    if num_classes is not None and declared != num_classes:
        raise InvalidCalibrationError(
            f'{source} was fitted for {declared} classes, the model has '
            f'{num_classes}')
    if class_names is not None:
        check_class_names(names, class_names, source)
    return calibrator


def save_calibrator(calibrator: ScoreCalibrator, path: str,
                    class_names: Sequence[str],
                    info: Optional[Dict[str, Any]] = None,
                    overwrite: bool = False) -> str:
    """Write a calibrator as JSON; an existing file is kept unless
    ``overwrite``.

    Args:
        calibrator (ScoreCalibrator): Any calibrator.
        path (str): The JSON file to write.
        class_names (Sequence[str]): The classes it maps, in label order.
        info (dict, optional): How it was fitted.
        overwrite (bool): Replace an existing file.

    Returns:
        str: The path written.

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


def load_calibrator(path: str, num_classes: Optional[int] = None,
                    class_names: Optional[Sequence[str]] = None
                    ) -> ScoreCalibrator:
    """Read a calibrator written by :func:`save_calibrator`.

    Args:
        path (str): The JSON file.
        num_classes (int, optional): Refuse a file fitted for another
            number of classes.
        class_names (Sequence[str], optional): Refuse a file fitted for
            other classes or another class order.

    Returns:
        ScoreCalibrator: The calibrator, checked whole.

    Raises:
        FileNotFoundError: No such file.
        InvalidCalibrationError: Not JSON in UTF-8, or not a valid calibration
            file for the model (see :func:`calibrator_from_dict`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'score calibration file not found: {path}')
    source = f'score calibration file {path}'
    try:
        with open(path, encoding='utf-8') as file:
            document = json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidCalibrationError(
            f'{source} is not valid JSON (UTF-8): {error}') from None
    return calibrator_from_dict(document, source, num_classes, class_names)
