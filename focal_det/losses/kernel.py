"""The one fused elementwise kernel behind every sigmoid loss of focal_det.

Every loss of the family is a sum over the N x C sigmoid terms of a logit
``x`` and a target ``y`` in [0, 1]:

* ``'fl'``, the focal term (Lin et al.; mmdet's definition, also for soft
  targets)::

      p_t' = (1 - p) y + p (1 - y)                    (= 1 - p_t)
      l    = alpha_t * p_t'**gamma * BCE(x, y)
      alpha_t = alpha y + (1 - alpha)(1 - y)          (alpha = None -> 1)

  ``gamma = 0`` and ``alpha = None`` is plain sigmoid cross-entropy. gamma
  may be one value or one per class (C,): the Equalized Focal Loss.

* ``'dfl'``, the dual focal term (Dual Focal Loss)::

      d = |y - p|,     l = -log(1 - d**gamma)

Both are evaluated in log space so that every logit, +-1e4 included, gives a
finite value and gradient. For a binary target the margin ``m = x`` (y = 1)
or ``m = -x`` (y = 0) gives ``d = sigmoid(-m)`` and ``-log d = softplus(m)``
exactly; soft targets (IoU-quality scores) use the direct formulas, which
are well conditioned because ``d`` is then bounded away from 0 and 1.

:func:`focal_family_loss` computes the loss *and* its gradient with respect
to the logits in one pass (and, when asked, the gradient with respect to
``gamma`` as one more fused reduction), folding in row and element weights
and the final scale (``loss_weight / avg_factor``). When asked, the same pass
also sums ``|dloss/dx|`` per class over positive and over negative terms
(the Equalized Focal Loss's gradient statistics). The autograd node saves
only that gradient, so backward is a multiplication by the incoming scalar
(or nothing when it is 1). No one-hot target is materialised: for label
targets ``y`` is the comparison ``label == class_index`` inside the kernel.

The kernel is compiled with ``torch.compile`` (C++/OpenMP on CPU, Triton on
GPU). Set ``FOCAL_DET_COMPILE=0`` to run the same function eagerly (in row
chunks, to bound memory); both routes compute the same expression in fp32.
"""
import math
import os
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..loss_names import FOCAL_TERM, TERM_KINDS
from .utils import compute_dtype

# Below this margin softplus(m) ~ exp(m) underflows in fp32; the first-order
# expansions used there are exact to fp32 precision.
_HARD_MARGIN = -30.0
# Soft targets only: keeps d**(gamma - 1) finite at the cusp d = 0.
_SOFT_EPS = 1e-6
_EAGER_CHUNK_ROWS = 8192


def _expm1(t: Tensor) -> Tensor:
    """exp(t) - 1, accurate for small |t| on every route.

    Inductor's CPU code computes ``torch.expm1`` as ``exp(t) - 1``, which
    loses all precision for |t| < 1e-7 (and returns 0 below); Kahan's
    ``(u - 1) t / log(u)`` with ``u = exp(t)`` stays within ~1 ulp.
    """
    u = torch.exp(t)
    kahan = torch.where(u == 1, t, (u - 1) * t / torch.log(u))
    return torch.where(t.abs() > 0.5, u - 1, kahan)


def _binary_focal(m: Tensor, gamma: Tensor, alpha_t: Tensor):
    """Focal terms for binary targets as functions of the margin m.

    Returns (loss, dloss/dm, dloss/dgamma).
    """
    log_d = -torch.nn.functional.softplus(m)  # log(1 - p_t)
    bce = torch.nn.functional.softplus(-m)  # -log p_t
    focal_weight = alpha_t * torch.exp(gamma * log_d)
    loss = focal_weight * bce
    dloss_dm = -focal_weight * (gamma * torch.sigmoid(m) * bce +
                                torch.sigmoid(-m))
    return loss, dloss_dm, log_d * loss


