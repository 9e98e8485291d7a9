"""Image loading and the test-time preprocessing of an mmdet detector.

Reproduces, with numpy only, what mmdet does to an image before the network
sees it: ``LoadImageFromFile``, ``Resize`` (``keep_ratio`` or not), then
``DetDataPreprocessor`` (channel flip, ``(x - mean) / std``, zero padding of
the bottom and right edges to a multiple of ``pad_size_divisor``).

Images are read and resized with OpenCV when it is installed — the library
mmdet itself uses, so the network input is identical — and with Pillow
otherwise. Pillow decodes PNG/JPEG to the same pixels, but its bilinear
resize differs slightly from OpenCV's when an image has to be resized (the
embedded dataset's images are already at the network's scale and are not).
"""
import importlib
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InvalidDataError

# mmcv's names for the interpolation methods, mapped to each library's.
_CV2_INTERPOLATION = dict(nearest='INTER_NEAREST', bilinear='INTER_LINEAR',
                          bicubic='INTER_CUBIC', area='INTER_AREA',
                          lanczos='INTER_LANCZOS4')
_PILLOW_INTERPOLATION = dict(nearest='NEAREST', bilinear='BILINEAR',
                             bicubic='BICUBIC', box='BOX', lanczos='LANCZOS',
                             hamming='HAMMING')


@dataclass
class PreparedImage:
    """An image as the network sees it, and how to map boxes back.

    Attributes:
        network_input: (1, 3, H_in, W_in) float32, normalised and padded.
        image_shape: (h, w) of the resized image before padding; decoded
            boxes are clipped to it, as mmdet does.
        original_shape: (h, w) of the image as loaded.
        scale_factor: (w_scale, h_scale), resized size / original size.
    """
    network_input: np.ndarray
    image_shape: Tuple[int, int]
    original_shape: Tuple[int, int]
    scale_factor: Tuple[float, float]


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def load_image(path: str) -> np.ndarray:
    """Read an image file as RGB.

    Args:
        path: Any format OpenCV (or, without it, Pillow) decodes. Grey
            images are expanded to three channels and an alpha channel is
            dropped, as ``mmcv.imread(flag='color')`` does.

    Returns:
        (H, W, 3) uint8 array in RGB order.

    Raises:
        FileNotFoundError: ``path`` does not exist (it is named).
        InvalidDataError: The file is not a readable image (it is named).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    cv2 = _optional_module('cv2')
    if cv2 is not None:
        encoded = np.fromfile(path, dtype=np.uint8)
        bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
        if bgr is None:
            raise InvalidDataError(f'cannot read image {path}: OpenCV could '
                                   'not decode it (corrupt or not an image)')
        return np.ascontiguousarray(bgr[:, :, ::-1])
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            # OpenCV applies the EXIF orientation when decoding; so do we.
            return np.asarray(ImageOps.exif_transpose(image).convert('RGB'))
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidDataError(
            f'cannot read image {path}: {error}') from error


def resized_size(width: int, height: int,
                 resize: Dict[str, Any]) -> Tuple[int, int]:
    """The (width, height) mmdet's ``Resize`` gives an image.

    Args:
        width: Original width in pixels.
        height: Original height in pixels.
        resize: The sidecar's ``preprocess.resize``: ``scale`` (w, h) and
            ``keep_ratio``.

    Returns:
        (new_width, new_height). With ``keep_ratio`` the image is scaled by
        one factor so that its long side fits ``max(scale)`` and its short
        side ``min(scale)``, rounded half up like ``mmcv.rescale_size``.
    """
    scale_w, scale_h = resize['scale']
    if not resize['keep_ratio']:
        return int(scale_w), int(scale_h)
    factor = min(max(scale_w, scale_h) / max(width, height),
                 min(scale_w, scale_h) / min(width, height))
    return int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)


def resize_image(image: np.ndarray, size: Tuple[int, int],
                 interpolation: str, backend: str) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to ``size`` = (width, height).

    Args:
        image: (H, W, 3) uint8.
        size: Target (width, height).
        interpolation: mmcv's name (``'bilinear'``, ``'nearest'``, ...).
        backend: ``'cv2'`` (used when OpenCV is installed, Pillow
            otherwise) or ``'pillow'``.

    Returns:
        (height, width, 3) uint8.
    """
    cv2 = _optional_module('cv2') if backend == 'cv2' else None
    if cv2 is not None:
        return cv2.resize(
            image, size,
            interpolation=getattr(cv2, _CV2_INTERPOLATION[interpolation]))
    from PIL import Image
    method = getattr(Image.Resampling, _PILLOW_INTERPOLATION[interpolation])
    return np.asarray(Image.fromarray(image).resize(size, method))


def _padded(length: int, divisor: int) -> int:
    return -(-length // divisor) * divisor if divisor > 1 else length


def prepare_image(image_rgb: np.ndarray, preprocess: Dict[str, Any],
                  network_shape: Optional[Tuple[int, int]] = None
                  ) -> PreparedImage:
    """Resize, normalise and pad an image as the config's test pipeline does.

    Args:
        image_rgb: (H, W, 3) uint8 RGB, e.g. from :func:`load_image`.
        preprocess: The sidecar's ``preprocess`` section.
        network_shape: (H_in, W_in) of a model exported with a fixed input
            size; the image is padded up to it. ``None`` pads only to a
            multiple of ``pad_size_divisor``, as mmdet does.

    Returns:
        The :class:`PreparedImage`.

    Raises:
        InvalidDataError: The resized image is larger than ``network_shape``.
    """
    height, width = image_rgb.shape[:2]
    image = image_rgb
    scale_factor = (1.0, 1.0)
    resize = preprocess.get('resize')
    if resize is not None:
        new_width, new_height = resized_size(width, height, resize)
        image = resize_image(image, (new_width, new_height),
                             resize['interpolation'], resize['backend'])
        scale_factor = (new_width / width, new_height / height)
    if preprocess['channel_order'] == 'BGR':
        image = image[:, :, ::-1]
    mean = np.asarray(preprocess['mean'], dtype=np.float32)
    std = np.asarray(preprocess['std'], dtype=np.float32)
    normalised = (image.astype(np.float32) - mean) / std

    resized_height, resized_width = image.shape[:2]
    divisor = preprocess['pad_size_divisor']
    input_height = _padded(resized_height, divisor)
    input_width = _padded(resized_width, divisor)
    if network_shape is not None:
        if input_height > network_shape[0] or input_width > network_shape[1]:
            raise InvalidDataError(
                f'an image of {height}x{width} px is resized to '
                f'{resized_height}x{resized_width} px, larger than the '
                f'exported input {network_shape[0]}x{network_shape[1]}: '
                'export with --dynamic or a larger --shape')
        input_height, input_width = network_shape
    network_input = np.full((1, 3, input_height, input_width),
                            preprocess['pad_value'], dtype=np.float32)
    network_input[0, :, :resized_height, :resized_width] = \
        normalised.transpose(2, 0, 1)
    return PreparedImage(network_input=network_input,
                         image_shape=(resized_height, resized_width),
                         original_shape=(height, width),
                         scale_factor=scale_factor)
