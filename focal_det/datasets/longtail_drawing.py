"""Drawing the embedded dataset's images: classes, shapes, clutter, occlusion.

The twenty classes are five shapes in four colours. An image is a textured
background with unannotated distractors and the annotated objects, drawn in
order with later ones over earlier ones; a placement that would hide more
than :data:`MAX_OCCLUSION` of an object already drawn is rejected, so every
annotated object keeps at least 40 % of its pixels and its box is the tight
box of its visible pixels. :mod:`focal_det.datasets.longtail_synth` deals
the labels into images and writes the splits.
"""
import math
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ('circle', 'square', 'triangle', 'cross', 'ring')
COLOURS = {
    'red': (210, 45, 45),
    'green': (45, 170, 70),
    'blue': (50, 90, 215),
    'yellow': (225, 200, 50),
}

# Class of rank k (category id k + 1) is shape k mod 5 in colour k mod 4.
# Since 5 and 4 are coprime this visits every (shape, colour) pair once, and
# neighbouring ranks never share a shape or a colour: the head and the tail
# both mix all shapes and colours, so rarity is not a shortcut to either cue.
_COLOUR_NAMES = tuple(COLOURS)
_CLASS_SPECS = tuple((SHAPES[rank % len(SHAPES)],
                      _COLOUR_NAMES[rank % len(_COLOUR_NAMES)])
                     for rank in range(len(SHAPES) * len(_COLOUR_NAMES)))

#: Class names in category-id order (id 1 first), which is also rank order:
#: the first class is the most frequent one in the train split.
LONGTAIL_CLASSES = tuple(f'{colour}_{shape}'
                         for shape, colour in _CLASS_SPECS)
#: The drawing colour of each class, in the order of LONGTAIL_CLASSES.
LONGTAIL_PALETTE = tuple(COLOURS[colour] for _, colour in _CLASS_SPECS)

#: Largest fraction of an annotated object that later objects may cover.
MAX_OCCLUSION = 0.6
#: Object sizes (diameter of the circle enclosing the shape) at the
#: reference image size; other image sizes scale them proportionally.
REFERENCE_IMAGE_SIZE = 128
REFERENCE_OBJECT_SIZE = (10, 48)
_PLACEMENT_TRIES = 200
# Each rejected placement shrinks the largest size allowed for the next try,
# so crowded images end with small objects instead of failing.
_PLACEMENT_SHRINK = 0.97
_PIXEL_NOISE_STD = 6.0


def draw_image(labels: np.ndarray, rng: np.random.Generator,
                image_size: int,
                object_size: Tuple[int, int]) -> Tuple[np.ndarray, List]:
    """Draw one image: textured background, distractors, then the objects.

    Args:
        labels: Class index of each object, in drawing order.
        rng: Random stream of this image.
        image_size: Side of the square image.
        object_size: Inclusive range of object sizes in pixels.

    Returns:
        The ``(image_size, image_size, 3)`` uint8 pixels, and per object a
        tuple ``(class_index, (x, y, w, h), visible_area)``.
    """
    canvas = Image.fromarray(_textured_background(rng, image_size))
    _draw_distractors(ImageDraw.Draw(canvas), rng, image_size)
    pixels = np.asarray(canvas, dtype=np.float32).copy()
    # owner[y, x] is the index of the object seen at that pixel, -1 if none.
    owner = np.full((image_size, image_size), -1, dtype=np.int32)
    drawn_areas = []
    for object_index, class_index in enumerate(labels):
        shape, colour = _CLASS_SPECS[class_index]
        mask = _place_object(shape, owner, drawn_areas, rng, object_size)
        owner[mask] = object_index
        drawn_areas.append(int(mask.sum()))
        pixels[mask] = _shaded_colour(COLOURS[colour], mask, rng)
    pixels += rng.normal(0.0, _PIXEL_NOISE_STD, size=pixels.shape)
    objects = []
    for object_index, class_index in enumerate(labels):
        rows, cols = np.nonzero(owner == object_index)
        box = (float(cols.min()), float(rows.min()),
               float(cols.max() - cols.min() + 1),
               float(rows.max() - rows.min() + 1))
        objects.append((int(class_index), box, float(rows.size)))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), objects


