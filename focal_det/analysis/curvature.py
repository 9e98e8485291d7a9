"""Curvature of the classification loss: Hessian spectrum and trace.

The geometric reading of the focal loss (see the curvature/calibration seed
document) says that focal loss flattens the loss surface. This module
measures that on a detector:

* :func:`hessian_vector_product`: ``H v`` for the Hessian of a scalar loss
  with respect to parameters, by double backward. focal_det's fused losses
  support it through their closed-form second derivative
  (:func:`focal_det.losses.kernel.focal_family_curvature`).
* :func:`top_hessian_eigenvalue`: power iteration on ``H v``.
* :func:`hessian_trace`: Hutchinson's estimator ``E[v^T H v]`` with
  Rademacher ``v``.
* :func:`logit_curvature`: the closed-form per-element ``d2 loss / dx2``
  with respect to the logit, for CE, FL(gamma) and DFL(gamma).
"""
from typing import Callable, Dict, List, Sequence

import torch
from torch import Tensor

from ..loss_names import CE, DFL, FL, REGISTERED_NAMES

# The sigmoid losses compared: CE is the focal loss at gamma = 0.
CURVATURE_KINDS = (CE, FL, DFL)

LossClosure = Callable[[], Tensor]


def hessian_vector_product(loss_fn: LossClosure, params: Sequence[Tensor],
                           vector: Sequence[Tensor]) -> List[Tensor]:
    """``H v`` with H the Hessian of ``loss_fn()`` w.r.t. ``params``.

    Args:
        loss_fn: Computes the scalar loss from ``params``.
        params (Sequence[Tensor]): Parameters (requiring grad).
        vector (Sequence[Tensor]): One tensor per parameter.

    Returns:
        list[Tensor]: ``H v``, shaped like ``params``.
    """
    # Parameters the loss does not use (a detector's box branch for its
    # classification loss) have zero rows in H.
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True,
                                allow_unused=True, materialize_grads=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vector))
    return list(
        torch.autograd.grad(dot, params, allow_unused=True,
                            materialize_grads=True))


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def top_hessian_eigenvalue(loss_fn: LossClosure,
                           params: Sequence[Tensor],
                           iters: int = 30,
                           tol: float = 1e-4,
                           seed: int = 0) -> float:
    """Largest-magnitude Hessian eigenvalue by power iteration.

    Args:
        loss_fn, params: As in :func:`hessian_vector_product`.
        iters (int): Maximum iterations.
        tol (float): Stop when the Rayleigh quotient changes by less than
            ``tol`` relative.
        seed (int): Seed of the random start vector.

    Returns:
        float: The eigenvalue (its Rayleigh quotient at convergence).
    """
    generator = torch.Generator().manual_seed(seed)
    vector = [torch.randn(p.shape, generator=generator).to(p) for p in params]
    norm = _dot(vector, vector).sqrt()
    vector = [v / norm for v in vector]
    eigenvalue = 0.0
    for _ in range(iters):
        product = hessian_vector_product(loss_fn, params, vector)
        new_eigenvalue = float(_dot(vector, product))
        norm = _dot(product, product).sqrt()
        if float(norm) == 0.0:
            return 0.0
        vector = [h / norm for h in product]
        converged = abs(new_eigenvalue - eigenvalue) <= tol * abs(
            new_eigenvalue)
        eigenvalue = new_eigenvalue
        if converged:
            break
    return eigenvalue


def hessian_trace(loss_fn: LossClosure,
                  params: Sequence[Tensor],
                  samples: int = 20,
                  seed: int = 0) -> float:
    """Hutchinson's estimate of ``tr(H)``: the mean of ``v^T H v``.

    Args:
        loss_fn, params: As in :func:`hessian_vector_product`.
        samples (int): Number of Rademacher vectors.
        seed (int): Seed of the vectors.

    Returns:
        float: The estimated trace.
    """
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(samples):
        vector = [(torch.randint(0, 2, p.shape, generator=generator) * 2 -
                   1).to(p) for p in params]
        total += float(
            _dot(vector, hessian_vector_product(loss_fn, params, vector)))
    return total / samples


def loss_config(kind: str, gamma: float) -> dict:
    """The classification loss config of a curvature variant.

    Alpha is left out so that CE and FL differ only in gamma, as in the
    curvature study.

    Args:
        kind (str): :data:`~focal_det.loss_names.CE` (binary cross-entropy,
            the focal loss with gamma = 0), ``FL`` or ``DFL`` (dual focal,
            normalised at d = 1/2).
        gamma (float): Focusing parameter (ignored for CE).

    Returns:
        dict: A config for mmdet's ``MODELS`` registry.
    """
    if kind == CE:
        return dict(type=REGISTERED_NAMES[FL], gamma=0.0, alpha=None)
    if kind == FL:
        return dict(type=REGISTERED_NAMES[FL], gamma=float(gamma), alpha=None)
    if kind == DFL:
        return dict(type=REGISTERED_NAMES[DFL], gamma=float(gamma))
    raise ValueError(f'kind must be one of {CURVATURE_KINDS}, got {kind!r}')