def _soft_focal(x: Tensor, y: Tensor, gamma: Tensor, alpha_t: Tensor):
    """mmdet's focal terms for soft targets. Returns (loss, dloss/dx, dloss/dgamma)."""
    p = torch.sigmoid(x)
    pt = ((1 - p) * y + p * (1 - y)).clamp_min(_SOFT_EPS)
    log_pt = torch.log(pt)
    bce = y * torch.nn.functional.softplus(-x) + (1 - y) * (
        torch.nn.functional.softplus(x))
    pt_gamma = torch.exp(gamma * log_pt)
    loss = alpha_t * pt_gamma * bce
    dpt_dx = (1 - 2 * y) * p * (1 - p)
    dloss_dx = alpha_t * (gamma * pt_gamma / pt * dpt_dx * bce + pt_gamma *
                          (p - y))
    return loss, dloss_dx, log_pt * loss


def _binary_dual_focal(m: Tensor, gamma: Tensor):
    """-log(1 - d**gamma) with d = sigmoid(-m). Returns (loss, dloss/dm, dloss/dgamma)."""
    s = torch.nn.functional.softplus(m)  # -log d
    t = gamma * s  # -log d**gamma
    hard = m < _HARD_MARGIN
    expm1_t = _expm1(t)
    # -log(1 - e^-t) = log1p(1 / expm1(t)): reuses expm1(t); 1 / inf = 0.
    loss = torch.where(hard, -torch.log(gamma) - m, torch.log1p(1 / expm1_t))
    dloss_dm = torch.where(hard, -torch.ones_like(m),
                           -gamma * torch.sigmoid(m) / expm1_t)
    dloss_dgamma = torch.where(hard, -1.0 / gamma * torch.ones_like(m),
                               -s / expm1_t)
    return loss, dloss_dm, dloss_dgamma


def _soft_dual_focal(x: Tensor, y: Tensor, gamma: Tensor):
    """-log(1 - d**gamma) with d = |y - p|. Returns (loss, dloss/dx, dloss/dgamma)."""
    p_minus_y = (1 - y) * torch.sigmoid(x) - y * torch.sigmoid(-x)
    d = p_minus_y.abs().clamp(_SOFT_EPS, 1 - _SOFT_EPS)
    s = -torch.log(d)
    expm1_t = _expm1(gamma * s)
    loss = torch.log1p(1 / expm1_t)
    p = torch.sigmoid(x)
    dloss_dx = torch.sign(p_minus_y) * gamma * p * (1 - p) / (d * expm1_t)
    return loss, dloss_dx, -s / expm1_t


def _binary_focal_curvature(m: Tensor, gamma: Tensor,
                            alpha_t: Tensor) -> Tensor:
    """d2 loss / dm2 of the focal terms (= d2/dx2, the sign squares away).

    With A = alpha_t exp(-gamma softplus(m)) and B = softplus(-m):
    l'' = A sigma(m) [gamma^2 sigma(m) B + (2 gamma + 1) sigma(-m)
    - gamma sigma(-m) B]; gamma = 0 gives BCE's sigma(m) sigma(-m).
    """
    focal_weight = alpha_t * torch.exp(-gamma * torch.nn.functional.softplus(m))
    bce = torch.nn.functional.softplus(-m)
    sig_m, sig_neg = torch.sigmoid(m), torch.sigmoid(-m)
    return focal_weight * sig_m * (gamma * gamma * sig_m * bce +
                                   (2 * gamma + 1) * sig_neg -
                                   gamma * sig_neg * bce)


def _binary_dual_focal_curvature(m: Tensor, gamma: Tensor) -> Tensor:
    """d2/dm2 of -log(1 - d**gamma), d = sigmoid(-m), t = gamma softplus(m).

    u'' = gamma sigma(m) / expm1(t) * [gamma sigma(m) / (1 - e^-t)
    - sigma(-m)], written without e^t / expm1(t)^2 (inf / inf for large t).
    Below the hard margin u is linear in m to fp32 precision: u'' = 0.
    """
    t = gamma * torch.nn.functional.softplus(m)
    sig_m = torch.sigmoid(m)
    curvature = gamma * sig_m / _expm1(t) * (
        gamma * sig_m / -_expm1(-t) - torch.sigmoid(-m))
    return torch.where(m < _HARD_MARGIN, torch.zeros_like(m), curvature)


