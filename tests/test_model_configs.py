"""The registry derives every model's config from the arguments it was built with.

Parametrized over ``list_models()`` and, per model, over the builder
arguments its config depends on (``config_arguments``), so a family that
adds such an argument is tested without touching this file.
"""
import numbers

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.errors import ArgumentError, UnknownNameError  # noqa: E402
from gluon_dl.models import (config_arguments, example_inputs, get_config,  # noqa: E402
                             get_model, list_models)

MODELS = list_models()
DERIVED = [(name, arg, default) for name in MODELS
           for arg, default in config_arguments(name).items()
           if isinstance(default, numbers.Integral) and not isinstance(default, bool)]


def _outputs(out):
    if isinstance(out, (list, tuple)):
        return [o for item in out for o in _outputs(item)]
    return [out]


def _variant(name, arg, default):
    """The first other value of ``arg`` the builder accepts (DCGAN takes only 28 or 32)."""
    for value in (32, default + 4, 2 * default):
        if value == default:
            continue
        try:
            return value, get_model(name, **{arg: value})
        except ArgumentError:
            continue
    pytest.fail(f"{name} accepts no other {arg} than {default}")


def test_some_models_derive_their_config():
    derived = {name for name, _, _ in DERIVED}
    assert {"dcgan_discriminator", "rnn_lm", "seq2seq_gru", "transformer", "tcn"} <= derived


@pytest.mark.parametrize("name,arg,default", DERIVED,
                         ids=[f"{n}-{a}" for n, a, _ in DERIVED])
def test_config_follows_the_builder_arguments(name, arg, default):
    value, net = _variant(name, arg, default)
    cfg = net.config
    assert cfg != get_config(name), f"{name}'s config ignores {arg}={value}"
    assert cfg == get_config(name, **{arg: value})
    mx.random.seed(0)
    net.initialize(mx.init.Xavier())
    outs = _outputs(net(*example_inputs(cfg, batch=2, seed=1)))
    assert all(o.shape[0] == 2 and np.isfinite(o.asnumpy()).all() for o in outs)
    if cfg.num_classes and cfg.task in ("classification", "language-model", "seq2seq"):
        assert outs[0].shape[-1] == cfg.num_classes


def test_dcgan_discriminator_image_size():
    cfg = get_model("dcgan_discriminator", image_size=32).config
    assert cfg.input_shape == (1, 32, 32)
    with pytest.raises(ArgumentError, match="image_size"):
        get_model("dcgan_discriminator", image_size=30)


def test_vocabulary_sizes_reach_every_input():
    cfg = get_model("seq2seq_attention", src_vocab=20, tgt_vocab=30, num_steps=7).config
    assert [s.value_range for s in cfg.inputs] == [(0, 20), (0, 30), (1, 8)]
    assert cfg.input_shape == (7,) and cfg.num_classes == 30


@pytest.mark.parametrize("name", MODELS)
def test_unknown_argument_is_refused_by_name(name):
    with pytest.raises(ArgumentError, match="no_such_argument"):
        get_model(name, no_such_argument=1)


@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True])
def test_num_classes_must_be_a_positive_integer(value):
    with pytest.raises(ArgumentError, match="num_classes"):
        get_model("lenet5", num_classes=value)


def test_unknown_model_is_the_projects_error():
    with pytest.raises(UnknownNameError, match="did you mean lenet5"):
        get_config("lenet")


def test_explicit_config_must_be_a_model_config():
    with pytest.raises(ArgumentError, match="ModelConfig"):
        get_model("lenet5", config={"input_shape": (1, 28, 28)})


def test_a_config_the_network_contradicts_is_refused():
    cfg = get_config("lenet5").replace(input_shape=(1, 5, 5))
    with pytest.raises(ArgumentError, match="does not take the inputs"):
        get_model("lenet5", activation="sigmoid", config=cfg)


CLASSIFIERS = [name for name in MODELS if get_config(name) is not None
               and get_config(name).task == "classification" and get_config(name).num_classes]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_an_explicit_config_with_other_classes_is_refused(name):
    """Builders size their output from num_classes: config= alone would leave it contradicted."""
    cfg = get_config(name).replace(num_classes=3)
    with pytest.raises(ArgumentError, match=r"its config says 3|argument 'config'"):
        get_model(name, config=cfg)
    with pytest.raises(ArgumentError, match=r"outputs 7 classes, its config says 3|'config'"):
        get_model(name, num_classes=7, config=cfg)