def logit_curvature(kind: str, gamma: float, logits: Tensor,
                    positive: bool) -> Tensor:
    """Closed-form ``d2 loss / dx2`` of one sigmoid term per logit.

    Args:
        kind (str): ``'ce'``, ``'fl'`` or ``'dfl'`` (see
            :func:`loss_config`).
        gamma (float): Focusing parameter (ignored for ``'ce'``).
        logits (Tensor): Logits, any shape.
        positive (bool): Whether the target is 1 (else 0).

    Returns:
        Tensor: Second derivatives, shaped like ``logits``.
    """
    from mmdet.registry import MODELS

    from ..losses.kernel import focal_family_curvature
    loss = MODELS.build(loss_config(kind, gamma))
    flat = logits.reshape(-1, 1)
    target = torch.full((flat.shape[0], ), 0 if positive else 1)
    curvature = focal_family_curvature(
        flat, target, loss.gamma_tensor().double(), loss.term_kind,
        loss.alpha, normalize_at_boundary=loss.normalize_at_boundary)
    return curvature.reshape(logits.shape)


def curvature_summary(loss_fn: LossClosure, params: Sequence[Tensor],
                      power_iters: int, trace_samples: int) -> Dict[str,
                                                                   float]:
    """Loss value, top eigenvalue and trace of one loss at one point."""
    return dict(
        loss=float(loss_fn().detach()),
        top_eigenvalue=top_hessian_eigenvalue(loss_fn, params, power_iters),
        trace=hessian_trace(loss_fn, params, trace_samples))


def variant_name(kind: str, gamma: float) -> str:
    """``'CE'``, ``'FL(gamma=2)'``, ``'DFL(gamma=1.5)'``: table labels."""
    return 'CE' if kind == CE else f'{kind.upper()}(gamma={float(gamma):g})'


def loss_variants(spec: Sequence[str]) -> Dict[str, dict]:
    """Parse ``['ce', 'fl:2', 'dfl:2']`` into loss configs by name.

    Args:
        spec (Sequence[str]): ``'ce'``, ``'fl:GAMMA'`` or ``'dfl:GAMMA'``.

    Returns:
        dict: :func:`variant_name` -> :func:`loss_config`.
    """
    variants = {}
    for item in spec:
        kind, _, gamma = item.partition(':')
        if not (kind == CE or kind in (FL, DFL) and gamma):
            raise ValueError(f"loss variant must be 'ce', 'fl:GAMMA' or "
                             f"'dfl:GAMMA', got {item!r}")
        gamma = float(gamma or 0)
        variants[variant_name(kind, gamma)] = loss_config(kind, gamma)
    return variants


def detector_curvature(model, batches: Sequence[dict],
                       variants: Dict[str, dict], power_iters: int,
                       trace_samples: int) -> Dict[str, Dict[str, float]]:
    """Curvature of the detector's classification loss for each variant.

    The model is put in eval mode (batch-norm statistics frozen) so that the
    loss is a deterministic function of the parameters; the loss is the
    mean of ``loss_cls`` over the given preprocessed batches.

    Args:
        model: An mmdet dense detector (``model.bbox_head.loss_cls``).
        batches (Sequence[dict]): Outputs of ``model.data_preprocessor``.
        variants (dict): Name -> loss config (see :func:`loss_variants`).
        power_iters (int): Power-iteration steps for the top eigenvalue.
        trace_samples (int): Hutchinson samples for the trace.

    Returns:
        dict: Name -> ``{'loss', 'top_eigenvalue', 'trace'}``.
    """
    from mmdet.registry import MODELS
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    original = model.bbox_head.loss_cls
    results = {}
    try:
        for name, loss_cfg in variants.items():
            model.bbox_head.loss_cls = MODELS.build(loss_cfg)

            def loss_fn():
                total = 0.0
                for batch in batches:
                    losses = model.loss(batch['inputs'],
                                        batch['data_samples'])
                    total = total + sum(losses['loss_cls'])
                return total / len(batches)

            results[name] = curvature_summary(loss_fn, params, power_iters,
                                              trace_samples)
    finally:
        model.bbox_head.loss_cls = original
    return results
