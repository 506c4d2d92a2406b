"""Model parts (``gluon_dl.models.get_part``): registered beside their model, sharing its
parameters, computing what the whole model computes, exporting like any model."""
import numpy as np
import pytest

from gluon_dl.errors import ArgumentError, UnknownNameError
from gluon_dl.models import get_model, get_part, list_models, list_parts

mx = pytest.importorskip("mxnet")

PARTS = list_parts()


def _built(model, seed=0):
    mx.random.seed(seed)
    net = get_model(model)
    net.initialize(mx.init.Xavier(rnd_type="gaussian", magnitude=2))
    return net


def _part(full_name, seed=0):
    model, part = full_name.rsplit(".", 1)
    net = _built(model, seed)
    return net, get_part(net, part)


def _inputs(config, n=4, seed=0):
    from deploy.export._common import sample_inputs
    return [np.asarray(a) for a in sample_inputs(config, n=n, seed=seed)]


def _forward(block, arrays):
    out = block(*[mx.nd.array(a, dtype=a.dtype) for a in arrays])
    return [o.asnumpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def test_the_generative_models_register_their_decoders():
    assert {"vae_mlp.decoder", "vae_conv.decoder", "vqvae.decoder"} <= set(PARTS)
    assert list_parts("vae_*") == ["vae_conv.decoder", "vae_mlp.decoder"]
    assert list_parts("lenet5") == []
    for name in PARTS:
        assert name.rsplit(".", 1)[0] in list_models(), name


@pytest.mark.parametrize("name", PARTS)
def test_part_shares_the_models_parameters_and_has_its_own_config(name):
    net, part = _part(name)
    assert part.config.name == name and part.config.task == "generation"
    assert part.config.paper == net.config.paper
    model_params = net.collect_params()
    part_params = part.collect_params()
    assert len(part_params.keys()) > 0
    for key, param in part_params.items():
        assert model_params[key] is param, key  # the same Parameter: no copy
    assert len(part_params.keys()) < len(model_params.keys())  # only its share of the model


@pytest.mark.parametrize("name", PARTS)
def test_part_runs_on_its_configs_inputs_hybridized_or_not(name):
    _, part = _part(name)
    x = _inputs(part.config, n=3)
    eager = _forward(part, x)
    part.hybridize()
    hybrid = _forward(part, x)
    assert eager[0].shape == (3, 1, 28, 28)
    assert np.isfinite(eager[0]).all() and np.ptp(eager[0]) > 0
    np.testing.assert_allclose(hybrid[0], eager[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["vae_mlp", "vae_conv"])
def test_vae_decoder_is_what_the_model_decodes_at_the_posterior_mean(model):
    net, part = _part(f"{model}.decoder")
    x = _inputs(net.config, n=4, seed=1)[0]
    logits, mu, _ = _forward(net, [x, np.zeros((4, net.latent_dim), np.float32)])
    np.testing.assert_allclose(_forward(part, [mu])[0], logits, rtol=1e-5, atol=1e-6)


def test_vqvae_decoder_turns_the_models_codes_into_its_images():
    net, part = _part("vqvae.decoder")
    assert part.config.input_dtype == "int32" and part.config.input_shape == (7, 7)
    assert part.config.input_range == (0, 64)
    logits, _, _, codes = _forward(net, _inputs(net.config, n=4, seed=2))
    got = _forward(part, [codes.astype(np.int32)])[0]
    # the model decodes z_e + (z_q - z_e), the part z_q: equal up to rounding
    np.testing.assert_allclose(got, logits, rtol=1e-5, atol=1e-5 * np.abs(logits).max())


def test_part_follows_the_models_parameters_after_they_change():
    net, part = _part("vae_mlp.decoder")
    z = _inputs(part.config, n=2)
    before = _forward(part, z)[0]
    for param in net.decoder.collect_params().values():
        param.set_data(param.data() * 0.5)
    assert not np.allclose(_forward(part, z)[0], before)


def test_unknown_part_and_configless_block_are_refused():
    net = _built("vae_mlp")
    with pytest.raises(UnknownNameError, match="decoder"):
        get_part(net, "decodr")
    with pytest.raises(UnknownNameError, match="no registered parts"):
        get_part(_built("linreg"), "decoder")
    with pytest.raises(ArgumentError, match="ModelConfig"):
        get_part(mx.gluon.nn.Dense(3), "decoder")
    with pytest.raises(ArgumentError, match="builder arguments"):
        get_part(net, "decoder", latent_dim=3)


def test_get_part_builds_the_model_from_its_name():
    part = get_part("vae_conv", "decoder")
    assert part.config.input_shape == (16,)


def test_checkpoint_of_the_whole_model_fills_the_part(tmp_path):
    """What `gluon-dl deploy vqvae --part decoder --checkpoint CKPT` loads."""
    from gluon_dl.deploy_command import load_model
    from gluon_dl.training.checkpoint import save_checkpoint
    from gluon_dl.training.loop import FitState

    trained, part = _part("vqvae.decoder", seed=5)
    _forward(trained, _inputs(trained.config, n=2))  # deferred shapes become known
    trainer = mx.gluon.Trainer(trained.collect_params(), "sgd", {"learning_rate": 0.1})
    path = save_checkpoint(tmp_path / "vqvae.ckpt", trained, trainer,
                           FitState(num_epochs=1, global_step=0, batch=2))
    loaded, config, origin = load_model("vqvae", checkpoint=path, part="decoder", seed=9)
    assert config.name == "vqvae.decoder" and origin == "registry"
    codes = _inputs(config, n=3, seed=4)
    np.testing.assert_array_equal(_forward(loaded, codes)[0], _forward(part, codes)[0])
    with pytest.raises(UnknownNameError, match="decoder"):
        load_model("vqvae", checkpoint=path, part="encoder")
    with pytest.raises(ArgumentError, match="--part"):
        load_model(tmp_path / "x-symbol.json", input_shape=(1, 4), part="decoder")


@pytest.mark.parametrize("name", PARTS)
def test_part_exports_to_onnx_with_parity(name, tmp_path):
    pytest.importorskip("onnxruntime")
    from deploy.export import onnx as onnx_export
    from deploy.runtime import load

    _, part = _part(name)
    path = onnx_export.export(part, tmp_path / f"{name}.onnx")  # verifies on its own too
    x = _inputs(part.config, n=5, seed=3)
    expected = _forward(part, x)[0]
    got = load(path).predict(*x, normalize=False)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def _tflite_parity(name, tmp_path):
    pytest.importorskip("onnx2tf")
    from deploy.export import tflite
    from deploy.runtime import load

    _, part = _part(name)
    path = tflite.export_many(part, tmp_path, precisions=("float32",))["float32"]
    assert path.name == f"{name}_float32.tflite"
    x = _inputs(part.config, n=3, seed=6)
    expected = _forward(part, x)[0]
    got = load(path).predict(*x, normalize=False)
    assert got.shape == expected.shape  # NCHW again, whatever onnx2tf wrote
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_part_exports_to_tflite_with_parity(tmp_path):
    """The cheapest part in the default suite; every part in the slow one."""
    _tflite_parity("vae_mlp.decoder", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in PARTS if n != "vae_mlp.decoder"])
def test_every_part_exports_to_tflite_with_parity(name, tmp_path):
    """vqvae.decoder takes integer codes (B, 7, 7): onnx2tf must neither transpose nor
    quantize them."""
    _tflite_parity(name, tmp_path)


def test_matrix_has_a_row_per_part():
    from deploy import matrix

    assert set(PARTS) <= set(matrix.row_names())
    assert set(list_models()) <= set(matrix.row_names())
    net, config, inputs, calib = matrix.prepare_row("vqvae.decoder")
    assert config.name == "vqvae.decoder" and net.config is config
    assert inputs[0].dtype == np.int32 and inputs[0].shape == (matrix.VERIFY_SAMPLES, 7, 7)
    assert calib[0].shape == (matrix.CALIB_SAMPLES, 7, 7)
