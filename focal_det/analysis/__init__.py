"""Offline studies of trained models: per-anchor calibration, curvature.

The theory they test (focal-entropy minimisers, inverse maps) is in
:mod:`focal_det.theory`, which the runtime uses too.
"""
