"""Check an exported model against PyTorch and mmdet on the same inputs.

Two comparisons per input image, both on the network input prepared by the
runtime's preprocessing:

* raw outputs: the exported file (onnxruntime / TorchScript) against the
  PyTorch graph it came from — largest absolute difference at most
  :data:`RAW_OUTPUT_TOLERANCE`;
* detections: the runtime's numpy post-processing of the exported outputs
  against mmdet's own ``model.predict`` — same number, same labels, boxes
  within :data:`BOX_TOLERANCE` pixels and scores within
  :data:`SCORE_TOLERANCE`.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ParityError
from .postprocess import Detections
from .pytorch_model import HeadOutputsNet, mmdet_detections
from .runtime import ExportedDetector

RAW_OUTPUT_TOLERANCE = 1e-4
BOX_TOLERANCE = 1e-2  # pixels of the original image
SCORE_TOLERANCE = 1e-4


@dataclass
class InputParity:
    """The comparison on one input image.

    Attributes:
        name: What the image was (a path, or a description).
        input_shape: (H, W) of the network input.
        raw_max_abs_diff: Largest |exported - PyTorch| over all outputs.
        num_detections: (runtime on the exported file, mmdet).
        labels_equal: Whether the labels agree, detection for detection.
        box_max_abs_diff: Largest box coordinate difference, pixels.
        score_max_abs_diff: Largest score difference.
    """
    name: str
    input_shape: Tuple[int, int]
    raw_max_abs_diff: float
    num_detections: Tuple[int, int]
    labels_equal: bool
    box_max_abs_diff: float
    score_max_abs_diff: float

    @property
    def ok(self) -> bool:
        """Whether every number is within its tolerance."""
        return (self.raw_max_abs_diff <= RAW_OUTPUT_TOLERANCE
                and self.num_detections[0] == self.num_detections[1]
                and self.labels_equal
                and self.box_max_abs_diff <= BOX_TOLERANCE
                and self.score_max_abs_diff <= SCORE_TOLERANCE)

    def describe(self) -> str:
        """One line with every number and the verdict."""
        height, width = self.input_shape
        return (f'{"ok  " if self.ok else "FAIL"} {self.name} '
                f'(input {height}x{width}): raw outputs max abs diff '
                f'{self.raw_max_abs_diff:.3g} (<= {RAW_OUTPUT_TOLERANCE:g}); '
                f'detections {self.num_detections[0]} exported vs '
                f'{self.num_detections[1]} mmdet, labels '
                f'{"equal" if self.labels_equal else "DIFFER"}, boxes max '
                f'abs diff {self.box_max_abs_diff:.3g} px '
                f'(<= {BOX_TOLERANCE:g}), scores max abs diff '
                f'{self.score_max_abs_diff:.3g} (<= {SCORE_TOLERANCE:g})')


@dataclass
class ParityReport:
    """The comparison on every input image."""
    inputs: List[InputParity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every input passed."""
        return all(result.ok for result in self.inputs)

    def describe(self) -> str:
        """One line per input."""
        return '\n'.join(result.describe() for result in self.inputs)


def _canonical_order(detections: Detections) -> Detections:
    # Two detections of (almost) equal score may come out in either order;
    # compare by label, then score, then box.
    order = np.lexsort((detections.boxes[:, 0], -detections.scores,
                        detections.labels))
    return Detections(detections.boxes[order], detections.scores[order],
                      detections.labels[order])


def compare_detections(exported: Detections,
                       reference: Detections) -> Tuple[bool, float, float]:
    """Compare two sets of detections of the same image.

    Args:
        exported: The runtime's detections.
        reference: mmdet's detections.

    Returns:
        (labels equal, box max abs diff, score max abs diff); differences
        are ``inf`` when the counts differ.
    """
    if len(exported) != len(reference):
        return False, float('inf'), float('inf')
    if len(exported) == 0:
        return True, 0.0, 0.0
    exported, reference = (_canonical_order(exported),
                           _canonical_order(reference))
    return (bool(np.array_equal(exported.labels, reference.labels)),
            float(np.abs(exported.boxes - reference.boxes).max()),
            float(np.abs(exported.scores - reference.scores).max()))


def verification_images(network_shape: Tuple[int, int], dynamic: bool,
                        pad_size_divisor: int,
                        seed: int = 0) -> List[Tuple[str, np.ndarray]]:
    """Deterministic test images when the user gives none.

    Args:
        network_shape: (H, W) of the exported input.
        dynamic: Whether the export accepts other sizes; then a second,
            wider image checks that it does.
        pad_size_divisor: The width step of that second image.
        seed: Seed of the random pixels.

    Returns:
        (description, (H, W, 3) uint8 RGB image) pairs.
    """
    rng = np.random.default_rng(seed)
    shapes = [tuple(network_shape)]
    if dynamic:
        shapes.append((network_shape[0],
                       network_shape[1] + 2 * max(pad_size_divisor, 1)))
    return [(f'random image {height}x{width}',
             rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
            for height, width in shapes]


def verify_export(model_path: str, detector: torch.nn.Module,
                  images: Sequence[Tuple[str, np.ndarray]],
                  num_threads: Optional[int] = None) -> ParityReport:
    """Compare an exported file with the PyTorch detector it came from.

    Args:
        model_path: The exported file (its sidecar next to it).
        detector: The mmdet detector that was exported, in eval mode.
        images: (description, (H, W, 3) uint8 RGB) pairs.
        num_threads: Intra-op threads of the exported model's backend.

    Returns:
        The :class:`ParityReport`.

    Raises:
        ParityError: Any number is outside its tolerance; the message has
            every number.
    """
    exported = ExportedDetector(model_path, num_threads=num_threads)
    net = HeadOutputsNet(detector).eval()
    report = ParityReport()
    for name, image in images:
        prepared = exported.prepare(image)
        cls_scores, bbox_preds = exported.raw_outputs(prepared)
        with torch.no_grad():
            reference_outputs = net(torch.from_numpy(prepared.network_input))
        raw_diff = max(
            float(np.abs(ours - theirs.numpy()).max())
            if ours.shape == tuple(theirs.shape) else float('inf')
            for ours, theirs in zip(cls_scores + bbox_preds,
                                    reference_outputs))
        ours = exported.detect_prepared(prepared)
        theirs = mmdet_detections(detector, prepared)
        labels_equal, box_diff, score_diff = compare_detections(ours, theirs)
        report.inputs.append(
            InputParity(name=name,
                        input_shape=tuple(prepared.network_input.shape[2:]),
                        raw_max_abs_diff=raw_diff,
                        num_detections=(len(ours), len(theirs)),
                        labels_equal=labels_equal,
                        box_max_abs_diff=box_diff,
                        score_max_abs_diff=score_diff))
    if not report.ok:
        raise ParityError('the exported model does not match PyTorch/mmdet:'
                          '\n' + report.describe())
    return report
