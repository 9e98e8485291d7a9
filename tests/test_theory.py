"""The numpy theory of each loss against the torch forms it documents."""
import numpy as np
import pytest
import torch

from focal_det.losses.kernel import dual_focal_boundary
from focal_det.losses.reference import dual_focal_terms
from focal_det.theory.class_balanced import effective_alpha
from focal_det.theory.dual_focal import boundary_normaliser, dual_focal_loss


@pytest.mark.parametrize('gamma', [0.5, 1.0, 2.0, 7.5])
def test_dual_focal_numpy_form_is_the_reference_and_kernel_form(gamma):
    np.testing.assert_allclose(dual_focal_loss(0.5, gamma), 1.0, rtol=1e-14)
    np.testing.assert_allclose(
        boundary_normaliser(gamma),
        float(dual_focal_boundary(torch.tensor(gamma,
                                               dtype=torch.float64))[0]),
        rtol=1e-14)
    logits = torch.linspace(-6, 6, 25, dtype=torch.float64)
    for target in (0.0, 1.0, 0.3):
        y = torch.full_like(logits, target)
        d = (y - torch.sigmoid(logits)).abs().numpy()
        np.testing.assert_allclose(dual_focal_loss(d, gamma),
                                   dual_focal_terms(logits, y, gamma).numpy(),
                                   rtol=1e-9, atol=1e-12)  # its log(1 - .)


def test_effective_alpha_of_class_balanced_focal_loss():
    weights = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(effective_alpha(0.25, weights),
                               0.25 * weights / (0.25 * weights + 0.75))
    # Weight 1 keeps alpha; no alpha weighting is alpha = 1/2.
    assert effective_alpha(0.25, [1.0])[0] == pytest.approx(0.25)
    np.testing.assert_allclose(effective_alpha(None, weights),
                               weights / (weights + 1))
