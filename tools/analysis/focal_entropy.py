"""Plot how the focal-entropy minimiser departs from the data distribution.

    python tools/analysis/focal_entropy.py [--out-dir docs/figures] \
        [--gammas 0 0.5 1 2 3 5]

Writes five PNGs into --out-dir (see docs/focal_entropy.md):

* ``focal_entropy_binary.png``: per-class sigmoid minimiser q*(p) against
  p, without weighting and with alpha = 0.25;
* ``focal_entropy_binary_distortion.png``: the same as q*/p on a log p axis;
* ``focal_entropy_simplex_k3.png``: K = 3, p = (x, (1 - x)/2, (1 - x)/2),
  q*_1 against x and q*_1 / x;
* ``focal_entropy_long_tail.png``: q*/p per class of a Zipf distribution
  on 100 classes, and the tail ratio q*/p of a 1e-6 class next to n >= 2
  equal head classes (over-suppression when it is below 1);
* ``focal_entropy_tilt.png``: the focal tilt psi(p) = p phi(p), whose
  crossing of the multiplier lambda decides amplification vs suppression.
"""
import argparse
import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
import numpy as np  # noqa: E402

from focal_det.theory.focal import (focal_tilt,  # noqa: E402
                                    sigmoid_minimiser, simplex_minimiser)

TAIL_PROBABILITY = 1e-6
ZIPF_CLASSES = 100


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='docs/figures')
    parser.add_argument('--gammas', type=float, nargs='+',
                        default=[0.0, 0.5, 1.0, 2.0, 3.0, 5.0])
    parser.add_argument('--dpi', type=int, default=110)
    return parser.parse_args()


def gamma_colours(gammas):
    return plt.cm.viridis(np.linspace(0.0, 0.9, len(gammas)))


def binary_figures(gammas, out_dir, dpi):
    """q*(p) and q*/p of the sigmoid form, alpha = None and 0.25."""
    p_linear = np.linspace(0.0, 1.0, 401)
    p_log = np.logspace(-6, np.log10(0.999), 400)
    paths = []
    for name, p, distortion in (('binary', p_linear, False),
                                ('binary_distortion', p_log, True)):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=dpi,
                                 sharey=True)
        for ax, alpha in zip(axes, (None, 0.25)):
            for gamma, colour in zip(gammas, gamma_colours(gammas)):
                q = sigmoid_minimiser(p, gamma, alpha)
                ax.plot(p, q / p if distortion else q, color=colour,
                        label=f'gamma = {gamma:g}')
            weighting = 'no alpha' if alpha is None else f'alpha = {alpha}'
            if distortion:
                ax.axhline(1.0, color='k', lw=0.6, ls='--')
                ax.set_xscale('log')
                ax.set_yscale('log')
                ax.set_ylabel('q* / p')
                ax.set_title(f'Sigmoid focal-entropy distortion, {weighting}')
            else:
                ax.plot([0, 1], [0, 1], color='k', lw=0.6, ls='--')
                ax.set_ylabel('q*')
                ax.set_title(f'Sigmoid focal-entropy minimiser, {weighting}')
            ax.set_xlabel('target probability p')
            ax.grid(alpha=0.3, which='both' if distortion else 'major')
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        paths.append(save(fig, out_dir, f'focal_entropy_{name}.png'))
    return paths


