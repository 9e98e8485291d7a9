import pytest

from tiny_data import TINY


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory):
    """The tiny embedded dataset, generated once for the whole suite."""
    from focal_det.datasets import generate_longtail_dataset
    root = str(tmp_path_factory.mktemp('tiny') / 'longtail')
    generate_longtail_dataset(root, seed=0, **TINY)
    return root
