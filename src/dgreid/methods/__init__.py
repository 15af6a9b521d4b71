"""Methods: what one training step does. The trainer owns the loop.

Importing this package registers every method in :data:`METHODS`.
"""

from dgreid.methods import (  # noqa: F401  (register)
    baseline,
    dann,
    dimn,
    dualnorm,
    episodic,
    episodic_plus,
    extractor,
)
from dgreid.methods.base import Method
from dgreid.methods.factory import method_from_config
from dgreid.methods.registry import METHODS, build_method

__all__ = ["METHODS", "Method", "build_method", "method_from_config"]
