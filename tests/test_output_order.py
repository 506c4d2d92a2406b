"""TFLite outputs come back in the MXNet model's order and layout.

A TFLite file converted from onnx2tf's SavedModel lists its outputs sorted by
name, and onnx2tf lays image outputs out channels-last; the exporter matches
them to the ONNX outputs by name, records ``output_order`` and
``output_permutations``, and the Predictor applies both.  The fast tests drive each step with stand-ins; one
real conversion of the VQ-VAE (four outputs, two of them images) closes the loop.
"""
import numpy as np
import pytest

from deploy.export import tflite
from deploy.metadata import build_metadata, validate
from deploy.runtime._backends import Session, TensorSpec
from deploy.runtime._predictor import Predictor
from gluon_dl.config import ModelConfig
from gluon_dl.errors import ArgumentError, ConversionError, ModelFileError

ONNX_NAMES = ["logits", "z_e", "z_q", "codes"]


class _Runner:
    def __init__(self, outputs):
        self._outputs = outputs

    def get_output_details(self):
        return self._outputs


class _Interpreter:
    """What ``_output_order`` reads of a tf.lite.Interpreter."""

    def __init__(self, signature=None):
        self._signature = signature

    def get_signature_list(self):
        return {"serving_default": {}} if self._signature else {}

    def get_signature_runner(self, key):
        return _Runner({name: {"index": index} for name, index in self._signature.items()})


def _details(names, indices):
    return [{"name": n, "index": i} for n, i in zip(names, indices)]


def test_quantized_files_are_matched_through_their_signature():
    # onnx2tf's full-integer file: tensors PartitionedCall:k sorted by signature name
    details = _details([f"PartitionedCall:{k}" for k in range(4)], [30, 53, 37, 44])
    signature = {"codes": 37, "logits": 53, "z_e": 30, "z_q": 44}
    order = tflite._output_order(_Interpreter(signature), details, ONNX_NAMES, "m.tflite")
    assert order == [1, 0, 3, 2]  # what the real VQ-VAE file gives


def test_onnx2tf_spelling_of_names_is_matched():
    details = _details(["PartitionedCall:0", "PartitionedCall:1"], [5, 6])
    signature = {"b__0": 5, "a__0": 6}  # ':' became '__', the leading '/' went
    order = tflite._output_order(_Interpreter(signature), details, ["/a:0", "b:0"], "m.tflite")
    assert order == [1, 0]


def test_float_files_are_matched_by_their_identity_names():
    # the float32 file has no signature; TensorFlow names the outputs of the
    # concrete function Identity, Identity_1, ... in the Keras model's order
    details = _details(["Identity_2", "Identity", "Identity_3", "Identity_1"], [4, 9, 2, 7])
    order = tflite._output_order(_Interpreter(), details, ONNX_NAMES, "m.tflite")
    assert order == [1, 3, 0, 2]


def test_outputs_that_keep_their_onnx_names_are_matched():
    details = _details(["z_q", "codes", "logits", "z_e"], [1, 2, 3, 4])
    assert tflite._output_order(_Interpreter(), details, ONNX_NAMES, "m.tflite") == [2, 3, 0, 1]


def test_unmatched_or_missing_outputs_are_a_conversion_error():
    details = _details(["out_a", "out_b", "out_c", "out_d"], [1, 2, 3, 4])
    with pytest.raises(ConversionError, match="cannot tell which TFLite output"):
        tflite._output_order(_Interpreter(), details, ONNX_NAMES, "m.tflite")
    with pytest.raises(ConversionError, match="dropped outputs"):
        tflite._output_order(_Interpreter(), details[:3], ONNX_NAMES, "m.tflite")
    assert tflite._output_order(_Interpreter(), details[:1], ["only"], "m.tflite") == [0]


