"""Fill the class counts of class-balanced losses from the training set."""
from typing import List, Optional

from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..datasets.class_counts import count_instances_per_class
from ..engine.distributed import unwrap_model
from ..losses.class_balanced import ClassBalancing, effective_number_weights


def class_count_losses(model) -> List[ClassBalancing]:
    """The class-balancing module of every loss in the model that needs counts."""
    return [
        m for m in unwrap_model(model).modules()
        if isinstance(m, ClassBalancing)
    ]


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Count instances per class in the training set before training.

    Losses whose counts are already known (given in the config, or restored
    by ``--resume``/``load_from``) keep them. Otherwise the counts are taken
    from the training dataset as the loop sees it (after filtering, with
    dataset wrappers such as repeat-factor sampling honoured), computed once
    on rank 0 and broadcast so that every process holds identical counts.

    Args:
        recount (bool): Count from the dataset even when counts are known.
    """

    priority = 'VERY_HIGH'

    def __init__(self, recount: bool = False) -> None:
        self.recount = recount

    def before_train(self, runner) -> None:
        losses = [
            loss for loss in class_count_losses(runner.model)
            if self.recount or not loss.has_class_counts
        ]
        if not losses:
            return
        counts: List[Optional[List[int]]] = [None]
        if get_rank() == 0:
            dataset = runner.train_dataloader.dataset
            num_classes = len(dataset.metainfo['classes'])
            counts[0] = count_instances_per_class(dataset, num_classes)
        broadcast_object_list(counts, src=0)
        for loss in losses:
            loss.set_class_counts(counts[0])
        runner.logger.info(summarize_counts(counts[0], losses[0]))


def summarize_counts(counts: List[int], balancing: ClassBalancing) -> str:
    """One log line on the counts and the (final) class-balanced weights."""
    weights = effective_number_weights(counts, balancing.beta,
                                       balancing.normalization)
    present = [c for c in counts if c > 0]
    ratio = max(present) / min(present) if present else float('nan')
    zero = len(counts) - len(present)
    return (f'class counts from the training set: {len(counts)} classes, '
            f'{sum(counts)} instances, max {max(counts)}, min {min(counts)}, '
            f'imbalance {ratio:.1f}x, {zero} classes without instances; '
            f'{balancing.owner}({balancing.extra_repr()}) weights '
            f'{float(weights.min()):.3f}..{float(weights.max()):.3f}')
