"""Contract tests over every registered model (parametrized by list_models())."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.models import (ModelConfig, count_parameters, example_inputs, get_config,  # noqa: E402
                             get_model, list_models, register_model)

MODELS = list_models()


def _outputs(out):
    """A model's outputs as a flat list of NDArrays."""
    if isinstance(out, (list, tuple)):
        return [o for item in out for o in _outputs(item)]
    return [out]


def _build(name, **kwargs):
    mx.random.seed(0)
    net = get_model(name, **kwargs)
    net.initialize(mx.init.Xavier())
    return net


def test_registry_is_not_empty_and_sorted():
    assert MODELS == sorted(MODELS) and "lenet5" in MODELS


@pytest.mark.parametrize("name", MODELS)
def test_config_and_forward_shape(name):
    net = _build(name)
    cfg = net.config
    assert isinstance(cfg, ModelConfig) and cfg.name == name
    assert cfg == get_config(name)
    assert cfg.paper and cfg.lesson, "every model names its paper and lesson"
    outs = _outputs(net(*example_inputs(cfg, small=True)))
    assert all(o.shape[0] == 2 and np.isfinite(o.asnumpy()).all() for o in outs)
    if cfg.task == "classification":
        assert outs[0].shape == (2, cfg.num_classes)


@pytest.mark.parametrize("name", MODELS)
def test_backward_gives_finite_gradients(name):
    net = _build(name)
    inputs = example_inputs(net.config, small=True)
    with mx.autograd.record():
        outs = _outputs(net(*inputs))
        loss = mx.nd.add_n(*[o.astype("float32").square().mean() for o in outs])
    loss.backward()
    grads = {n: p.grad().asnumpy() for n, p in net.collect_params().items() if p.grad_req != "null"}
    assert grads and all(np.isfinite(g).all() for g in grads.values())
    assert any(np.abs(g).sum() > 0 for g in grads.values())


@pytest.mark.parametrize("name", MODELS)
def test_hybridized_equals_imperative_and_export_round_trip(name, tmp_path):
    net = _build(name)
    cfg = net.config
    inputs = example_inputs(cfg, small=True)
    imperative = [o.asnumpy() for o in _outputs(net(*inputs))]
    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = [o.asnumpy() for o in _outputs(net(*inputs))]
    for h, i in zip(hybrid, imperative):
        np.testing.assert_allclose(h, i, rtol=1e-4, atol=1e-5)
    net.export(str(tmp_path / name), epoch=0)
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / f"{name}-symbol.json"), cfg.input_names,
                                          str(tmp_path / f"{name}-0000.params"))
    for got, want in zip(_outputs(loaded(*inputs)), imperative):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in MODELS if get_config(n).reference_params])
def test_parameter_count_matches_the_published_one(name):
    cfg = get_config(name)
    assert count_parameters(get_model(name)) == cfg.reference_params


@pytest.mark.parametrize("name", [n for n in MODELS if get_config(n).gluoncv_name])
def test_parameter_count_matches_gluoncv(name):
    gluoncv = pytest.importorskip("gluoncv")
    cfg = get_config(name)
    theirs = gluoncv.model_zoo.get_model(cfg.gluoncv_name, pretrained=False,
                                         classes=cfg.num_classes)
    assert count_parameters(get_model(name)) == count_parameters(theirs, cfg)


def test_lenet5_parameter_count():
    # conv 1*6*25+6, conv 6*16*25+16, dense 400*120+120, 120*84+84, 84*10+10
    assert count_parameters(get_model("lenet5")) == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_num_classes_changes_output_and_config():
    net = get_model("lenet5", num_classes=4)
    net.initialize()
    assert net(*example_inputs(net.config)).shape == (2, 4)
    assert net.config.num_classes == 4 and len(net.config.labels) == 4


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match="did you mean lenet5"):
        get_model("lenet")


def test_list_models_pattern():
    assert list_models("lenet*") == [n for n in MODELS if n.startswith("lenet")]
    assert list_models("no-such-model*") == []


def test_duplicate_registration_is_rejected():
    with pytest.raises(ValueError, match="registered twice"):
        @register_model(name="lenet5")
        def _dup():  # pragma: no cover - never built
            return None


def test_config_round_trip_and_validation():
    cfg = get_config("lenet5")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    multi = cfg.replace(extra_inputs=[("valid_len", (), "int32", (1, 5))])
    assert ModelConfig.from_dict(multi.to_dict()) == multi
    assert multi.input_names == ["data", "valid_len"]
    with pytest.raises(ValueError, match="layout"):
        ModelConfig(name="bad", input_shape=(1, 28, 28), layout="NC")
    with pytest.raises(ValueError, match="std must be positive"):
        ModelConfig(name="bad", input_shape=(1, 2, 2), std=(0.0,))
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})
