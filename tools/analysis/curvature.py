"""Curvature of a detector's classification loss: CE vs FL vs DFL.

    python tools/analysis/curvature.py CONFIG CHECKPOINT \
        [--losses ce fl:1 fl:2 fl:3 dfl:2] [--batches 2] [--out-dir DIR]

For a few training batches at the checkpoint's parameters: the top Hessian
eigenvalue (power iteration on Hessian-vector products) and the Hessian
trace (Hutchinson) of the classification loss w.r.t. the model parameters,
for each loss; plus the closed-form d2 loss / dx2 per logit. Writes a
markdown table, a JSON file and a PNG into --out-dir.
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.runner import Runner

from focal_det.analysis.curvature import (detector_curvature, logit_curvature,
                                          loss_variants, variant_name)
from focal_det.engine import load_config, load_detector, prepare_data
from focal_det.loss_names import CE, DFL, FL

# (kind, gamma) of the curves and of the default variants.
COMPARED = ((CE, 0), (FL, 1), (FL, 2), (FL, 3), (DFL, 2))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--losses', nargs='+',
        default=[kind if kind == CE else f'{kind}:{gamma}'
                 for kind, gamma in COMPARED])
    parser.add_argument('--batches', type=int, default=1)
    parser.add_argument('--power-iters', type=int, default=15)
    parser.add_argument('--trace-samples', type=int, default=6)
    parser.add_argument('--out-dir', default='docs/figures')
    return parser.parse_args()


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), dpi=110)
    names = list(results)
    for ax, key, title in ((axes[0], 'top_eigenvalue',
                            'top Hessian eigenvalue'),
                           (axes[1], 'trace', 'Hessian trace (Hutchinson)')):
        ax.bar(names, [results[n][key] for n in names])
        ax.set_title(title)
        ax.tick_params(axis='x', rotation=30, labelsize=8)
    logits = torch.linspace(-8, 8, 401, dtype=torch.float64)
    for kind, gamma in COMPARED:
        axes[2].plot(logits, logit_curvature(kind, gamma, logits, True),
                     label=variant_name(kind, gamma))
    axes[2].set_title('d2 loss / dx2, positive target')
    axes[2].set_xlabel('logit x')
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    args = parse_args()
    cfg = load_config(args.config, None, 'none')
    prepare_data(cfg, ('train_dataloader', ))
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    model, _ = load_detector(cfg, args.checkpoint)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = []
    for batch in loader:
        batches.append(model.data_preprocessor(batch, training=True))
        if len(batches) == args.batches:
            break
    results = detector_curvature(model, batches, loss_variants(args.losses),
                                 args.power_iters, args.trace_samples)
    os.makedirs(args.out_dir, exist_ok=True)
    lines = ['| loss | loss value | top eigenvalue | trace |',
             '|---|---|---|---|']
    for name, row in results.items():
        lines.append(f"| {name} | {row['loss']:.4f} | "
                     f"{row['top_eigenvalue']:.4f} | {row['trace']:.3f} |")
    print('\n'.join(lines))
    with open(osp.join(args.out_dir, 'curvature.json'), 'w') as f:
        json.dump(results, f, indent=2)
    plot(results, osp.join(args.out_dir, 'curvature.png'))
    print(f"wrote {osp.join(args.out_dir, 'curvature.json')} and "
          f"{osp.join(args.out_dir, 'curvature.png')}")


if __name__ == '__main__':
    main()