def simplex_k3_figure(gammas, out_dir, dpi):
    """K = 3 with the first class swept against two equal others."""
    x = np.concatenate([np.logspace(-6, -1, 200, endpoint=False),
                        np.linspace(0.1, 0.999, 200)])
    p = np.stack([x, (1 - x) / 2, (1 - x) / 2], axis=-1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=dpi)
    for gamma, colour in zip(gammas, gamma_colours(gammas)):
        q = simplex_minimiser(p, gamma)[:, 0]
        axes[0].plot(x, q, color=colour, label=f'gamma = {gamma:g}')
        axes[1].plot(x, q / x, color=colour, label=f'gamma = {gamma:g}')
    axes[0].plot([0, 1], [0, 1], color='k', lw=0.6, ls='--')
    axes[0].set_ylabel('q*_1')
    axes[0].set_title('K = 3, p = (x, (1-x)/2, (1-x)/2): minimiser')
    axes[1].axhline(1.0, color='k', lw=0.6, ls='--')
    axes[1].set_xscale('log')
    axes[1].set_yscale('log')
    axes[1].set_ylabel('q*_1 / x')
    axes[1].set_title('distortion (tail ratio -> 1/lambda as x -> 0)')
    for ax in axes:
        ax.set_xlabel('x = p_1')
        ax.grid(alpha=0.3, which='both')
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, 'focal_entropy_simplex_k3.png')


def long_tail_figure(gammas, out_dir, dpi):
    """Zipf distortion per class, and the tail ratio against head size."""
    zipf = 1.0 / np.arange(1, ZIPF_CLASSES + 1)
    zipf /= zipf.sum()
    # From n = 2: one head class (n = 1) amplifies the tail by up to 1e5,
    # which would flatten the region below 1 on the plot.
    n_head = np.arange(2, 31)
    # Row n: n equal head classes and one tail class; unused slots are 0.
    heads = np.where(np.arange(n_head[-1]) < n_head[:, None],
                     (1 - TAIL_PROBABILITY) / n_head[:, None], 0.0)
    rows = np.concatenate([heads, np.full((len(n_head), 1),
                                          TAIL_PROBABILITY)], axis=-1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=dpi)
    for gamma, colour in zip(gammas, gamma_colours(gammas)):
        label = f'gamma = {gamma:g}'
        axes[0].plot(zipf, simplex_minimiser(zipf, gamma) / zipf, '.-',
                     ms=3, color=colour, label=label)
        tail = simplex_minimiser(rows, gamma)[:, -1] / TAIL_PROBABILITY
        axes[1].plot(n_head, tail, 'o-', ms=3, color=colour, label=label)
    axes[0].set_xscale('log')
    axes[0].set_xlabel('class probability p_k (Zipf, 100 classes)')
    axes[0].set_ylabel('q*_k / p_k')
    axes[0].set_title('Long tail: head amplified, tail over-suppressed')
    axes[1].set_xlabel('number of equal head classes n')
    axes[1].set_ylabel(f'q* / p of a class with p = {TAIL_PROBABILITY:g}')
    axes[1].set_title('Tail ratio 1/lambda: < 1 is over-suppression')
    for ax in axes:
        ax.axhline(1.0, color='k', lw=0.6, ls='--')
        ax.grid(alpha=0.3, which='both')
    axes[1].set_yscale('log')
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, 'focal_entropy_long_tail.png')


def tilt_figure(gammas, out_dir, dpi):
    """psi(p): q*_i > p_i exactly where psi(p_i) > lambda."""
    p = np.logspace(-6, 0, 600)
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=dpi)
    for gamma, colour in zip(gammas, gamma_colours(gammas)):
        ax.plot(p, focal_tilt(p, gamma), color=colour,
                label=f'gamma = {gamma:g}')
    ax.axhline(1.0, color='k', lw=0.6, ls='--')
    ax.set_xscale('log')
    ax.set_xlabel('p')
    ax.set_ylabel('psi(p) = p phi(p)')
    ax.set_title('Focal tilt: q*_i > p_i iff psi(p_i) > lambda')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, 'focal_entropy_tilt.png')


def save(fig, out_dir, name):
    path = osp.join(out_dir, name)
    fig.savefig(path)
    plt.close(fig)
    return path


def main():
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    paths = binary_figures(args.gammas, args.out_dir, args.dpi)
    paths.append(simplex_k3_figure(args.gammas, args.out_dir, args.dpi))
    paths.append(long_tail_figure(args.gammas, args.out_dir, args.dpi))
    paths.append(tilt_figure(args.gammas, args.out_dir, args.dpi))
    for path in paths:
        print(path)


if __name__ == '__main__':
    main()
