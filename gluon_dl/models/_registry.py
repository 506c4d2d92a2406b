"""Model registry: filled by ``@register_model`` where each model is defined.

Each entry is a builder and its configuration.  The configuration is a
:class:`ModelConfig` when the builder's arguments cannot change the inputs,
or a function of the builder's arguments (``image_size``, ``vocab_size``,
``in_channels``...) that returns one, so ``get_model(name, **kwargs).config``
always describes the network that was built.
"""
import fnmatch
import inspect
import numbers

from ..errors import ArgumentError
from ..utils.registry import check_name, unknown_name
from ._config import ModelConfig

_MODELS = {}


def register_model(config=None, name=None):
    """Register a model builder under ``name`` (default: the function's name).

    Parameters
    ----------
    config : ModelConfig or callable, optional
        The model's configuration, or a function that receives the builder's
        keyword arguments (those it names in its signature, or all of them
        when it takes ``**kwargs``) and returns the configuration of the
        network they build.  Its defaults must be the builder's.  The builder
        receives the configuration as ``config=`` when it accepts that argument.
    name : str, optional
        Registry name, defaults to the builder function's name.
    """
    def decorator(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ArgumentError(f"model '{key}' is registered twice "
                                f"({_MODELS[key][0].__module__} and {fn.__module__})")
        _MODELS[key] = (fn, config)
        fn.model_name = key
        return fn
    return decorator


def _lookup(name):
    _load_families()
    if check_name("model name", name) not in _MODELS:
        raise unknown_name("model", name, _MODELS, f"`gluon-dl models` lists all {len(_MODELS)}")
    return _MODELS[name]


def list_models(pattern="*"):
    """Sorted names of registered models matching a shell-style ``pattern``."""
    _load_families()
    pattern = check_name("pattern", pattern)
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def get_config(name, **kwargs):
    """The :class:`ModelConfig` of model ``name`` built with ``kwargs``.

    Raises
    ------
    UnknownNameError
        For an unknown name; the message lists the close matches.
    ArgumentError
        For arguments the builder does not take or values it refuses.
    """
    fn, config = _lookup(name)
    _check_arguments(name, fn, kwargs)
    return _derive_config(name, config, kwargs)


def config_arguments(name):
    """The builder arguments that model ``name``'s configuration depends on, with defaults.

    ``{}`` for a model whose configuration only follows ``num_classes``;
    ``{"image_size": 28}`` for ``dcgan_discriminator``.
    """
    _, config = _lookup(name)
    if config is None or isinstance(config, ModelConfig):
        return {}
    return {n: p.default for n, p in inspect.signature(config).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def get_model(name, **kwargs):
    """Build the registered model ``name``.

    The returned block carries its configuration as ``net.config``, derived
    from ``kwargs`` (``get_model('dcgan_discriminator', image_size=32)``
    takes 1x32x32 images, and its config says so).

    Raises
    ------
    UnknownNameError
        For an unknown name; the message lists the close matches.
    ArgumentError
        For arguments the builder does not take, or a configuration that the
        built network contradicts.
    """
    fn, config = _lookup(name)
    _check_arguments(name, fn, kwargs)
    config = _derive_config(name, config, kwargs)
    build_kwargs = dict(kwargs)
    if config is not None and "config" in inspect.signature(fn).parameters:
        build_kwargs.setdefault("config", config)
    try:
        net = fn(**build_kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ArgumentError(f"model '{name}': {_unexpected(exc)}; its arguments are "
                            f"{_argument_names(fn, config)}") from None
    net.config = config
    # An explicit config is checked too: builders take their class count from
    # num_classes, so config=cfg.replace(num_classes=3) alone builds their default.
    if config is not None and ("config" in kwargs or
                               set(kwargs) - {"num_classes", "prefix", "params"}):
        _check_fits(net, config, kwargs)
    return net


def _check_arguments(name, fn, kwargs):
    if "config" in kwargs and not isinstance(kwargs["config"], ModelConfig):
        raise ArgumentError(f"model '{name}': config must be a ModelConfig, got "
                            f"{type(kwargs['config']).__name__}")
    n = kwargs.get("num_classes")
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ArgumentError(f"model '{name}': num_classes must be a positive integer, got {n!r}")
    params = inspect.signature(fn).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise ArgumentError(f"model '{name}' does not take {', '.join(unknown)}; its "
                                f"arguments are {', '.join(params)}")


def _derive_config(name, config, kwargs):
    """The configuration for ``kwargs``: an explicit ``config=``, derived, or the registered one."""
    if "config" in kwargs:
        return kwargs["config"]
    if config is None:
        return None
    if not isinstance(config, ModelConfig):
        config = config(**_accepted(config, kwargs))
    if "num_classes" in kwargs and config.num_classes != kwargs["num_classes"]:
        config = config.replace(num_classes=kwargs["num_classes"])
    return config


def _accepted(fn, kwargs):
    """The items of ``kwargs`` that ``fn`` takes."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def _check_fits(net, config, kwargs):
    """Refuse a network that ``kwargs`` changed so that its config no longer holds.

    Shapes are inferred symbolically from ``config.inputs``: nothing is
    computed and no weight is allocated.
    """
    import mxnet as mx

    try:
        sym = net(*[mx.sym.var(spec.name) for spec in config.inputs])
    except mx.base.MXNetError:
        return  # a block that cannot be traced has nothing to check symbolically
    outputs = list(sym) if isinstance(sym, (list, tuple)) else [sym]
    shapes = {spec.name: (1,) + tuple(spec.shape) for spec in config.inputs}
    try:
        _, out_shapes, _ = mx.sym.Group(outputs).infer_shape_partial(**shapes)
    except mx.base.MXNetError as exc:
        raise ArgumentError(
            f"model '{config.name}' built with {_format(kwargs)} does not take the inputs its "
            f"config describes ({_format(shapes)}): {_first_line(exc)}; pass an explicit "
            f"config=ModelConfig(...) that describes them") from None
    n = config.num_classes
    if config.task == "classification" and n and out_shapes and out_shapes[0] \
            and out_shapes[0][-1] not in (0, n):
        raise ArgumentError(f"model '{config.name}' built with {_format(kwargs) or 'its defaults'} "
                            f"outputs {out_shapes[0][-1]} classes, its config says {n}; pass "
                            f"num_classes={n} too")


def _format(mapping):
    return ", ".join(f"{k}={v!r}" for k, v in mapping.items() if k != "config")


def _first_line(exc):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return next((line for line in lines if "Check failed" in line or "Error in" in line),
                lines[0] if lines else type(exc).__name__)


def _unexpected(exc):
    text = str(exc)
    return text[text.index("unexpected"):] if "unexpected" in text else text


def _argument_names(fn, config):
    names = [n for n, p in inspect.signature(fn).parameters.items()
             if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if config is not None and not isinstance(config, ModelConfig):
        names += [n for n, p in inspect.signature(config).parameters.items()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in names]
    return ", ".join(names) or "none"


def _load_families():
    # Importing the family modules runs their @register_model decorators.
    from . import _families  # noqa: F401
