"""LVIS's frequency buckets, by the number of training images of a class."""

RARE_MAX_TRAIN_IMAGES = 10
COMMON_MAX_TRAIN_IMAGES = 100


def lvis_frequency(image_count: int) -> str:
    """LVIS frequency bucket of a class from its number of training images.

    Args:
        image_count (int): Training images containing the class.

    Returns:
        str: 'r' (rare, <= 10 images), 'c' (common, 11-100) or 'f'.
    """
    if image_count <= RARE_MAX_TRAIN_IMAGES:
        return 'r'
    if image_count <= COMMON_MAX_TRAIN_IMAGES:
        return 'c'
    return 'f'