@pytest.mark.parametrize("want, have, perm", [
    ([1, 16, 7, 7], [1, 16, 7, 7], None),
    ([1, 16, 7, 7], [1, 7, 7, 16], [0, 3, 1, 2]),
    ([1, 8, 20], [1, 20, 8], [0, 2, 1]),
    ([1, 3, 4, 5, 6], [1, 4, 5, 6, 3], [0, 4, 1, 2, 3]),
    ([None, 10], [1, 10], None),
])
def test_channels_last_outputs_get_their_axes_back(want, have, perm):
    assert tflite._undo_channels_last(want, have, "y", "m.tflite") == perm


def test_any_other_shape_change_is_a_conversion_error():
    with pytest.raises(ConversionError, match="output 'y' has shape"):
        tflite._undo_channels_last([1, 16, 7, 7], [1, 7, 16, 7], "y", "m.tflite")


# --- metadata ---------------------------------------------------------------------------------

CONFIG = ModelConfig(name="fake", input_shape=(4,), layout="NC", task="generation")


def _meta(**fields):
    fields.setdefault("output_names", ["t1", "t0"])
    return build_metadata(CONFIG, fmt="tflite", precision="int8", input_names=["x"], **fields)


def test_output_order_is_recorded_and_validated():
    meta = _meta(output_order=[1, 0], output_permutations=[None, [0, 2, 1]])
    assert meta["artifact"]["output_order"] == [1, 0]
    for bad in ([0, 0], [1, 2], [1], [True, False], "10"):
        with pytest.raises(ArgumentError, match="artifact.output_order"):
            _meta(output_order=bad)
    with pytest.raises(ArgumentError, match="artifact.output_permutations"):
        _meta(output_permutations=[[0, 2, 1]])  # one output of two


def test_sidecars_without_output_order_still_load():
    meta = _meta(output_permutations=[None, [0, 2, 1]])
    assert "output_order" not in meta["artifact"]
    assert validate(meta, "old sidecar") is meta


# --- the predictor ----------------------------------------------------------------------------

class _Session(Session):
    """Two outputs listed in the artifact's order: t0 int8 (1, 3, 2), t1 float (1, 5)."""

    inputs = [TensorSpec("x", (1, 4), "float32")]
    outputs = [TensorSpec("t0", (1, 3, 2), "int8", scale=0.5, zero_point=1),
               TensorSpec("t1", (1, 5), "float32")]

    def run(self, feeds):
        x = feeds[0]
        t0 = np.arange(6, dtype=np.int8).reshape(1, 3, 2) + np.int8(x.sum() > 0)
        return [t0, (x[:, :1] + np.arange(5, dtype=np.float32)).astype(np.float32)]


def test_predictor_reorders_dequantizes_and_transposes_the_outputs():
    meta = _meta(output_order=[1, 0], output_permutations=[None, [0, 2, 1]])
    predictor = Predictor("fake.tflite", "fake", _Session(), meta)
    x = np.full((1, 4), 0.25, np.float32)
    first, second = predictor.predict(x)
    np.testing.assert_allclose(first, [[0.25, 1.25, 2.25, 3.25, 4.25]])
    t0 = np.arange(6).reshape(1, 3, 2) + 1
    np.testing.assert_allclose(second, ((t0 - 1) * 0.5).transpose(0, 2, 1))
    assert [d["name"] for d in predictor.output_details] == ["t1", "t0"]


def test_predictor_without_output_order_keeps_the_artifacts_order():
    meta = _meta(output_names=["t0", "t1"], output_permutations=[[0, 2, 1], None])
    first, second = Predictor("fake.tflite", "fake", _Session(), meta).predict(
        np.zeros((1, 4), np.float32))
    assert first.shape == (1, 2, 3) and second.shape == (1, 5)


def test_predictor_refuses_an_order_that_names_other_outputs():
    meta = _meta(output_names=["t0", "t1"], output_order=[1, 0])
    with pytest.raises(ModelFileError, match="belongs to another model"):
        Predictor("fake.tflite", "fake", _Session(), meta)


