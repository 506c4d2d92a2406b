"""Loss functions the course teaches that Gluon lacks."""
from .generative import *  # noqa: F401,F403
from .generative import __all__ as _generative
from .pretraining import *  # noqa: F401,F403
from .pretraining import __all__ as _pretraining
from .sequence import *  # noqa: F401,F403
from .sequence import __all__ as _sequence

__all__ = list(_sequence) + list(_generative) + list(_pretraining)
