"""Contract tests over every registered model (parametrized by list_models())."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.models import ModelConfig, get_config, get_model, list_models, register_model  # noqa: E402

MODELS = list_models()


def _inputs(config, batch=2, seed=0):
    rng = np.random.RandomState(seed)
    if config.input_dtype.startswith("int"):
        return mx.nd.array(rng.randint(0, config.num_classes or 10, (batch,) + config.input_shape))
    return mx.nd.array(rng.randn(batch, *config.input_shape).astype(np.float32))


def _build(name):
    mx.random.seed(0)
    net = get_model(name)
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
    out = net(_inputs(cfg))
    assert out.shape == (2, cfg.num_classes)


@pytest.mark.parametrize("name", MODELS)
def test_backward_gives_finite_gradients(name):
    net = _build(name)
    x = _inputs(net.config)
    with mx.autograd.record():
        loss = net(x).square().mean()
    loss.backward()
    for pname, p in net.collect_params().items():
        if p.grad_req == "null":
            continue
        g = p.grad().asnumpy()
        assert np.isfinite(g).all(), pname
    assert any(np.abs(p.grad().asnumpy()).sum() > 0 for p in net.collect_params().values())


@pytest.mark.parametrize("name", MODELS)
def test_hybridized_equals_imperative_and_export_round_trip(name, tmp_path):
    net = _build(name)
    x = _inputs(net.config)
    imperative = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = net(x).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-5, atol=1e-5)
    net.export(str(tmp_path / name), epoch=0)
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / f"{name}-symbol.json"), ["data"],
                                          str(tmp_path / f"{name}-0000.params"))
    np.testing.assert_allclose(loaded(x).asnumpy(), imperative, rtol=1e-5, atol=1e-5)


def test_lenet5_parameter_count():
    # conv 1*6*25+6, conv 6*16*25+16, dense 400*120+120, 120*84+84, 84*10+10
    net = _build("lenet5")
    net(_inputs(net.config))
    n = sum(p.data().size for p in net.collect_params().values())
    assert n == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_num_classes_changes_output_and_config():
    net = get_model("lenet5", num_classes=4)
    net.initialize()
    assert net(_inputs(net.config)).shape == (2, 4)
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
    with pytest.raises(ValueError, match="layout"):
        ModelConfig(name="bad", input_shape=(1, 28, 28), layout="NC")
    with pytest.raises(ValueError, match="std must be positive"):
        ModelConfig(name="bad", input_shape=(1, 2, 2), std=(0.0,))
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})