def _elementwise(x: Tensor, y: Tensor, positive: Tensor, gamma: Tensor,
                 alpha: Optional[Tensor], term_kind: str, dense_target: bool):
    """Loss, dloss/dx and dloss/dgamma per element, in the dtype of x."""
    sign = torch.where(positive, 1.0, -1.0).to(x.dtype)
    m = sign * x
    if term_kind == FOCAL_TERM:
        alpha_t = torch.ones_like(x) if alpha is None else (
            y * alpha + (1 - y) * (1 - alpha))
        loss, dm, dg = _binary_focal(m, gamma, alpha_t)
    else:
        loss, dm, dg = _binary_dual_focal(m, gamma)
    dx = sign * dm
    if not dense_target:
        return loss, dx, dg
    # Soft targets: the binary formulas are exact for y in {0, 1} only.
    binary = (y == 0) | (y == 1)
    if term_kind == FOCAL_TERM:
        s_loss, s_dx, s_dg = _soft_focal(x, y, gamma, alpha_t)
    else:
        s_loss, s_dx, s_dg = _soft_dual_focal(x, y, gamma)
    return (torch.where(binary, loss, s_loss), torch.where(binary, dx, s_dx),
            torch.where(binary, dg, s_dg))


def _targets(x: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
    """(y, y >= 1/2) for labels (compared, never one-hot) or dense targets."""
    if target.dim() == 2:
        y = target.to(x.dtype)
        return y, y >= 0.5
    classes = torch.arange(x.shape[1], device=x.device)
    positive = target.unsqueeze(1) == classes.unsqueeze(0)
    return positive.to(x.dtype), positive


def _term_weight(scale, row_weight: Optional[Tensor],
                 class_weight: Optional[Tensor], elem_weight: Optional[Tensor],
                 dtype: torch.dtype):
    """scale x row (N,) x class (C,) x element (N, C) weights, broadcastable."""
    weight = torch.as_tensor(scale).to(dtype)
    if row_weight is not None:
        weight = weight * row_weight.to(dtype).unsqueeze(1)
    if class_weight is not None:
        weight = weight * class_weight.to(dtype)
    if elem_weight is not None:
        weight = weight * elem_weight.to(dtype)
    return weight


def _fused(logits: Tensor, target: Tensor, row_weight: Optional[Tensor],
           class_weight: Optional[Tensor], elem_weight: Optional[Tensor],
           gamma: Tensor, alpha: Optional[Tensor], scale: Tensor,
           term_kind: str, dense_target: bool, keep_elementwise: bool,
           class_gradient_sums: bool, gamma_pass: bool):
    """One pass over the logits.

    Returns (loss, dloss/dx) plus, with ``class_gradient_sums``, the sums of
    ``|dloss/dx|`` per class over positive and over negative terms (C,) each;
    or, with ``gamma_pass``, dloss/dgamma. The gamma gradient is its own pass
    recomputed from the logits: fused with the first, inductor's CPU code
    writes the terms the two share out as N x C buffers (4x the logits'
    memory, measured).
    """
    dtype = compute_dtype(logits)
    x = logits.to(dtype)
    gamma = gamma.to(dtype)
    alpha = None if alpha is None else alpha.to(dtype)
    y, positive = _targets(x, target)
    loss, dx, dg = _elementwise(x, y, positive, gamma, alpha, term_kind,
                                dense_target)
    weight = _term_weight(scale, row_weight, class_weight, elem_weight, dtype)
    if gamma_pass:
        return weight * dg if keep_elementwise else (weight * dg).sum()
    loss = weight * loss
    grad = weight * dx
    outputs = (loss if keep_elementwise else loss.sum(), grad.to(logits.dtype))
    if not class_gradient_sums:
        return outputs
    magnitude = grad.abs()
    # Each sum on its own: the negative one as total minus positive loses
    # every digit in fp32 when a class's positive terms dominate its column
    # (sigmoid heads at prior 0.001: the negatives can be 1e-7 of it).
    return outputs + ((magnitude * y).sum(0), (magnitude * (1 - y)).sum(0))


def compile_enabled() -> bool:
    """Whether the kernel is compiled (``FOCAL_DET_COMPILE`` != 0)."""
    return os.environ.get('FOCAL_DET_COMPILE', '1') != '0'


_compiled_fused = None


def _run_compiled(*args):
    global _compiled_fused
    if _compiled_fused is None:
        _compiled_fused = torch.compile(_fused, dynamic=True)
    return _compiled_fused(*args)


def _run_eager(logits, target, row_weight, class_weight, elem_weight, *rest):
    """The same expression eagerly, in row chunks so that temporaries stay small."""
    keep_elementwise, gamma_pass = rest[-3], rest[-1]
    if logits.shape[0] <= _EAGER_CHUNK_ROWS:
        return _fused(logits, target, row_weight, class_weight, elem_weight,
                      *rest)
    parts = []
    for start in range(0, logits.shape[0], _EAGER_CHUNK_ROWS):
        rows = slice(start, start + _EAGER_CHUNK_ROWS)
        parts.append(
            _fused(logits[rows], target[rows],
                   None if row_weight is None else row_weight[rows],
                   class_weight,
                   None if elem_weight is None else elem_weight[rows], *rest))
    if gamma_pass:
        return torch.cat(parts) if keep_elementwise else sum(parts)
    # loss: rows or a sum; grad: rows; class gradient sums: sums
    merged = [torch.cat([part[0] for part in parts]) if keep_elementwise
              else sum(part[0] for part in parts),
              torch.cat([part[1] for part in parts])]
    for index in range(2, len(parts[0])):
        merged.append(sum(part[index] for part in parts))
    return tuple(merged)


def _run(*args, with_gamma_grad: bool):
    """(loss, dloss/dx, class gradient sums or None, dloss/dgamma or None)."""
    run = _run_compiled if compile_enabled() else _run_eager
    outputs = run(*args, False)
    gamma_grad = run(*args, True) if with_gamma_grad else None
    sums = outputs[2:] if len(outputs) > 2 else None
    return outputs[0], outputs[1], sums, gamma_grad


def dual_focal_boundary(gamma: Tensor) -> Tuple[Tensor, Tensor]:
    """c(gamma) = -log(1 - 2**-gamma), the DFL value at d = 1/2, and dc/dgamma."""
    ln2_gamma = gamma * math.log(2.0)
    c = -torch.log(-torch.expm1(-ln2_gamma))
    dc = -math.log(2.0) / torch.expm1(ln2_gamma)
    return c, dc


class _FocalFamilyFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits, target, row_weight, class_weight, elem_weight,
                gamma, alpha, scale, term_kind, normalize_at_boundary,
                keep_elementwise, class_gradient_sums):
        with_gamma_grad = gamma.requires_grad
        gamma = gamma.detach()
        kernel_scale = scale
        if normalize_at_boundary:
            boundary, dboundary = dual_focal_boundary(gamma)
            kernel_scale = scale / boundary
        loss, grad, sums, gamma_grad = _run(
            logits, target, row_weight, class_weight, elem_weight, gamma,
            alpha, kernel_scale, term_kind, target.dim() == 2,
            keep_elementwise, class_gradient_sums is not None,
            with_gamma_grad=with_gamma_grad)
        if sums is not None:
            class_gradient_sums += torch.stack(sums).to(
                class_gradient_sums.dtype)
        if with_gamma_grad and normalize_at_boundary:
            # d(u / c)/dgamma = u_gamma / c - (u / c) * c' / c
            gamma_grad = gamma_grad - loss * dboundary / boundary
        ctx.keep_elementwise = keep_elementwise
        ctx.gamma_dtype = gamma.dtype
        ctx.curvature_args = (term_kind, normalize_at_boundary)
        ctx.with_gamma_grad = with_gamma_grad
        # Inputs are saved by reference (no copy): double backward needs them.
        ctx.save_for_backward(grad, gamma_grad, logits, target, row_weight,
                              class_weight, elem_weight, gamma, alpha, scale)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        grad, gamma_grad, *inputs = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: keep d(grad)/dx
            if ctx.with_gamma_grad:
                raise NotImplementedError(
                    'double backward through a learnable gamma is not '
                    'supported; fix gamma for Hessian computations')
            grad_logits = _CurvatureScaledGradient.apply(
                grad, grad_output, *inputs, *ctx.curvature_args)
        elif ctx.keep_elementwise:
            grad_logits = grad * grad_output.to(grad.dtype)
        elif grad_output.device.type == 'cpu' and grad_output.item() == 1.0:
            # The usual case: hand the saved gradient over without a copy.
            grad_logits = grad
        else:
            grad_logits = grad * grad_output.to(grad.dtype)
        grad_gamma = None
        if gamma_grad is not None:
            grad_gamma = (gamma_grad * grad_output).sum().to(ctx.gamma_dtype)
        return (grad_logits, None, None, None, None, grad_gamma) + (None, ) * 6


