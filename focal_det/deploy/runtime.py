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
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..loss_names import DUAL_FOCAL_TERM, FOCAL_TERM
from .metadata import read_metadata
from .postprocess import Detections, LogitTransform, postprocess
from .preprocess import PreparedImage, load_image, prepare_image

# Recalibration kinds of sidecars exported before focal_det.loss_names.
_LEGACY_RECALIBRATION_KINDS = {
    'focal': FOCAL_TERM,
    'dual_focal': DUAL_FOCAL_TERM
}


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
        import onnxruntime
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            self._session = onnxruntime.InferenceSession(
                model_path, sess_options=options,
                providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime's own exception types
            raise ValueError(f'cannot load ONNX model {model_path}: it is '
                             f'truncated or not an ONNX file ({error})'
                             ) from error
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
        import torch
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
                raise ValueError(
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
    raise ValueError(f'unknown model_format {model_format!r} in the '
                     f'metadata of {model_path}')


def recalibration_transform(
        recalibration: Optional[Dict[str, Any]]) -> Optional[LogitTransform]:
    """The logit map of the sidecar's ``score_recalibration`` entry.

    Args:
        recalibration: ``None``, or ``dict(kind='fl' | 'dfl', gamma=float,
            alpha=[C floats] or None)``, the trained loss's
            ``recalibration_params``. Sidecars written before the loss
            names were unified say ``'focal'`` / ``'dual_focal'``; they are
            read as ``'fl'`` / ``'dfl'``.

    Returns:
        ``None`` when there is nothing to do, else a function mapping (N, C)
        float32 logits to the float32 log-odds of the recalibrated
        probabilities — for ``'fl'``, the logit of
        ``inverse_sigmoid_minimiser(sigmoid(logit), gamma, alpha_c)`` in
        column ``c``. Computed as mmdet's recalibrated head does (sigmoid
        in float64, log-odds cast to float32), so both keep and rank the
        same detections.
    """
    if recalibration is None:
        return None
    # Imported only here: a model without recalibration needs nothing from
    # the theory package (numpy-only, like this module).
    from focal_det.theory.recalibration import recalibrated_log_odds
    kind = recalibration['kind']
    recalibration = dict(recalibration,
                         kind=_LEGACY_RECALIBRATION_KINDS.get(kind, kind))

    def recalibrate(logits: np.ndarray) -> np.ndarray:
        with np.errstate(over='ignore'):  # exp(+large) = inf: score 0
            scores = 1 / (1 + np.exp(-logits.astype(np.float64)))
        return recalibrated_log_odds(scores,
                                     recalibration).astype(np.float32)

    return recalibrate


def calibration_transform(
        calibration: Optional[Dict[str, Any]],
        num_classes: int) -> Optional[LogitTransform]:
    """The logit map of the sidecar's ``score_calibration`` entry.

    Args:
        calibration: ``None``, or a fitted calibrator's JSON document
            (:func:`focal_det.calibration.calibrator_to_dict`, written by
            ``tools/calibrate.py``).
        num_classes: Classes of the model; a calibrator for another number
            is refused.

    Returns:
        ``None``, or a function mapping (N, C) float32 logits to the float32
        calibrated log-odds, in float64 as mmdet's head does.
    """
    if calibration is None:
        return None
    # Imported only here, numpy-only like the theory package.
    from focal_det.calibration import calibrator_from_dict
    calibrator = calibrator_from_dict(
        calibration, "the sidecar's score_calibration", num_classes)

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
        # Export refuses a model with both (the calibrator is fitted on
        # raw scores).
        self._logit_transform = calibration_transform(
            self.metadata.get('score_calibration'),
            len(self.class_names)) or recalibration_transform(
                self.metadata.get('score_recalibration'))

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