# --- the VQ-VAE, converted for real ------------------------------------------------------------

def _vqvae():
    mx = pytest.importorskip("mxnet")
    from gluon_dl.models import get_model
    mx.random.seed(0)
    net = get_model("vqvae")
    net.initialize(mx.init.Xavier(rnd_type="gaussian", magnitude=2))
    net.hybridize()
    return net


def _mxnet(net, x):
    import mxnet as mx
    return [o.asnumpy() for o in net(mx.nd.array(x))]


def test_quantizer_straight_through_value_is_the_nchw_formula():
    """The quantizer sums channels-last (so onnx2tf converts it); the values are
    exactly those of z_e + (z_q - z_e) in NCHW."""
    import mxnet as mx
    from gluon_dl.models.vqvae import VectorQuantizer
    mx.random.seed(1)
    vq = VectorQuantizer(num_codes=8, code_dim=3)
    vq.initialize()
    z_e = mx.nd.random.normal(shape=(2, 3, 5, 4))
    z_st, z_q, codes = vq(z_e)
    np.testing.assert_array_equal(z_st.asnumpy(), (z_e + (z_q - z_e)).asnumpy())
    assert z_q.shape == (2, 3, 5, 4) and codes.shape == (2, 5, 4)


@pytest.fixture(scope="module")
def vqvae_float32(tmp_path_factory):
    pytest.importorskip("onnx2tf")
    net = _vqvae()
    folder = tmp_path_factory.mktemp("vqvae")
    return net, tflite.export_many(net, folder, precisions=("float32",))["float32"]


def test_vqvae_tflite_float32_outputs_match_mxnet_in_order_shape_and_value(vqvae_float32):
    from deploy.export._common import sample_inputs
    from deploy.runtime import load

    net, path = vqvae_float32
    x = sample_inputs(net.config, n=4, seed=3)[0]
    expected = _mxnet(net, x)
    got = load(path).predict(x, normalize=False)
    assert [g.shape for g in got] == [e.shape for e in expected] == [
        (4, 1, 28, 28), (4, 16, 7, 7), (4, 16, 7, 7), (4, 7, 7)]
    for k, (g, e) in enumerate(zip(got, expected)):
        assert np.abs(g - e).max() <= 1e-4 * np.abs(e).max(), k


@pytest.mark.slow
def test_vqvae_tflite_int8_outputs_come_back_in_mxnets_order(tmp_path):
    """The full-integer file's outputs, matched by name, in the MXNet model's order."""
    from deploy.export._common import sample_inputs
    from deploy.metadata import read_metadata
    from deploy.runtime import load

    pytest.importorskip("onnx2tf")
    net = _vqvae()
    calib = sample_inputs(net.config, n=32, seed=1)
    path = tflite.export_many(net, tmp_path, precisions=("int8",), calib_data=calib,
                              verify=False)["int8"]
    artifact = read_metadata(path)["artifact"]
    predictor = load(path)
    assert sorted(artifact["output_order"]) == [0, 1, 2, 3]
    assert [d["name"] for d in predictor.output_details] == artifact["output_names"]
    x = sample_inputs(net.config, n=4, seed=3)[0]
    expected = _mxnet(net, x)
    got = predictor.predict(x, normalize=False)
    assert [g.shape for g in got] == [e.shape for e in expected]
    # z_e and z_q share a shape: z_e (convolutions only) survives int8 nearly intact, so
    # it tells them apart (a flipped code moves z_q, the codes and the pixels a lot)
    z_e, z_q = expected[1], expected[2]
    assert np.abs(got[1] - z_e).max() <= 0.05 * np.abs(z_e).max()
    assert np.corrcoef(got[1].ravel(), z_e.ravel())[0, 1] > 0.99 > \
        np.corrcoef(got[1].ravel(), z_q.ravel())[0, 1]