class _CurvatureScaledGradient(torch.autograd.Function):
    """``grad * grad_output`` whose derivative w.r.t. the logits is known.

    Used in backward with ``create_graph=True``: the terms are elementwise,
    so d(grad)/dlogits is the diagonal :func:`focal_family_curvature`.
    """

    @staticmethod
    def forward(ctx, grad, grad_output, logits, target, row_weight,
                class_weight, elem_weight, gamma, alpha, scale, term_kind,
                normalize_at_boundary):
        ctx.save_for_backward(grad, grad_output, logits, target, row_weight,
                              class_weight, elem_weight, gamma, alpha, scale)
        ctx.curvature_args = (term_kind, normalize_at_boundary)
        return grad * grad_output.to(grad.dtype)

    @staticmethod
    def backward(ctx, upstream):
        (grad, grad_output, logits, target, row_weight, class_weight,
         elem_weight, gamma, alpha, scale) = ctx.saved_tensors
        term_kind, normalize_at_boundary = ctx.curvature_args
        curvature = focal_family_curvature(
            logits, target, gamma, term_kind,
            None if alpha is None else float(alpha), row_weight, elem_weight,
            float(scale), normalize_at_boundary, class_weight)
        grad_logits = (upstream * curvature * grad_output).to(logits.dtype)
        grad_grad_output = (upstream * grad).sum() if grad_output.dim() == 0 \
            else upstream * grad
        return (None, grad_grad_output, grad_logits) + (None, ) * 9


