"""The model zoo: ``get_model(name)``, ``list_models(pattern)``."""
from ._config import InputSpec, ModelConfig
from ._inputs import count_parameters, example_inputs
from ._registry import config_arguments, get_config, get_model, list_models, register_model

__all__ = ["InputSpec", "ModelConfig", "config_arguments", "count_parameters", "example_inputs",
           "get_config", "get_model", "list_models", "register_model"]
