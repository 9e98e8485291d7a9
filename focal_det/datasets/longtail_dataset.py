"""MMDetection dataset class for the embedded long-tailed synthetic data."""
import json
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .longtail_drawing import LONGTAIL_CLASSES, LONGTAIL_PALETTE


@DATASETS.register_module()
class LongTailSynthDataset(CocoDataset):
    """COCO-format dataset written by
    :func:`~focal_det.datasets.longtail_synth.generate_longtail_dataset`.

    The classes are the generator's, in category-id order (the train
    split's most frequent class first); the palette is each class's drawing
    colour. Everything else (loading, filtering, the pipeline) is
    :class:`mmdet.datasets.CocoDataset`'s, so the usual arguments apply, e.g.
    ``LongTailSynthDataset(data_root='data/longtail',
    ann_file='annotations/train.json', data_prefix=dict(img='train/'),
    pipeline=[...])``.
    """

    METAINFO = dict(classes=LONGTAIL_CLASSES, palette=list(LONGTAIL_PALETTE))

    def load_data_list(self) -> List[dict]:
        """Load the annotations; a malformed file is named in the error."""
        try:
            return super().load_data_list()
        except (json.JSONDecodeError, KeyError, TypeError,
                IndexError) as error:
            raise ValueError(
                f'malformed annotation file {self.ann_file}: {error!r}; '
                'delete the data folder to regenerate the embedded '
                'dataset') from error
