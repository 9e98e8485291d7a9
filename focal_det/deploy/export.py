"""Export a RetinaNet to ONNX or TorchScript, with its JSON sidecar.

The exported graph is backbone + neck + head (:class:`HeadOutputsNet`):
one (1, 3, H, W) float32 input named ``image``, and per level the class
logits ``cls_score_<l>`` (1, A * C, H_l, W_l) and box deltas
``bbox_pred_<l>`` (1, A * 4, H_l, W_l). Anchors, decoding and NMS are left
to the runtime, which reads their settings from ``<file>.json``.

ONNX goes through torch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``): with torch 2.13 it needs only
the ``onnx`` package, takes a second, and covers every operator of this
network; the newer ``torch.export``-based exporter would add ``onnxscript``
and its dependencies for no gain here.
"""
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..errors import UnsupportedModelError
from .config_metadata import (INPUT_NAME, preprocess_settings,
                              runtime_metadata)
from .metadata import write_metadata
from .pytorch_model import HeadOutputsNet, build_detector

#: ONNX opsets the export was checked with. Below 9, torch cannot export
#: the FPN's size-driven upsampling; above 20 is beyond torch's
#: TorchScript-based exporter.
SUPPORTED_OPSETS = range(9, 21)
DEFAULT_OPSET = 17
MODEL_FORMATS = ('onnx', 'torchscript')


def check_opset(opset: int) -> None:
    """Raise ``UnsupportedModelError`` naming the supported range for
    another opset.

    Args:
        opset: The requested ONNX opset.
    """
    if opset not in SUPPORTED_OPSETS:
        raise UnsupportedModelError(
            f'unsupported ONNX opset {opset}: supported opsets are '
            f'{SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1}')


def default_network_shape(preprocess: Dict[str, Any]) -> Tuple[int, int]:
    """The input size that holds every image the test pipeline produces.

    Args:
        preprocess: The sidecar's ``preprocess`` section.

    Returns:
        (H, W): the longer side of ``Resize.scale``, padded to
        ``pad_size_divisor``, for both — with ``keep_ratio`` a landscape
        and a portrait image then both fit.

    Raises:
        UnsupportedModelError: The pipeline does not resize, so no size is
            implied.
    """
    resize = preprocess['resize']
    if resize is None:
        raise UnsupportedModelError('the test pipeline has no Resize, so the '
                                    'input size is not implied: give '
                                    '--shape H W')
    divisor = max(preprocess['pad_size_divisor'], 1)
    side = -(-max(resize['scale']) // divisor) * divisor
    return side, side


def export_onnx(net: torch.nn.Module, example_input: torch.Tensor,
                path: str, opset: int, dynamic: bool,
                names: Tuple[Sequence[str], Sequence[str]]) -> None:
    """Write ``net`` as an ONNX file.

    Args:
        net: :class:`HeadOutputsNet` in eval mode.
        example_input: (1, 3, H, W) input to trace with.
        path: Output file.
        opset: ONNX opset, within :data:`SUPPORTED_OPSETS`.
        dynamic: Make batch, height and width of input and outputs dynamic.
        names: (class-logit output names, box-delta output names).
    """
    check_opset(opset)
    all_outputs = list(names[0]) + list(names[1])
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {
            name: {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
            for name in [INPUT_NAME] + all_outputs
        }
    with warnings.catch_warnings():
        # The TorchScript-based exporter is chosen on purpose (see the
        # module docstring); its deprecation notice is noise to a user.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        torch.onnx.export(net, (example_input, ), path, dynamo=False,
                          opset_version=opset, input_names=[INPUT_NAME],
                          output_names=all_outputs, dynamic_axes=dynamic_axes)


def export_torchscript(net: torch.nn.Module, example_input: torch.Tensor,
                       path: str) -> None:
    """Write ``net`` traced by ``torch.jit.trace`` as a TorchScript file.

    Args:
        net: :class:`HeadOutputsNet` in eval mode.
        example_input: (1, 3, H, W) input to trace with.
        path: Output file.
    """
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript in favour of torch.export;
        # docs/deploy.md says so where the format is chosen.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        traced = torch.jit.trace(net, (example_input, ))
    traced.save(path)


def export_detector(cfg: Config, checkpoint_path: Optional[str],
                    model_format: str, out_path: str,
                    network_shape: Optional[Tuple[int, int]] = None,
                    dynamic: bool = False,
                    opset: int = DEFAULT_OPSET
                    ) -> Tuple[Dict[str, Any], torch.nn.Module]:
    """Export the config's detector and write its sidecar.

    Args:
        cfg: The detector's config.
        checkpoint_path: Its checkpoint; ``None`` exports the random
            initialisation (tests).
        model_format: ``'onnx'`` or ``'torchscript'``.
        out_path: The model file; the sidecar is ``out_path + '.json'``.
        network_shape: (H, W) of the input; ``None``:
            :func:`default_network_shape`.
        dynamic: Whether other input sizes are accepted (ONNX dynamic axes;
            a traced TorchScript module accepts them anyway).
        opset: ONNX opset.

    Returns:
        (metadata written, the mmdet detector that was exported).
    """
    if model_format not in MODEL_FORMATS:
        raise UnsupportedModelError(f'unknown format {model_format!r}: '
                                    f'choose from {", ".join(MODEL_FORMATS)}')
    if model_format == 'onnx':
        check_opset(opset)  # before the slow part
    detector, checkpoint_meta = build_detector(cfg, checkpoint_path)
    if network_shape is None:
        network_shape = default_network_shape(
            preprocess_settings(cfg, detector))
    metadata = runtime_metadata(cfg, detector, checkpoint_meta, model_format,
                                network_shape, dynamic)
    example_input = torch.zeros(1, 3, *network_shape)
    net = HeadOutputsNet(detector).eval()
    with torch.no_grad():
        if model_format == 'onnx':
            outputs = metadata['outputs']
            export_onnx(net, example_input, out_path, opset, dynamic,
                        (outputs['cls_scores'], outputs['bbox_preds']))
        else:
            export_torchscript(net, example_input, out_path)
    write_metadata(out_path, metadata)
    return metadata, detector

