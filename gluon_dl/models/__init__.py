"""The model zoo: ``get_model(name)``, ``list_models(pattern)``; parts of models that
ship on their own: ``get_part(net, "decoder")``, ``list_parts(pattern)``."""
from ._config import InputSpec, ModelConfig
from ._inputs import count_parameters, example_inputs
from ._parts import get_part, list_parts, register_part
from ._registry import config_arguments, get_config, get_model, list_models, register_model

__all__ = ["InputSpec", "ModelConfig", "config_arguments", "count_parameters", "example_inputs",
           "get_config", "get_model", "get_part", "list_models", "list_parts", "register_model",
           "register_part"]
