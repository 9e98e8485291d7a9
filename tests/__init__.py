"""focal_det's test suite; its helpers are imported as ``tests.<module>``."""
