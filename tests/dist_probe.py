"""Test-only hook: each rank writes the class counts it holds (gloo test)."""
import json
import os.path as osp

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from focal_det.hooks import class_count_losses


@HOOKS.register_module()
class CountsProbeHook(Hook):
    priority = 'LOW'  # after ClassCountsHook

    def before_train(self, runner):
        self.counts = class_count_losses(runner.model)[0].class_counts.tolist()

    def after_train(self, runner):
        path = osp.join(runner.work_dir, f'probe_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(dict(counts=self.counts, world_size=get_world_size(),
                           iters=runner.iter), f)
