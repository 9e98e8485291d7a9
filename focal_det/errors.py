"""The errors a user's input causes, on the ground floor of the package.

The tools end on any of these with a one-line ``error: ...`` naming the
file or option (:func:`run_reporting_errors`); any other exception is a
bug and keeps its traceback. Every layer that raises one (checkpoints,
data, hooks, the runtime) imports it from here, so no layer has to import
the tools' layer or the other way round. Standard library only: the
exported-model runtime and ``tools/infer.py --model`` use it without torch.
"""
import sys
from typing import Callable


class UserInputError(Exception):
    """Base of the errors that name a bad file, option or setting."""


class UnreadableCheckpointError(UserInputError, ValueError):
    """A file that is empty, truncated, or not a checkpoint."""


class CheckpointMismatchError(UserInputError, ValueError):
    """A checkpoint whose weights do not fit the model of the config."""


class InvalidDataError(UserInputError, ValueError):
    """Annotations or images that cannot be trained or evaluated on."""


class InvalidCalibrationError(UserInputError, ValueError):
    """A score calibration file that cannot be applied to the model."""


class UnsupportedModelError(UserInputError, ValueError):
    """A model, test pipeline or option the exported runtime does not
    reproduce."""


class InvalidExportError(UserInputError, ValueError):
    """An exported model or sidecar that cannot be read."""


class NonFiniteTrainingError(UserInputError, FloatingPointError):
    """A loss term or a weight became NaN or infinite during training."""


class WorkDirBusyError(UserInputError, RuntimeError):
    """Another live training run holds the work dir."""


class ParityError(UserInputError, RuntimeError):
    """An exported model that does not reproduce PyTorch / mmdet."""


def run_reporting_errors(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; a user's error ends it with ``error: ...``.

    Bad input (files, data, checkpoints, calibration files, exports, a busy
    work dir, a diverged training) gives its one-line message and exit
    status 1 instead of a traceback; any other exception is a bug and keeps
    its traceback.

    Args:
        main: The tool's entry point, called without arguments.
    """
    try:
        main()
    except (FileNotFoundError, FileExistsError, NotADirectoryError,
            UserInputError) as error:
        sys.exit(f'error: {error}')
