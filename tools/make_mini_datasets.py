"""Write miniature COCO 2017 and LVIS v1 datasets where the configs look.

``python tools/make_mini_datasets.py [--out-dir data] [--seed 0]`` writes
``data/coco/`` (for ``configs/coco``) and ``data/lvis_v1/`` (for
``configs/lvis``): every category declared, a handful present, small
deterministic images. A data root that exists and is not empty is refused,
so a real dataset is never overwritten.
"""
import argparse
import os.path as osp

from focal_det.datasets.mini_formats import write_mini_coco, write_mini_lvis

WRITERS = {'coco': ('coco', write_mini_coco),
           'lvis': ('lvis_v1', write_mini_lvis)}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data',
                        help='parent of the data roots (default: data)')
    parser.add_argument('--formats', nargs='+', choices=sorted(WRITERS),
                        default=sorted(WRITERS))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=64,
                        help='side of the square images in pixels')
    return parser.parse_args()


def main():
    args = parse_args()
    for name in args.formats:
        folder, write = WRITERS[name]
        summary = write(osp.join(args.out_dir, folder), seed=args.seed,
                        image_size=args.image_size)
        present = ', '.join(f"{c['name']} ({c['frequency']}, "
                            f"{c['train_images']} train images)"
                            for c in summary['present'])
        print(f"{summary['data_root']}: {summary['num_images']['train']} "
              f"train / {summary['num_images']['val']} val images; "
              f'present: {present}')


if __name__ == '__main__':
    main()
