"""DistributedDataParallel that also runs on CPU (gloo), and unwrapping."""
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
# The runner looks wrappers up in mmengine's root registry (mmdet's child
# registry finds it there too).
from mmengine.registry import MODEL_WRAPPERS


def unwrap_model(model):
    """The model inside a DDP/FSDP wrapper, or the model itself."""
    return model.module if is_model_wrapper(model) else model


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """mmengine's DDP wrapper without ``device_ids`` for CPU modules.

    mmengine passes ``device_ids=[LOCAL_RANK]``, which torch accepts only for
    a module on a GPU; ``tools/train.py`` selects this wrapper when training
    distributed without CUDA.
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        if next(module.parameters()).device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)
