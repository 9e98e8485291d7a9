"""Analysis tools.

:mod:`focal_det.analysis.focal_entropy`: the focal-entropy, its exact
minimisers (simplex and per-class sigmoid) and their closed-form inverses.
It needs numpy only (no torch, no mmdet), so a numpy + onnxruntime
deployment can import it. The package exports the module rather than its
functions, so that ``focal_det.analysis.focal_entropy`` stays the module and
is not shadowed by its function ``focal_entropy``; import the functions from
the module.
"""
from . import focal_entropy

__all__ = ['focal_entropy']
