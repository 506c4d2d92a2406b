"""The per-model configuration, re-exported for the model families.

:class:`ModelConfig` and its helpers live in :mod:`gluon_dl.config`, a module
with no MXNet behind it, so that the edge runtime can read artifact metadata
without the training stack.  The model families import them from here.
"""
from ..config import (DTYPES, InputSpec, ModelConfig, token_config, token_input,
                      valid_length_input)

__all__ = ["DTYPES", "InputSpec", "ModelConfig", "token_config", "token_input",
           "valid_length_input"]
