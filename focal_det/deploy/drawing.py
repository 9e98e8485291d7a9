"""Draw detections on an image with Pillow.

Each box is outlined in its class's colour and labelled ``name score``.
Small images (the embedded dataset's are 128 px) are enlarged by a whole
factor first — pixels repeated, so nothing is blurred — because a legible
label would otherwise cover the object.
"""
import colorsys
from typing import Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .postprocess import Detections

#: :func:`auto_upscale` enlarges images until their longer side reaches it.
LEGIBLE_SIDE = 512


def auto_upscale(height: int, width: int, target: int = LEGIBLE_SIDE) -> int:
    """The whole enlargement factor for a legible drawing.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        target: Longer side to reach (at most).

    Returns:
        ``max(1, target // max(height, width))``: 4 for 128 px images,
        1 for images of ``target`` px or more.
    """
    return max(1, target // max(height, width))


def class_colour(label: int) -> Tuple[int, int, int]:
    """A bright colour per class, neighbouring classes far apart in hue.

    Args:
        label: Class index.

    Returns:
        (r, g, b) in 0..255.
    """
    golden_ratio_conjugate = 0.618033988749895
    hue = (label * golden_ratio_conjugate) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        # Pillow without FreeType has only its fixed bitmap font.
        return ImageFont.load_default()


def draw_detections(image_rgb: np.ndarray, detections: Detections,
                    class_names: Sequence[str], upscale: int = 1,
                    min_score: float = 0.0) -> Image.Image:
    """Draw boxes, class names and scores.

    Args:
        image_rgb: (H, W, 3) uint8 RGB, the image the detections are in.
        detections: Boxes in ``image_rgb``'s pixel coordinates.
        class_names: Name of each class index.
        upscale: Whole enlargement factor; the result is (H * upscale,
            W * upscale).
        min_score: Detections scoring below it are not drawn.

    Returns:
        The drawing, an RGB ``PIL.Image``.
    """
    height, width = image_rgb.shape[:2]
    canvas = Image.fromarray(image_rgb).convert('RGB')
    if upscale > 1:
        canvas = canvas.resize((width * upscale, height * upscale),
                               Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, 3 * upscale + 4))
    line_width = max(1, upscale // 2)
    # Worst first, so the best detections are drawn on top.
    for index in np.argsort(detections.scores, kind='stable'):
        score = float(detections.scores[index])
        if score < min_score:
            continue
        label = int(detections.labels[index])
        colour = class_colour(label)
        x1, y1, x2, y2 = (float(v) * upscale for v in detections.boxes[index])
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line_width)
        text = f'{class_names[label]} {score:.2f}'
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left, bottom - top
        # Above the box, or inside it when the box touches the top edge;
        # moved left when it would run past the right edge.
        text_y = y1 - text_h - 2 if y1 - text_h - 2 >= 0 else y1 + 1
        text_x = max(0.0, min(x1, canvas.width - text_w - 2))
        draw.rectangle(
            (text_x, text_y, text_x + text_w + 2, text_y + text_h + 2),
            fill=colour)
        draw.text((text_x + 1 - left, text_y + 1 - top), text,
                  fill=(0, 0, 0), font=font)
    return canvas