def focal_family_curvature(logits: Tensor,
                           target: Tensor,
                           gamma: Tensor,
                           term_kind: str = FOCAL_TERM,
                           alpha: Optional[float] = None,
                           row_weight: Optional[Tensor] = None,
                           elem_weight: Optional[Tensor] = None,
                           scale: float = 1.0,
                           normalize_at_boundary: bool = False,
                           class_weight: Optional[Tensor] = None) -> Tensor:
    """Closed-form second derivative of the loss w.r.t. each logit.

    The loss is a sum of elementwise terms, so its Hessian w.r.t. the
    logits is diagonal; this returns that diagonal, weighted and scaled as
    :func:`focal_family_loss` weights and scales the terms. It is what the
    fused loss uses for double backward (Hessian-vector products).

    Args:
        logits, target, gamma, term_kind, alpha, row_weight, elem_weight,
        scale, normalize_at_boundary, class_weight: As in
            :func:`focal_family_loss`; targets must be labels (N,) or
            binary (N, C).

    Returns:
        Tensor: d2 loss / dlogits2, shape (N, C), in the compute dtype.
    """
    dtype = compute_dtype(logits)
    x = logits.detach().to(dtype)
    gamma = gamma.detach().to(dtype=dtype, device=x.device)
    if target.dim() == 2 and bool(((target != 0) & (target != 1)).any()):
        raise NotImplementedError('second derivatives are implemented for '
                                  'label and binary targets only')
    y, positive = _targets(x, target)
    m = torch.where(positive, x, -x)
    if term_kind == FOCAL_TERM:
        alpha_t = torch.ones_like(x) if alpha is None else (
            y * alpha + (1 - y) * (1 - alpha))
        curvature = _binary_focal_curvature(m, gamma, alpha_t)
    else:
        curvature = _binary_dual_focal_curvature(m, gamma)
    if normalize_at_boundary:
        scale = scale / float(dual_focal_boundary(gamma)[0])
    return _term_weight(scale, row_weight, class_weight, elem_weight,
                        dtype) * curvature


