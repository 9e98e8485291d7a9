"""Export a trained RetinaNet and run it without MMDetection.

Two halves, kept apart so that the runtime installs on a machine without
torch, mmcv or mmengine:

* the export side (torch + mmdet): :mod:`.pytorch_model` (strict checkpoint
  loading, the exported graph, mmdet's own predictions),
  :mod:`.config_metadata` (what the runtime needs, read off the config),
  :mod:`.export` (ONNX / TorchScript files) and :mod:`.verify` (parity of an
  exported file with PyTorch and mmdet);
* the runtime side (numpy, plus onnxruntime or torch for TorchScript):
  :mod:`.metadata` (the JSON sidecar), :mod:`.preprocess`,
  :mod:`.postprocess`, :mod:`.runtime` and :mod:`.drawing`.

Nothing is imported here: ``import focal_det.deploy.runtime`` loads only
the runtime side.
"""
