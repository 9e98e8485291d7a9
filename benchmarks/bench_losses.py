"""Forward+backward time and peak extra memory of the classification losses.

Each (loss, shape) runs in its own processes: one for time (median of
``--iters`` forward+backward passes after two warm-up calls, the first of
which compiles), one for memory. Peak extra memory is the resident-set
high-water mark (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``)
during one forward+backward, minus the resident set just before it, in units
of the logits' size; it includes the gradient tensor written into
``logits.grad``.

    python benchmarks/bench_losses.py                 # the README table
    python benchmarks/bench_losses.py --iters 3 --shapes 2000x80
"""
import argparse
import json
import os
import subprocess
import sys
import time

LOSSES = {
    'mmdet FocalLoss': "dict(type='FocalLoss')",
    'SigmoidFocalLoss': "dict(type='SigmoidFocalLoss')",
    'ClassBalancedFocalLoss': "dict(type='ClassBalancedFocalLoss', "
    'class_counts=list(range(1, C + 1)))',
    'DualFocalLoss': "dict(type='DualFocalLoss')",
    'DualFocalLoss (learnable gamma)': "dict(type='DualFocalLoss', "
    'learnable_gamma=True)',
    # training mode: the pass also accumulates the gradient statistics
    'EqualizedFocalLoss': "dict(type='EqualizedFocalLoss')",
}
DEFAULT_SHAPES = ('20000x1203', '100000x80')


def _resident_bytes(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def measure(loss_cfg: str, n: int, c: int, iters: int) -> dict:
    """Time and memory of one loss on (n, c) logits, in this process."""
    import torch
    from mmdet.registry import MODELS

    import focal_det  # noqa: F401
    torch.manual_seed(0)
    loss_fn = MODELS.build(eval(loss_cfg, {'C': c}))
    logits = torch.randn(n, c).mul_(2).requires_grad_(True)
    labels = torch.randint(0, c, (n, ))
    labels[torch.rand(n) < 0.9] = c  # most anchors are background
    label_weights = torch.ones(n)
    avg_factor = float((labels < c).sum())

    def step():
        logits.grad = None
        loss_fn(logits, labels, label_weights,
                avg_factor=avg_factor).backward()

    start = time.perf_counter()
    step()  # compiles where the loss is compiled
    first_call = time.perf_counter() - start
    step()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    logits.grad = None
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM to the current resident set
    before = _resident_bytes('VmRSS')
    step()
    peak = _resident_bytes('VmHWM') - before
    return dict(
        n=n,
        c=c,
        median_s=sorted(times)[len(times) // 2],
        first_call_s=first_call,
        peak_extra_x=peak / (n * c * 4),
        threads=torch.get_num_threads())


def _child(name: str, n: int, c: int, iters: int, env=None) -> dict:
    out = subprocess.run([
        sys.executable, __file__, '--child', LOSSES[name], '--n',
        str(n), '--c',
        str(c), '--iters',
        str(iters)
    ],
                         check=True,
                         capture_output=True,
                         text=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_isolated(name: str, shape: str, iters: int) -> dict:
    """Time under the default allocator; memory in a second process.

    The memory run sets glibc's mmap threshold low so that large buffers
    are mapped on allocation and unmapped on free: the resident set then
    sees every allocation, where the default (adaptive, up to 32 MiB)
    threshold lets freed heap blocks be reused unseen. It changes timings
    (page faults on every new buffer), so time comes from the default run.
    """
    n, c = (int(v) for v in shape.split('x'))
    timing = _child(name, n, c, iters)
    memory = _child(name, n, c, 1,
                    dict(os.environ, MALLOC_MMAP_THRESHOLD_='131072'))
    return dict(loss=name, **dict(timing, peak_extra_x=memory['peak_extra_x']))


def markdown(rows) -> str:
    lines = [
        '| logits | loss | fwd+bwd (median) | speed-up vs mmdet | '
        'peak extra memory (x logits) | first call (compile) |',
        '|---|---|---|---|---|---|'
    ]
    for row in rows:
        base = next(r for r in rows if r['n'] == row['n'] and r['c'] ==
                    row['c'] and r['loss'] == 'mmdet FocalLoss')
        lines.append(
            f"| {row['n']} x {row['c']} | {row['loss']} | "
            f"{row['median_s'] * 1000:.0f} ms | "
            f"{base['median_s'] / row['median_s']:.1f}x | "
            f"{row['peak_extra_x']:.2f} | {row['first_call_s']:.1f} s |")
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--shapes', nargs='+', default=DEFAULT_SHAPES)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--losses', nargs='+', default=list(LOSSES),
                        choices=list(LOSSES), metavar='LOSS',
                        help='losses to measure (mmdet FocalLoss is always '
                        'measured: the speed-ups are relative to it)')
    parser.add_argument('--out', help='also write the table to this file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--n', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--c', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.n, args.c, args.iters)))
        return
    rows = []
    for shape in args.shapes:
        for name in dict.fromkeys(['mmdet FocalLoss'] + args.losses):
            rows.append(run_isolated(name, shape, args.iters))
            print(f"{name} {shape}: {rows[-1]['median_s'] * 1000:.0f} ms, "
                  f"peak extra {rows[-1]['peak_extra_x']:.2f}x",
                  file=sys.stderr)
    table = markdown(rows)
    print(f'torch threads: {rows[0]["threads"]}, cpus: {os.cpu_count()}')
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
