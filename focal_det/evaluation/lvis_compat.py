"""Let the ``lvis`` 0.5.3 evaluation API run on numpy >= 1.24.

numpy 1.24 removed the deprecated scalar aliases (``np.float``, ``np.int``,
...). ``lvis`` 0.5.3, the last release on PyPI, still uses exactly one of
them: ``np.float`` in ``LVISEval.accumulate`` (``lvis/eval.py``), so every
LVIS evaluation fails with ``AttributeError: module 'numpy' has no attribute
'float'`` once the detections have been matched.

The fix here is deliberately narrow: instead of putting the alias back on
the global ``numpy`` module (which would hide the same mistake in every other
library), only ``lvis.eval`` gets its own view of numpy in which the alias
exists. Everything else in that view is the real numpy, looked up on access.
Nothing in site-packages is edited.
"""
import types
from typing import Dict

import numpy

# The removed aliases that lvis 0.5.3 uses, mapped to the builtin each one
# aliased (``np.float`` was ``float``). Found by searching lvis' sources for
# ``np.<name>`` over the names numpy 1.24 removed; only ``lvis/eval.py`` uses
# one.
LVIS_REMOVED_NUMPY_ALIASES: Dict[str, type] = {'float': float}


class NumpyWithAliases(types.ModuleType):
    """A stand-in for the numpy module that adds a few removed aliases.

    Attributes set on the instance (the aliases) win; any other name is read
    from the real numpy module when it is looked up, so the view never goes
    stale.

    Args:
        aliases (dict): Alias name -> object it should resolve to.
    """

    def __init__(self, aliases: Dict[str, type]) -> None:
        super().__init__(numpy.__name__, numpy.__doc__)
        self.__dict__.update(aliases)

    def __getattr__(self, name: str):
        # Only called for names not in the instance dict, i.e. not an alias.
        return getattr(numpy, name)


def aliases_missing_from_numpy() -> Dict[str, type]:
    """Return the aliases lvis needs that the installed numpy lacks.

    Returns:
        dict: Empty on numpy < 1.24, where the aliases still exist.
    """
    return {
        name: target
        for name, target in LVIS_REMOVED_NUMPY_ALIASES.items()
        if not hasattr(numpy, name)
    }


def patch_lvis_numpy_aliases() -> bool:
    """Give ``lvis.eval`` a numpy view that still has ``np.float``.

    Safe to call many times and when lvis is not installed.

    Returns:
        bool: True if ``lvis.eval`` now sees the aliases it needs (patched
        now or earlier), False if lvis is not importable or numpy still has
        the aliases itself so nothing had to be done.
    """
    try:
        import lvis.eval as lvis_eval_module
    except ImportError:
        # lvis (or its cv2 dependency) is absent: mmdet's LVISMetric then
        # raises its own "Package lvis is not installed" error when built.
        return False
    if isinstance(lvis_eval_module.np, NumpyWithAliases):
        return True
    missing = aliases_missing_from_numpy()
    if not missing:
        return False
    lvis_eval_module.np = NumpyWithAliases(missing)
    return True