def _textured_background(rng: np.random.Generator,
                         image_size: int) -> np.ndarray:
    """Low-saturation texture: coarse and finer smooth noise, grey-ish.

    The tint is weak so the background never takes a class colour.
    """
    brightness = (_smooth_noise(rng, 4, image_size) * 50 +
                  _smooth_noise(rng, 12, image_size) * 20 +
                  rng.uniform(90, 160))
    tint = np.stack([_smooth_noise(rng, 5, image_size) for _ in range(3)],
                    axis=-1) * 15
    background = brightness[..., None] + tint
    return np.clip(np.rint(background), 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, grid_size: int,
                  image_size: int) -> np.ndarray:
    """Uniform [-1, 1] noise on a coarse grid, bilinearly upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(grid_size, grid_size))
    coords = np.linspace(0.0, grid_size - 1.0, image_size)
    lower = np.minimum(np.floor(coords).astype(np.int64), grid_size - 2)
    weight = coords - lower
    rows = (grid[lower] * (1 - weight)[:, None] +
            grid[lower + 1] * weight[:, None])
    return rows[:, lower] * (1 - weight) + rows[:, lower + 1] * weight


def _draw_distractors(draw: ImageDraw.ImageDraw, rng: np.random.Generator,
                      image_size: int) -> None:
    """Unannotated clutter under the objects: strokes and elongated blobs.

    Strokes may take any colour, so colour alone never identifies an
    object; blobs are elongated ellipses, so they never look like a class
    shape.
    """
    scale = image_size / REFERENCE_IMAGE_SIZE
    for _ in range(rng.integers(2, 7)):
        points = rng.uniform(0, image_size, size=(rng.integers(2, 5), 2))
        draw.line([tuple(point) for point in points],
                  fill=tuple(rng.integers(0, 256, size=3).tolist()),
                  width=max(1, round(rng.uniform(1, 3) * scale)))
    for _ in range(rng.integers(1, 4)):
        half_length = rng.uniform(4, 16) * scale
        half_width = half_length * rng.uniform(0.2, 0.5)
        angle = rng.uniform(0, np.pi)
        centre = rng.uniform(0, image_size, size=2)
        steps = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        outline = np.stack(
            [half_length * np.cos(steps), half_width * np.sin(steps)], axis=1)
        # Desaturated: halfway between a random colour and grey.
        colour = (rng.integers(0, 256, size=3) + 128) // 2
        draw.polygon(_rotate(outline, angle, centre),
                     fill=tuple(colour.tolist()))


def _place_object(shape: str, owner: np.ndarray, drawn_areas: List[int],
                  rng: np.random.Generator,
                  object_size: Tuple[int, int]) -> np.ndarray:
    """Find a position and size at which the new object hides no more than
    :data:`MAX_OCCLUSION` of any object drawn before it.

    Args:
        shape: One of :data:`SHAPES`.
        owner: Index of the visible object per pixel (-1: none).
        drawn_areas: Full pixel area of every object drawn so far.
        rng: Random stream of this image.
        object_size: Inclusive range of object sizes in pixels.

    Returns:
        The boolean pixel mask of the new object.

    Raises:
        RuntimeError: If no placement is found; the image is too crowded
            for its size.
    """
    image_size = owner.shape[0]
    min_size, max_size = object_size
    visible_areas = np.bincount(owner[owner >= 0],
                                minlength=len(drawn_areas))
    min_visible = (1.0 - MAX_OCCLUSION) * np.asarray(drawn_areas)
    for attempt in range(_PLACEMENT_TRIES):
        size_cap = max(min_size, max_size * _PLACEMENT_SHRINK**attempt)
        # Log-uniform: small objects are as common as large ones per octave.
        size = math.exp(rng.uniform(math.log(min_size), math.log(size_cap)))
        centre = rng.uniform(size / 2, image_size - size / 2, size=2)
        mask = _shape_mask(shape, size, centre, rng.uniform(0, 2 * np.pi),
                           image_size)
        if not mask.any():
            continue
        covered = owner[mask]
        hidden = np.bincount(covered[covered >= 0],
                             minlength=len(drawn_areas))
        if np.all(visible_areas - hidden >= min_visible):
            return mask
    raise RuntimeError(
        f'could not place a {shape} hiding at most {MAX_OCCLUSION:.0%} of '
        f'the {len(drawn_areas)} objects already in a {image_size}px image; '
        f'lower objects_per_image or object_size')


def _shape_mask(shape: str, size: float, centre: np.ndarray, angle: float,
                image_size: int) -> np.ndarray:
    """Rasterise a shape inscribed in a circle of diameter ``size``.

    Args:
        shape: One of :data:`SHAPES`.
        size: Diameter of the enclosing circle in pixels.
        centre: ``(x, y)`` of the centre.
        angle: Rotation in radians (ignored by the round shapes).
        image_size: Side of the square canvas.

    Returns:
        Boolean ``(image_size, image_size)`` mask.
    """
    canvas = Image.new('L', (image_size, image_size), 0)
    draw = ImageDraw.Draw(canvas)
    radius = size / 2
    x, y = centre
    if shape in ('circle', 'ring'):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius],
                     fill=255)
        if shape == 'ring':
            hole = radius * 0.55
            draw.ellipse([x - hole, y - hole, x + hole, y + hole], fill=0)
    else:
        if shape == 'square':
            half_side = radius / math.sqrt(2)
            outline = [(-half_side, -half_side), (half_side, -half_side),
                       (half_side, half_side), (-half_side, half_side)]
        elif shape == 'triangle':
            outline = [(radius * math.cos(corner), radius * math.sin(corner))
                       for corner in np.arange(3) * 2 * np.pi / 3]
        else:  # cross: arms a third as thick as long, tips on the circle.
            arm = radius / math.sqrt(1 + 1 / 9)
            bar = arm / 3
            outline = [(bar, -arm), (bar, -bar), (arm, -bar), (arm, bar),
                       (bar, bar), (bar, arm), (-bar, arm), (-bar, bar),
                       (-arm, bar), (-arm, -bar), (-bar, -bar), (-bar, -arm)]
        draw.polygon(_rotate(np.asarray(outline), angle, centre), fill=255)
    return np.asarray(canvas) > 0


def _rotate(points: np.ndarray, angle: float,
            centre: np.ndarray) -> List[Tuple[float, float]]:
    """Rotate ``(n, 2)`` points about the origin, then move to ``centre``."""
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[cos, sin], [-sin, cos]]) + centre
    return [tuple(point) for point in rotated.tolist()]


def _shaded_colour(base_colour: Tuple[int, int, int], mask: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Per-object colour jitter and a linear shading across the object.

    Keeps instances of a class from being pixel-identical while staying
    far from the other class colours.

    Returns:
        ``(mask.sum(), 3)`` float colours for the masked pixels.
    """
    colour = np.asarray(base_colour, np.float32) + rng.uniform(-20, 20, 3)
    rows, cols = np.nonzero(mask)
    extent = max(rows.max() - rows.min(), cols.max() - cols.min(), 1)
    direction = rng.uniform(0, 2 * np.pi)
    position = ((cols - cols.mean()) * math.cos(direction) +
                (rows - rows.mean()) * math.sin(direction)) / extent
    shading = 1.0 + rng.uniform(0.1, 0.3) * position
    return np.clip(colour[None, :] * shading[:, None], 0, 255)
