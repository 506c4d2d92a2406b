"""The model zoo: ``get_model(name)``, ``list_models(pattern)``."""
from ._config import ModelConfig
from ._registry import get_config, get_model, list_models, register_model

__all__ = ["ModelConfig", "get_config", "get_model", "list_models", "register_model"]
