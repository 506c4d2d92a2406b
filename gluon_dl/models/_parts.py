"""Model parts: pieces of a registered model that export and ship on their own.

A generative model is trained whole, but a device runs only the part that
makes images: a VAE's decoder, a VQ-VAE's decoder.  A part is registered
beside its model with :func:`register_part`; :func:`get_part` returns a
HybridBlock that shares the model's parameters (a checkpoint of the whole
model fills it) and carries its own frozen :class:`ModelConfig`, so every
exporter, the export matrix and ``gluon-dl deploy MODEL --part NAME`` take it
like any model.  A part's full name is ``"<model>.<part>"`` (``"vae_mlp.decoder"``),
which is also its config's name.
"""
import fnmatch
import re

from ..errors import ArgumentError
from ..utils.registry import check_name, unknown_name
from ._config import ModelConfig
from ._registry import _load_families, get_model

_PARTS = {}  # "model.part" -> (builder, config)
_PART_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_part(model, part, config):
    """Register ``builder(net) -> HybridBlock`` as part ``part`` of model ``model``.

    Parameters
    ----------
    model : str
        The registered model the part belongs to.
    part : str
        Lower-case name (``"decoder"``).
    config : ModelConfig or callable
        The part's configuration, or ``config(net) -> ModelConfig`` for one
        that follows the built network (its latent size, say).  Its name
        must be ``"<model>.<part>"``.
    """
    if not isinstance(part, str) or not _PART_NAME.fullmatch(part):
        raise ArgumentError(f"part name must be lower-case letters, digits and '_', got "
                            f"{part!r}")

    def decorator(fn):
        key = f"{model}.{part}"
        if key in _PARTS:
            raise ArgumentError(f"part '{key}' is registered twice ({_PARTS[key][0].__module__} "
                                f"and {fn.__module__})")
        _PARTS[key] = (fn, config)
        return fn
    return decorator


def list_parts(model="*"):
    """Sorted full names ``"<model>.<part>"`` of the parts of models matching ``model``.

    ``list_parts("vae_mlp")`` -> ``["vae_mlp.decoder"]``; ``list_parts()``
    lists every registered part.
    """
    _load_families()
    pattern = check_name("model pattern", model)
    return sorted(k for k in _PARTS if fnmatch.fnmatch(k.rsplit(".", 1)[0], pattern))


def split_part_name(name):
    """``(model, part)`` of a registered full part name; UnknownNameError otherwise."""
    _load_families()
    if check_name("part name", name) not in _PARTS:
        raise unknown_name("model part", name, _PARTS,
                           f"registered parts: {', '.join(sorted(_PARTS)) or 'none'}")
    model, part = name.rsplit(".", 1)
    return model, part


def get_part(net, part, **kwargs):
    """The part ``part`` of ``net``, sharing its parameters, with its own config.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock or str
        A model built by :func:`get_model` (trained or loaded from a
        checkpoint), or a registered model name to build with ``kwargs``.
    part : str
        A part name of that model (``"decoder"``); :func:`list_parts` lists them.
    **kwargs
        Builder arguments when ``net`` is a name.

    Returns
    -------
    ModelPart
        A HybridBlock whose parameters are ``net``'s and whose ``config`` is
        the part's :class:`ModelConfig` (``config.name == "<model>.<part>"``).

    Raises
    ------
    UnknownNameError
        For a model or part that is not registered (with the close matches).
    ArgumentError
        For a ``net`` that carries no config (not built by ``get_model``).
    """
    if isinstance(net, str):
        net = get_model(net, **kwargs)
    elif kwargs:
        raise ArgumentError(f"get_part takes builder arguments only with a model name; got "
                            f"a built {type(net).__name__} and {sorted(kwargs)}")
    config = getattr(net, "config", None)
    if not isinstance(config, ModelConfig):
        raise ArgumentError(f"{type(net).__name__} carries no ModelConfig: take parts of a "
                            f"model built by gluon_dl.models.get_model")
    check_name("part name", part)
    _load_families()
    key = f"{config.name}.{part}"
    if key not in _PARTS:
        parts = [k.rsplit(".", 1)[1] for k in list_parts(config.name)]
        raise unknown_name(f"part of model '{config.name}'", part, parts,
                           f"its parts: {', '.join(parts)}" if parts else
                           f"'{config.name}' has no registered parts; list_parts() lists all")
    builder, part_config = _PARTS[key]
    if not isinstance(part_config, ModelConfig):
        part_config = part_config(net)
    if part_config.name != key:
        raise ArgumentError(f"part '{key}' is registered with a config named "
                            f"'{part_config.name}'; name it '{key}'")
    from ._part_block import ModelPart  # MXNet only once a part is built
    return ModelPart(builder(net), part_config)


def part_config(model_config, part, input_shape, **fields):
    """A part's config: ``"<model>.<part>"``, task "generation", the model's paper and lesson.

    Parameters
    ----------
    model_config : ModelConfig
        The whole model's config.
    part : str
    input_shape : tuple of int
        The part's input, batch axis excluded.
    **fields
        Further :class:`ModelConfig` fields (layout, input_range, input_dtype...).
    """
    fields.setdefault("task", "generation")
    return ModelConfig(name=f"{model_config.name}.{part}", input_shape=input_shape,
                       paper=model_config.paper, lesson=model_config.lesson, **fields)
