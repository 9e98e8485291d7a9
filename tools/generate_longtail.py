"""Write the long-tailed synthetic detection dataset (COCO format).

Example::

    python tools/generate_longtail.py --out data/longtail --seed 0

The same seed always writes byte-identical files: train, val and the
calibration split (calib, drawn like val from its own random streams). See
``focal_det/datasets/longtail_synth.py`` for how the data are made.
"""
import argparse
import time

from focal_det.datasets.longtail_synth import generate_longtail_dataset


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True,
                        help='output directory (must not exist or be empty)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--image-size', type=int, default=128,
                        help='side of the square images in pixels')
    parser.add_argument('--num-train-images', type=int, default=600)
    parser.add_argument('--num-val-images', type=int, default=220)
    parser.add_argument('--head-instances', type=int, default=1000,
                        help='train objects of the most frequent class')
    parser.add_argument('--imbalance-ratio', type=float, default=125.0,
                        help='train objects of the most frequent class '
                        'divided by those of the rarest')
    return parser


def main() -> None:
    """Generate the dataset and print its per-class counts."""
    parser = build_parser()
    args = parser.parse_args()
    start = time.perf_counter()
    try:
        summary = generate_longtail_dataset(
            args.out, args.seed, image_size=args.image_size,
            num_train_images=args.num_train_images,
            num_val_images=args.num_val_images,
            head_instances=args.head_instances,
            imbalance_ratio=args.imbalance_ratio)
    except (ValueError, FileExistsError) as error:
        # Bad options or an occupied --out: a usage error, not a crash.
        parser.error(str(error))
    elapsed = time.perf_counter() - start
    print(f'{"id":>3} {"class":<16} {"train":>6} {"images":>6} {"freq":>4} '
          f'{"val":>4} {"calib":>5}')
    for category_id, row in enumerate(
            zip(summary['classes'], summary['train_instance_counts'],
                summary['train_image_counts'], summary['frequency'],
                summary['val_instance_counts'],
                summary['calib_instance_counts']), start=1):
        name, train_count, image_count, frequency, val_count, calib = row
        print(f'{category_id:>3} {name:<16} {train_count:>6} '
              f'{image_count:>6} {frequency:>4} {val_count:>4} {calib:>5}')
    print(f'wrote {summary["num_train_images"]} train, '
          f'{summary["num_val_images"]} val and as many calibration images '
          f'to {summary["out_dir"]} in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
