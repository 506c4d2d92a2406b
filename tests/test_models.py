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
def test_model_contract(name, tmp_path):
    """Forward, backward, hybridize and export round trip on one instance.

    One test per model builds the network once: building and initializing
    the largest (VGG, ResNet-152, DenseNet-201) dominates the suite's time.
    """
    net = _build(name)
    cfg = net.config
    assert isinstance(cfg, ModelConfig) and cfg.name == name and cfg == get_config(name)
    assert cfg.paper and cfg.lesson, "every model names its paper and lesson"
    inputs = example_inputs(cfg, small=True)

    # forward: finite outputs with the batch axis; classifiers give class scores
    imperative = _outputs(net(*inputs))
    assert all(o.shape[0] == 2 and np.isfinite(o.asnumpy()).all() for o in imperative)
    if cfg.task == "classification":
        assert imperative[0].shape == (2, cfg.num_classes)
    imperative = [o.asnumpy() for o in imperative]

    # hybridized equals imperative (inference mode)
    net.hybridize(static_alloc=True, static_shape=True)
    for h, i in zip(_outputs(net(*inputs)), imperative):
        np.testing.assert_allclose(h.asnumpy(), i, rtol=1e-4, atol=1e-5)
    # another batch size through the same graph: oneDNN keeps some weights in a layout
    # chosen at the first call (DCGAN's generator refused every other batch size)
    first = _outputs(net(*[x[:1] for x in inputs]))[0]
    np.testing.assert_allclose(first.asnumpy(), imperative[0][:1], rtol=1e-4, atol=1e-5)

    # export() + SymbolBlock.imports round trip
    net.export(str(tmp_path / name), epoch=0)
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / f"{name}-symbol.json"), cfg.input_names,
                                          str(tmp_path / f"{name}-0000.params"))
    for got, want in zip(_outputs(loaded(*inputs)), imperative):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-4, atol=1e-5)

    # backward (last: training mode moves BatchNorm's running statistics)
    with mx.autograd.record():
        loss = mx.nd.add_n(*[o.astype("float32").square().mean() for o in _outputs(net(*inputs))])
    loss.backward()
    grads = [p.grad().asnumpy() for p in net.collect_params().values() if p.grad_req != "null"]
    assert grads and all(np.isfinite(g).all() for g in grads)
    assert any(np.abs(g).sum() > 0 for g in grads)


@pytest.mark.parametrize("name", [n for n in MODELS if get_config(n).reference_params])
def test_parameter_count_matches_the_published_one(name):
    cfg = get_config(name)
    assert count_parameters(get_model(name)) == cfg.reference_params


@pytest.mark.parametrize("name", [n for n in MODELS if get_config(n).gluoncv_name])
def test_parameter_count_matches_gluoncv(name, monkeypatch):
    gluoncv = _import_gluoncv(monkeypatch)
    cfg = get_config(name)
    theirs = gluoncv.model_zoo.get_model(cfg.gluoncv_name, pretrained=False,
                                         classes=cfg.num_classes)
    assert count_parameters(get_model(name)) == count_parameters(theirs, cfg)


def _import_gluoncv(monkeypatch):
    """GluonCV 0.10 refuses to import next to torch >= 2: hide a torch installed by hand."""
    import sys

    if "gluoncv" not in sys.modules:
        monkeypatch.setitem(sys.modules, "torch", None)
    return pytest.importorskip("gluoncv")


def test_lenet5_parameter_count():
    # conv 1*6*25+6, conv 6*16*25+16, dense 400*120+120, 120*84+84, 84*10+10
    assert count_parameters(get_model("lenet5")) == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_num_classes_changes_output_and_config():
    net = get_model("lenet5", num_classes=4)
    net.initialize()
    assert net(*example_inputs(net.config)).shape == (2, 4)
    assert net.config.num_classes == 4 and net.config.labels == ()  # ten digit names no longer fit


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
