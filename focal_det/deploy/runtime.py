"""Run an exported RetinaNet without MMDetection.

Needs numpy and, for ``.onnx`` files, onnxruntime; for TorchScript files,
torch (but neither mmdet, mmcv nor mmengine). Images are read with OpenCV
when installed, else Pillow (see :mod:`focal_det.deploy.preprocess`).

Example::

    from focal_det.deploy.runtime import ExportedDetector
    detector = ExportedDetector('retinanet.onnx')  # + retinanet.onnx.json
    detections = detector('data/longtail_synth/val/000000.png')
    print(detections.to_json(detector.class_names))
"""
import importlib
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidExportError
from .metadata import read_metadata, sidecar_path
from .postprocess import Detections, LogitTransform, postprocess
from .preprocess import PreparedImage, load_image, prepare_image


def _backend_module(name: str, model_path: str):
    """Import the package that runs ``model_path``; without it, an error
    that says what to install."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise InvalidExportError(
            f'running {model_path} needs the {name} package, which cannot '
            f'be imported here ({error}): pip install {name}') from error


class OnnxRuntimeBackend:
    """An ONNX file run by onnxruntime on the CPU.

    Args:
        model_path: The ``.onnx`` file.
        input_name: Name of its image input.
        output_names: Names of the outputs to return, in this order.
        num_threads: Intra-op threads; ``None`` lets onnxruntime choose.
    """

    def __init__(self, model_path: str, input_name: str,
                 output_names: Sequence[str],
                 num_threads: Optional[int] = None) -> None:
        onnxruntime = _backend_module('onnxruntime', model_path)
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            self._session = onnxruntime.InferenceSession(
                model_path, sess_options=options,
                providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime's own exception types
            raise InvalidExportError(
                f'cannot load ONNX model {model_path}: it is truncated or '
                f'not an ONNX file ({error})') from error
        self._input_name = input_name
        self._output_names = list(output_names)

    def __call__(self, network_input: np.ndarray) -> List[np.ndarray]:
        """Run the network.

        Args:
            network_input: (1, 3, H, W) float32.

        Returns:
            The outputs named at construction, in that order.
        """
        return self._session.run(self._output_names,
                                 {self._input_name: network_input})


class TorchScriptBackend:
    """A TorchScript file (``torch.jit.trace``) run by torch on the CPU.

    Args:
        model_path: The ``.pt`` file.
        num_threads: torch's intra-op threads; ``None`` leaves them as set.
    """

    def __init__(self, model_path: str,
                 num_threads: Optional[int] = None) -> None:
        torch = _backend_module('torch', model_path)
        self._torch = torch
        if num_threads:
            torch.set_num_threads(num_threads)
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript (see docs/deploy.md).
            warnings.filterwarnings('ignore', category=DeprecationWarning)
            try:
                self._module = torch.jit.load(model_path,
                                              map_location='cpu').eval()
            except RuntimeError as error:
                raise InvalidExportError(
                    f'cannot load TorchScript model {model_path}: it is '
                    f'truncated or not a TorchScript file ({error})'
                ) from error

    def __call__(self, network_input: np.ndarray) -> List[np.ndarray]:
        """Run the network.

        Args:
            network_input: (1, 3, H, W) float32.

        Returns:
            Class logits of every level, then box deltas of every level.
        """
        with self._torch.inference_mode():
            outputs = self._module(self._torch.from_numpy(network_input))
        return [output.numpy() for output in outputs]


def open_backend(model_path: str, metadata: Dict[str, Any],
                 num_threads: Optional[int] = None):
    """The backend that runs ``model_path``, chosen by the sidecar.

    Args:
        model_path: The exported file.
        metadata: Its sidecar (``model_format``, ``input``, ``outputs``).
        num_threads: Intra-op threads; ``None``: the library's default.

    Returns:
        A callable mapping a (1, 3, H, W) float32 input to the list of
        class-logit then box-delta outputs.
    """
    model_format = metadata['model_format']
    if model_format == 'onnx':
        outputs = metadata['outputs']
        return OnnxRuntimeBackend(
            model_path, metadata['input']['name'],
            outputs['cls_scores'] + outputs['bbox_preds'], num_threads)
    if model_format == 'torchscript':
        return TorchScriptBackend(model_path, num_threads)
    raise InvalidExportError(f'unknown model_format {model_format!r} in the '
                             f'metadata of {model_path}')


def calibration_transform(metadata: Dict[str, Any],
                          source: str) -> Optional[LogitTransform]:
    """The logit map of the sidecar's ``score_calibration`` entry.

    Args:
        metadata: The sidecar; ``score_calibration`` is ``None`` or a
            calibrator's JSON document
            (:func:`focal_det.calibration.calibrator_to_dict`: a fitted one,
            or the loss's own inverse map), checked whole and against
            ``class_names``.
        source: Where the sidecar is, named in errors.

    Returns:
        ``None``, or a function mapping (N, C) float32 logits to the
        float32 calibrated log-odds, computed in float64 as mmdet's head
        does (:class:`focal_det.heads.ScoreMappingMixin`), so that both
        keep and rank the same detections.

    Raises:
        InvalidCalibrationError: The entry is not a valid calibrator for
            the sidecar's classes.
    """
    calibration = metadata.get('score_calibration')
    if calibration is None:
        return None
    # Imported only here: numpy only, and not needed without calibration.
    from focal_det.calibration import calibrator_from_dict
    calibrator = calibrator_from_dict(
        calibration, f'the score_calibration entry of {source}',
        len(metadata['class_names']), metadata['class_names'])

    def calibrate(logits: np.ndarray) -> np.ndarray:
        return calibrator.map_logits(logits).astype(np.float32)

    return calibrate


class ExportedDetector:
    """An exported model and its sidecar, from image to detections.

    Args:
        model_path: ``.onnx`` or TorchScript file; ``model_path + '.json'``
            must be next to it.
        score_thr: Replaces the sidecar's ``test_cfg.score_thr``.
        num_threads: Intra-op threads of the backend.

    Attributes:
        metadata: The sidecar (with ``score_thr`` applied).
        class_names: Name of each class index.
    """

    def __init__(self, model_path: str, score_thr: Optional[float] = None,
                 num_threads: Optional[int] = None) -> None:
        self.metadata = read_metadata(model_path)
        if score_thr is not None:
            self.metadata['test_cfg']['score_thr'] = float(score_thr)
        self.class_names = self.metadata['class_names']
        self._run_network = open_backend(model_path, self.metadata,
                                         num_threads)
        self._logit_transform = calibration_transform(
            self.metadata, sidecar_path(model_path))

    @property
    def network_shape(self) -> Optional[Tuple[int, int]]:
        """(H, W) of a fixed-size export, ``None`` for a dynamic one."""
        network_input = self.metadata['input']
        return None if network_input['dynamic'] else tuple(
            network_input['shape'][2:])

    def prepare(self, image_rgb: np.ndarray) -> PreparedImage:
        """Preprocess an (H, W, 3) uint8 RGB image for the network."""
        return prepare_image(image_rgb, self.metadata['preprocess'],
                             self.network_shape)

    def raw_outputs(self, prepared: PreparedImage
                    ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """The network's outputs for a prepared image.

        Args:
            prepared: From :meth:`prepare`.

        Returns:
            (class logits, box deltas): per level, (1, A * C, H_l, W_l)
            and (1, A * 4, H_l, W_l) float32.
        """
        outputs = self._run_network(prepared.network_input)
        num_levels = len(self.metadata['outputs']['cls_scores'])
        return outputs[:num_levels], outputs[num_levels:]

    def detect_prepared(self, prepared: PreparedImage) -> Detections:
        """Detections of a prepared image (network + post-processing)."""
        cls_scores, bbox_preds = self.raw_outputs(prepared)
        return postprocess(cls_scores, bbox_preds, prepared, self.metadata,
                           self._logit_transform)

    def __call__(self, image: Union[str, np.ndarray]) -> Detections:
        """Detect objects in one image.

        Args:
            image: A file path, or an (H, W, 3) uint8 RGB array.

        Returns:
            :class:`~focal_det.deploy.postprocess.Detections` in the
            image's own pixel coordinates.
        """
        if isinstance(image, str):
            image = load_image(image)
        return self.detect_prepared(self.prepare(image))
