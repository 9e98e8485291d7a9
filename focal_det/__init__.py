"""focal_det: class-imbalance losses and tools for MMDetection 3.x.

Importing the package registers every module into mmdet's registries, so a
config only needs ``custom_imports = dict(imports=['focal_det'])``.

Without mmdet installed, the package still imports and nothing is
registered: its numpy-only parts (the theory of each loss in
``focal_det.theory``, the exported-model runtime in ``focal_det.deploy``)
work on a machine that has neither mmdet nor torch.
"""
import importlib.util

__version__ = '0.1.0'

if importlib.util.find_spec('mmdet') is not None:
    from . import checkpoint  # noqa: F401  (torch>=2.6 checkpoint loading)
    from . import datasets  # noqa: F401
    from . import engine  # noqa: F401
    from . import evaluation  # noqa: F401
    from . import heads  # noqa: F401
    from . import hooks  # noqa: F401
    from . import losses  # noqa: F401
