"""The JSON sidecar written next to an exported model.

An exported file holds only the network (image in, per-level class logits
and box deltas out). Everything else the runtime needs — preprocessing,
anchors, box decoding, post-processing thresholds, class names — is in
``<model file>.json``, written by :mod:`focal_det.deploy.export` and read by
:mod:`focal_det.deploy.runtime`. Pure Python: no numpy, no torch. Written atomically
(:mod:`focal_det.atomic_files`): a kill never leaves half a sidecar.
"""
import json
import os.path as osp
from typing import Any, Dict

from ..atomic_files import write_json
from ..errors import InvalidExportError

#: Bumped whenever a key changes meaning, so an old runtime refuses a newer
#: sidecar instead of misreading it. 2: one ``score_calibration`` entry (a
#: calibrator document, the loss's own inverse map included) replaces
#: ``score_recalibration``.
METADATA_FORMAT_VERSION = 2


def sidecar_path(model_path: str) -> str:
    """Path of the metadata file that belongs to ``model_path``.

    Args:
        model_path: The exported model, e.g. ``retinanet.onnx``.

    Returns:
        ``model_path + '.json'``, e.g. ``retinanet.onnx.json``.
    """
    return model_path + '.json'


def write_metadata(model_path: str, metadata: Dict[str, Any]) -> str:
    """Write the sidecar of ``model_path``.

    Args:
        model_path: The exported model the metadata describes.
        metadata: JSON-serialisable dict (see ``docs/deploy.md``).

    Returns:
        The path written.
    """
    return write_json(sidecar_path(model_path), metadata, indent=2)


def read_metadata(model_path: str) -> Dict[str, Any]:
    """Read and check the sidecar of ``model_path``.

    Args:
        model_path: The exported model.

    Returns:
        The metadata dict.

    Raises:
        FileNotFoundError: The sidecar is missing (its path is named).
        InvalidExportError: It is not valid JSON or has another format
            version.
    """
    path = sidecar_path(model_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'metadata file not found: {path} (tools/export.py writes it '
            f'next to the model; it must travel with {model_path})')
    with open(path, encoding='utf-8') as f:
        try:
            metadata = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidExportError(
                f'malformed metadata file {path}: {error}') from None
    version = metadata.get('format_version') if isinstance(
        metadata, dict) else None
    if version != METADATA_FORMAT_VERSION:
        raise InvalidExportError(
            f'metadata file {path} has format_version {version!r}; this '
            f'runtime reads version {METADATA_FORMAT_VERSION}: export the '
            'model again with this version of focal_det')
    return metadata
