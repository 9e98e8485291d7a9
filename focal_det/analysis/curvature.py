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


def logit_curvature(kind: str, gamma: float, logits: Tensor,
                    positive: bool) -> Tensor:
    """Closed-form ``d2 loss / dx2`` of one sigmoid term per logit.

    Args:
        kind (str): ``'ce'`` (binary cross-entropy), ``'fl'`` (focal,
            without alpha) or ``'dfl'`` (dual focal, normalised at d = 1/2).
        gamma (float): Focusing parameter (ignored for ``'ce'``).
        logits (Tensor): Logits, any shape.
        positive (bool): Whether the target is 1 (else 0).

    Returns:
        Tensor: Second derivatives, shaped like ``logits``.
    """
    from ..losses.kernel import focal_family_curvature
    if kind not in ('ce', 'fl', 'dfl'):
        raise ValueError(f"kind must be 'ce', 'fl' or 'dfl', got {kind!r}")
    flat = logits.reshape(-1, 1)
    target = torch.full((flat.shape[0], ), 0 if positive else 1)
    gamma = torch.tensor(0.0 if kind == 'ce' else float(gamma),
                         dtype=torch.float64)
    curvature = focal_family_curvature(
        flat, target, gamma, 'dual_focal' if kind == 'dfl' else 'focal',
        normalize_at_boundary=kind == 'dfl')
    return curvature.reshape(logits.shape)


def curvature_summary(loss_fn: LossClosure, params: Sequence[Tensor],
                      power_iters: int, trace_samples: int) -> Dict[str,
                                                                   float]:
    """Loss value, top eigenvalue and trace of one loss at one point."""
    return dict(
        loss=float(loss_fn().detach()),
        top_eigenvalue=top_hessian_eigenvalue(loss_fn, params, power_iters),
        trace=hessian_trace(loss_fn, params, trace_samples))


# name -> classification loss config; alpha is left out so that CE and FL
# differ only in gamma, as in the curvature study.
def loss_variants(spec: Sequence[str]) -> Dict[str, dict]:
    """Parse ``['ce', 'fl:2', 'dfl:2']`` into loss configs."""
    variants = {}
    for item in spec:
        kind, _, gamma = item.partition(':')
        if kind == 'ce':
            variants['CE'] = dict(type='SigmoidFocalLoss', gamma=0.0,
                                  alpha=None)
        elif kind in ('fl', 'dfl') and gamma:
            name = f'{kind.upper()}(gamma={float(gamma):g})'
            variants[name] = (dict(type='SigmoidFocalLoss',
                                   gamma=float(gamma), alpha=None)
                              if kind == 'fl' else dict(
                                  type='DualFocalLoss', gamma=float(gamma)))
        else:
            raise ValueError(f"loss variant must be 'ce', 'fl:GAMMA' or "
                             f"'dfl:GAMMA', got {item!r}")
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
