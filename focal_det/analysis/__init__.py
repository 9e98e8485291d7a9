"""Offline studies of trained models: per-anchor calibration, curvature,
fitting and judging score calibrators, multi-seed statistics, and reading
finished runs back (:mod:`.finished_runs`).

The theory they test (focal-entropy minimisers, inverse maps) is in
:mod:`focal_det.theory`, which the runtime uses too.
"""
