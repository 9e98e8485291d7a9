import pytest

from tests.tiny_data import TINY


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory):
    """The tiny embedded dataset, generated once for the whole suite."""
    from focal_det.datasets import generate_longtail_dataset
    root = str(tmp_path_factory.mktemp('tiny') / 'longtail')
    generate_longtail_dataset(root, seed=0, **TINY)
    return root


@pytest.fixture
def current_logger():
    """Make a new MMLogger the current one; forget it after the test.

    mmengine's current logger is the last one created and lives for the
    whole process; without this clean-up later tests (in any file) would
    log into this test's temporary file.
    """
    from mmengine.logging import MMLogger
    created = []

    def make(name, **kwargs):
        created.append(name)
        return MMLogger.get_instance(name, **kwargs)

    yield make
    for name in created:
        logger = MMLogger._instance_dict.pop(name)  # no public removal API
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)
