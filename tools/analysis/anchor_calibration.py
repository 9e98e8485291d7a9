"""Per-anchor calibration of a trained dense detector, raw vs recalibrated.

    python tools/analysis/anchor_calibration.py CONFIG CHECKPOINT [--out FILE.json]

Labels every validation anchor with the head's own assigner and compares
the (anchor, class) sigmoid scores with those labels: the event the
focal-entropy minimiser speaks about (focal_det.analysis.anchor_calibration).
"""
import argparse
import json

from mmengine.runner import Runner

from focal_det.analysis.anchor_calibration import anchor_calibration
from focal_det.engine import load_config, load_detector, prepare_data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--bins', type=int, default=20)
    parser.add_argument('--out', help='write the histograms as JSON')
    args = parser.parse_args()
    cfg = load_config(args.config, None, 'none')
    prepare_data(cfg, ('val_dataloader', ))
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    model, _ = load_detector(cfg, args.checkpoint)
    inverse_map = model.bbox_head.loss_cls.inverse_calibrator(
        model.bbox_head.cls_out_channels)
    histograms = anchor_calibration(
        model, Runner.build_dataloader(cfg.val_dataloader), inverse_map,
        args.bins)
    summary = {
        name: dict(ece=h.ece(), ece_above_0_1=h.ece(0.1),
                   pairs=int(h.count.sum()), bins=h.bins())
        for name, h in histograms.items()
    }
    for name, row in summary.items():
        print(f"{name}: ECE {row['ece']:.5f} over {row['pairs']} "
              f"anchor-class pairs; ECE over scores >= 0.1: "
              f"{row['ece_above_0_1']:.4f}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(params=dict(method=inverse_map.method,
                                       **inverse_map.params()),
                           **summary), f, indent=2)


if __name__ == '__main__':
    main()
