"""Model registry: filled by ``@register_model`` where each model is defined."""
import difflib
import fnmatch
import inspect

_MODELS = {}


def register_model(config=None, name=None):
    """Register a model builder under ``name`` (default: the function's name).

    Parameters
    ----------
    config : ModelConfig
        The model's configuration; the builder receives it as ``config=``
        when it accepts that argument.
    name : str, optional
        Registry name, defaults to the builder function's name.
    """
    def decorator(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"model '{key}' is registered twice "
                             f"({_MODELS[key][0].__module__} and {fn.__module__})")
        _MODELS[key] = (fn, config)
        fn.model_name = key
        return fn
    return decorator


def _lookup(name):
    _load_families()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model '{name}'{hint} (list_models() shows all "
                         f"{len(_MODELS)})")
    return _MODELS[name]


def list_models(pattern="*"):
    """Sorted names of registered models matching a shell-style ``pattern``."""
    _load_families()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def get_config(name, **kwargs):
    """The :class:`ModelConfig` of model ``name``, with ``num_classes`` applied."""
    _, config = _lookup(name)
    if config is not None and "num_classes" in kwargs:
        config = config.replace(num_classes=kwargs["num_classes"])
    return config


def get_model(name, **kwargs):
    """Build the registered model ``name``.

    The returned block carries its configuration as ``net.config``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the close matches.
    """
    fn, _ = _lookup(name)
    config = get_config(name, **kwargs)
    if config is not None and "config" in inspect.signature(fn).parameters:
        kwargs.setdefault("config", config)
    net = fn(**kwargs)
    net.config = config
    return net


def _load_families():
    # Importing the family modules runs their @register_model decorators.
    from . import _families  # noqa: F401
