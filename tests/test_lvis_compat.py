"""The lvis numpy-alias patch changes lvis.eval's view of numpy, nothing else."""
import sys

import numpy as np
import pytest

import focal_det.evaluation  # noqa: F401  (applies the patch)
from focal_det.evaluation.lvis_compat import (NumpyWithAliases,
                                              patch_lvis_numpy_aliases)

lvis_eval_module = pytest.importorskip('lvis.eval')


def test_only_lvis_eval_sees_the_alias():
    assert isinstance(lvis_eval_module.np, NumpyWithAliases)
    assert lvis_eval_module.np.float is float
    # numpy itself keeps the alias removed (other code still sees the
    # error), and no other module holding numpy got the view.
    assert sys.modules['numpy'] is np
    assert not hasattr(np, 'float')
    others = [
        name for name, module in list(sys.modules.items())
        if module is not None and name != 'lvis.eval'
        and isinstance(getattr(module, 'np', None), NumpyWithAliases)
    ]
    assert others == []


def test_the_view_forwards_everything_else_to_numpy():
    assert lvis_eval_module.np.cumsum is np.cumsum
    assert lvis_eval_module.np.ndarray is np.ndarray
    assert lvis_eval_module.np.__name__ == 'numpy'


def test_patching_again_changes_nothing():
    view = lvis_eval_module.np
    assert patch_lvis_numpy_aliases()
    assert lvis_eval_module.np is view
