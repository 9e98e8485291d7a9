from .recalibrating_retina_head import (RecalibratingRetinaHead,
                                        recalibrate_logits,
                                        recalibration_requested)

__all__ = [
    'RecalibratingRetinaHead', 'recalibrate_logits', 'recalibration_requested'
]