def focal_family_loss(logits: Tensor,
                      target: Tensor,
                      gamma: Tensor,
                      term_kind: str = FOCAL_TERM,
                      alpha: Optional[float] = None,
                      row_weight: Optional[Tensor] = None,
                      elem_weight: Optional[Tensor] = None,
                      scale: float = 1.0,
                      normalize_at_boundary: bool = False,
                      keep_elementwise: bool = False,
                      class_weight: Optional[Tensor] = None,
                      class_gradient_sums: Optional[Tensor] = None) -> Tensor:
    """Weighted sum (or map) of a focal-family loss over N x C sigmoid terms.

    Args:
        logits (Tensor): Logits of shape (N, C), any float dtype; computed in
            fp32 (float64 inputs in float64).
        target (Tensor): Labels of shape (N,) with values in [0, C] (C is
            background), or dense targets of shape (N, C) in [0, 1]
            (one-hot or soft).
        gamma (Tensor): Focusing parameter, 0-dim, or one per class (C,)
            (not learnable then). If it requires grad, its gradient is
            computed from the logits in a second pass.
        term_kind (str): ``'fl'`` (focal term) or ``'dfl'`` (dual focal
            term), see :mod:`focal_det.loss_names`.
        alpha (float, optional): Focal alpha; ``None`` disables it.
        row_weight (Tensor, optional): Weight per row, shape (N,).
        elem_weight (Tensor, optional): Weight per element, shape (N, C).
        scale (float): Multiplies every term (``loss_weight / avg_factor``).
        normalize_at_boundary (bool): Divide by the loss at d = 1/2
            (``-log(1 - 2**-gamma)``); used by the dual focal loss.
        keep_elementwise (bool): Return the (N, C) map instead of its sum.
        class_weight (Tensor, optional): Weight per class, shape (C,).
        class_gradient_sums (Tensor, optional): A (2, C) accumulator: the
            forward pass adds the sums of ``|dloss/dlogits|`` per class over
            positive terms (row 0) and negative terms (row 1) to it.

    Returns:
        Tensor: fp32 scalar, or (N, C) when ``keep_elementwise``.
    """
    if term_kind not in TERM_KINDS:
        raise ValueError(f'term_kind must be one of {TERM_KINDS}, '
                         f'got {term_kind!r}')
    if logits.shape[0] == 0:
        # Zero anchors: a zero loss that still joins the graph.
        zero = logits.float().sum() * 0.0
        if gamma.requires_grad:
            zero = zero + gamma * 0.0
        return logits.float() * 0.0 if keep_elementwise else zero
    device = logits.device
    alpha = None if alpha is None else torch.tensor(
        float(alpha), device=device, dtype=torch.float64)
    return _FocalFamilyFunction.apply(
        logits, target, row_weight, class_weight, elem_weight,
        gamma.to(device), alpha,
        torch.tensor(float(scale), device=device, dtype=torch.float64),
        term_kind, normalize_at_boundary, keep_elementwise,
        class_gradient_sums)
