"""Exporters: MXNet, ONNX and TFLite files, their metadata, parity and failure modes.

One randomly initialized LeNet-5 is exported once per module; parity needs no
training.  int8 is judged on digit-like stroke images, not white noise.
"""
import json
import os
import sys

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from deploy.export import VerifyResult, verify  # noqa: E402
from deploy.export import mxnet as mxnet_export  # noqa: E402
from deploy.export import onnx as onnx_export  # noqa: E402
from deploy.export import tflite as tflite_export  # noqa: E402
from deploy.metadata import (METADATA_KEY, build_metadata, file_sha256,  # noqa: E402
                             onnx_graph_sha256, read_metadata, sidecar_path)
from deploy.runtime import available_backends, load  # noqa: E402
from gluon_dl.errors import (ArgumentError, ConversionError, InputShapeError,  # noqa: E402
                             IntegrityError, MissingDependencyError, ModelFileError,
                             NonFiniteError, VerificationError)
from gluon_dl.models import ModelConfig, get_model  # noqa: E402

needs_tflite_runtime = pytest.mark.skipif(
    not available_backends("m.tflite"),
    reason="no TFLite runtime installed (ai-edge-litert or tflite-runtime)")


def stroke_images(n, seed, size=28):
    """Digit-like images in [0, 1]: a few thick random strokes each."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.zeros((n, 1, size, size), np.float32)
    for img in images:
        for _ in range(rng.randint(2, 5)):
            (y0, x0), (y1, x1) = rng.uniform(4, size - 4, size=(2, 2))
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0))
                        / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-6), 0, 1)
            dist2 = (yy - y0 - t * (y1 - y0)) ** 2 + (xx - x0 - t * (x1 - x0)) ** 2
            img[0] = np.maximum(img[0], np.exp(-dist2 / (2 * rng.uniform(0.8, 1.6) ** 2)))
    return images


def normalize(x, config):
    return ((x - np.float32(config.mean[0])) / np.float32(config.std[0])).astype(np.float32)


def mxnet_out(net, x):
    return net(mx.nd.array(x)).asnumpy()


@pytest.fixture(scope="module")
def net():
    mx.random.seed(0)
    np.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    return net


@pytest.fixture(scope="module")
def data(net):
    calib = normalize(stroke_images(200, seed=1), net.config)
    test = normalize(stroke_images(200, seed=2), net.config)
    return {"calib": calib, "test": test, "ref": mxnet_out(net, test)}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def onnx_path(net, out_dir):
    return onnx_export.export(net, out_dir / "lenet5.onnx")


@pytest.fixture(scope="module")
def tflite_paths(net, out_dir, data):
    return tflite_export.export_many(net, out_dir / "tflite", calib_data=data["calib"])


# --- ONNX -----------------------------------------------------------------------------------

def test_tracing_lets_its_forward_pass_finish_before_weights_are_read(net, monkeypatch):
    # MXNet's oneDNN inference reorders convolution weights in place, in an engine task
    # the pass queues; the exporters read the weights right after tracing.
    from deploy.export import _trace
    events = []
    real_wait = mx.nd.waitall
    monkeypatch.setattr(mx.nd, "waitall", lambda: events.append("wait") or real_wait())
    monkeypatch.setattr(net, "forward", lambda *x: events.append("forward"))
    _trace._first_forward(net, net.config)
    assert events == ["forward", "wait"]


def test_onnx_passes_checker_with_opset_13(onnx_path):
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    assert [i.name for i in model.graph.input] == ["data"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_onnx_metadata_embedded_and_in_sidecar(onnx_path, net):
    model = onnx.load(str(onnx_path))
    embedded = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    sidecar = json.loads(sidecar_path(onnx_path).read_text())
    assert sidecar == read_metadata(onnx_path)
    # The embedded copy cannot hold the hash of its own file; the rest is the same.
    assert embedded["artifact"]["sha256"] is None
    assert sidecar["artifact"]["sha256"] == file_sha256(onnx_path)
    assert dict(embedded, artifact=None) == dict(sidecar, artifact=None)
    assert embedded["artifact"]["graph_sha256"] == sidecar["artifact"]["graph_sha256"] == \
        onnx_graph_sha256(onnx_path.read_bytes())
    assert sidecar["config"] == net.config.to_dict()
    assert ModelConfig.from_dict(sidecar["config"]) == net.config
    artifact = sidecar["artifact"]
    assert (artifact["format"], artifact["precision"], artifact["layout"]) == \
        ("onnx", "float32", "NCHW")
    assert artifact["quantization"] is None and artifact["input_dtype"] == "float32"
    assert artifact["input_names"] == ["data"] and artifact["dynamic_batch"] is True


def test_onnx_matches_mxnet_in_onnxruntime(onnx_path, data):
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"data": data["test"]})[0]
    assert np.abs(out - data["ref"]).max() < 1e-4


def test_onnx_metadata_read_without_sidecar(onnx_path, tmp_path):
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(onnx_path.read_bytes())
    embedded, sidecar = read_metadata(bare), read_metadata(onnx_path)
    assert embedded["config"] == sidecar["config"]
    assert dict(embedded["artifact"], sha256=sidecar["artifact"]["sha256"]) == sidecar["artifact"]


# --- TFLite ---------------------------------------------------------------------------------

def test_tflite_files_named_by_precision(tflite_paths, out_dir):
    names = sorted(os.listdir(out_dir / "tflite"))
    assert names == sorted([f"lenet5_{p}.tflite" for p in ("float32", "float16", "int8")]
                           + [f"lenet5_{p}.tflite.json" for p in ("float32", "float16", "int8")])


@needs_tflite_runtime
@pytest.mark.parametrize("precision, atol", [("float32", 1e-4), ("float16", 1e-2)])
def test_tflite_float_parity(tflite_paths, data, precision, atol):
    out = load(tflite_paths[precision]).predict(data["test"], normalize=False)
    err = np.abs(out - data["ref"]).max()
    print(f"{precision} TFLite vs MXNet: max abs error {err:.3g}")
    assert err < atol


@needs_tflite_runtime
def test_tflite_int8_top1_agreement(tflite_paths, data):
    result = verify(tflite_paths["int8"], data["ref"], data["test"])
    print(result)
    assert result.top1_agreement >= 0.95


@needs_tflite_runtime
def test_tflite_int8_input_is_quantized_and_nhwc(tflite_paths):
    predictor = load(tflite_paths["int8"])
    spec = predictor.input_details
    assert spec["dtype"] == "int8" and spec["scale"] > 0
    assert spec["shape"] == (1, 28, 28, 1) and spec["layout"] == "NHWC"
    meta = read_metadata(tflite_paths["int8"])
    assert meta["artifact"]["layout"] == "NHWC" and meta["config"]["layout"] == "NCHW"
    assert meta["artifact"]["input_dtype"] == "int8" and meta["config"]["input_dtype"] == "float32"
    assert meta["artifact"]["sha256"] == file_sha256(tflite_paths["int8"])
    assert meta["artifact"]["quantization"]["input"] == {
        "dtype": "int8", "scale": spec["scale"], "zero_point": spec["zero_point"]}
    assert predictor.output_details[0]["dtype"] == "int8"


@needs_tflite_runtime
def test_tflite_float_models_record_nhwc(tflite_paths):
    for precision in ("float32", "float16"):
        meta = read_metadata(tflite_paths[precision])
        artifact = meta["artifact"]
        assert (artifact["format"], artifact["layout"], artifact["precision"]) == \
            ("tflite", "NHWC", precision)
        assert artifact["quantization"] is None and artifact["input_dtype"] == "float32"
        assert meta["config"]["input_shape"] == [1, 28, 28] and not artifact["dynamic_batch"]
        assert artifact["sha256"] == file_sha256(tflite_paths[precision])


@needs_tflite_runtime
def test_tflite_from_onnx_file(onnx_path, tmp_path, data):
    path = tflite_export.export(onnx_path, tmp_path / "from_onnx.tflite", precision="float32")
    assert read_metadata(path)["config"]["name"] == "lenet5"
    out = load(path).predict(data["test"][:16], normalize=False)
    assert np.abs(out - data["ref"][:16]).max() < 1e-4


@needs_tflite_runtime
def test_three_channel_model_converts_offline(tmp_path, monkeypatch):
    """onnx2tf fetches MS-COCO samples for 3-channel inputs; the exporter must not let it."""
    common = pytest.importorskip("onnx2tf.utils.common_functions")

    def no_network(*args, **kwargs):
        raise AssertionError(f"onnx2tf tried to download {args}")

    monkeypatch.setattr(common.requests, "get", no_network)
    config = ModelConfig(name="rgb", input_shape=(3, 12, 12), mean=(0.5, 0.4, 0.3),
                         std=(0.2, 0.25, 0.3), num_classes=4, labels=("a", "b", "c", "d"))
    mx.random.seed(1)
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(4, 3, padding=1, activation="relu"), mx.gluon.nn.Flatten(),
            mx.gluon.nn.Dense(4))
    net.initialize(mx.init.Xavier())
    raw = np.random.RandomState(0).uniform(size=(40, 3, 12, 12)).astype(np.float32)
    mean = np.array(config.mean, np.float32)[:, None, None]
    std = np.array(config.std, np.float32)[:, None, None]
    calib = (raw - mean) / std
    paths = tflite_export.export_many(net, tmp_path, precisions=("float32", "int8"),
                                      config=config, calib_data=calib)
    predictor = load(paths["float32"])  # normalizes per channel from the metadata
    assert predictor.input_details["shape"] == (1, 12, 12, 3)
    assert np.abs(predictor.predict(raw[:8]) - mxnet_out(net, calib[:8])).max() < 1e-4
    assert load(paths["int8"]).input_details["dtype"] == "int8"


def test_int8_needs_calibration_data(net, tmp_path):
    with pytest.raises(ArgumentError, match="calib_data"):
        tflite_export.export(net, tmp_path / "m.tflite", precision="int8")


def test_calibration_data_shape_is_checked(net, tmp_path):
    with pytest.raises(InputShapeError, match=r"\(N, 1, 28, 28\)"):
        tflite_export.export(net, tmp_path / "m.tflite", precision="int8",
                             calib_data=np.zeros((4, 28, 28, 1), np.float32))


def test_calibration_data_must_be_finite_and_numeric(net, tmp_path):
    calib = np.zeros((4, 1, 28, 28), np.float32)
    calib[2, 0, 5, 5] = np.nan
    with pytest.raises(NonFiniteError, match=r"calib_data samples \[2\] hold NaN"):
        tflite_export.export(net, tmp_path / "m.tflite", precision="int8", calib_data=calib)
    with pytest.raises(InputShapeError, match="dtype <U1"):
        tflite_export.export(net, tmp_path / "m.tflite", precision="int8",
                             calib_data=np.array(["a"]))


def test_unknown_precision_and_bad_arguments(net, tmp_path):
    with pytest.raises(ArgumentError, match="int4"):
        tflite_export.export(net, tmp_path / "m.tflite", precision="int4")
    with pytest.raises(ArgumentError, match="batch_size must be a positive integer"):
        tflite_export.export(net, tmp_path / "m.tflite", batch_size=0)
    with pytest.raises(ArgumentError, match="must end in .onnx"):
        onnx_export.export(net, tmp_path / "m.onx")
    with pytest.raises(ArgumentError, match="config must be a ModelConfig"):
        onnx_export.export(net, tmp_path / "m.onnx", config={"name": "lenet5"})


# --- MXNet ----------------------------------------------------------------------------------

def test_mxnet_export_round_trip(net, out_dir, data):
    path = mxnet_export.export(net, out_dir / "mx" / "lenet5")
    assert path.name == "lenet5-symbol.json"
    assert (out_dir / "mx" / "lenet5-0000.params").is_file()
    artifact = read_metadata(path)["artifact"]
    assert (artifact["format"], artifact["precision"], artifact["layout"]) == \
        ("mxnet", "float32", "NCHW")
    params = out_dir / "mx" / "lenet5-0000.params"
    assert artifact["sha256"] == file_sha256(path)
    assert artifact["files"] == {"lenet5-0000.params": file_sha256(params)}
    out = load(path).predict(data["test"][:32], normalize=False)
    np.testing.assert_allclose(out, data["ref"][:32], atol=1e-6)


def test_mxnet_runtime_reuses_its_input_buffer_and_returns_each_calls_own_result(net, tmp_path,
                                                                                data):
    """The MXNet session copies inputs into one NDArray per input: a second batch does not
    change the first's outputs, a new batch size gets its own buffer, and a non-contiguous
    array is read as its values."""
    predictor = load(mxnet_export.export(net, tmp_path / "lenet5", verify=False))
    session = predictor._session
    first = predictor.predict(data["test"][:32], normalize=False)
    buffer = session._buffers[0]
    second = predictor.predict(data["test"][32:64], normalize=False)
    assert session._buffers[0] is buffer
    np.testing.assert_allclose(first, data["ref"][:32], atol=1e-6)
    np.testing.assert_allclose(second, data["ref"][32:64], atol=1e-6)
    one = predictor.predict(data["test"][5:6], normalize=False)
    np.testing.assert_allclose(one, data["ref"][5:6], atol=1e-6)
    strided = np.repeat(data["test"][:32], 2, axis=0)[::2]
    assert not strided.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(session.run([strided])[0], data["ref"][:32], atol=1e-6)


def test_mxnet_export_with_damaged_params_is_refused(net, tmp_path):
    path = mxnet_export.export(net, tmp_path / "lenet5", verify=False)
    params = tmp_path / "lenet5-0000.params"
    data = bytearray(params.read_bytes())
    data[len(data) // 2] ^= 0xFF
    params.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"lenet5-0000\.params is damaged"):
        load(path)
    with pytest.raises(ArgumentError, match="epoch must be an integer"):
        mxnet_export.export(net, tmp_path / "x", epoch=10000)


@pytest.mark.filterwarnings("ignore:Cannot decide type:UserWarning")  # from quantize_net
def test_mxnet_export_of_quantized_symbolblock(net, out_dir, data):
    from mxnet.contrib import quantization
    calib = mx.gluon.data.DataLoader(
        mx.gluon.data.ArrayDataset(mx.nd.array(data["calib"]), mx.nd.zeros(len(data["calib"]))),
        batch_size=50)
    qnet = quantization.quantize_net_v2(net, quantized_dtype="auto", calib_data=calib,
                                        calib_mode="naive", num_calib_examples=200,
                                        ctx=mx.cpu())
    with pytest.raises(ArgumentError, match="config="):
        mxnet_export.export(qnet, out_dir / "mx" / "q")
    path = mxnet_export.export(qnet, out_dir / "mx" / "lenet5_int8", config=net.config)
    assert read_metadata(path)["artifact"]["precision"] == "int8"
    out = load(path).predict(data["test"][:32], normalize=False)
    np.testing.assert_allclose(out, mxnet_out(qnet, data["test"][:32]), atol=1e-5)
    with pytest.raises(ConversionError, match=r"no converter for the layers .*quantize"):
        onnx_export.export(qnet, out_dir / "q.onnx", config=net.config)


# --- verify ---------------------------------------------------------------------------------

def test_verify_reports_numbers(onnx_path, net, data):
    result = verify(onnx_path, net, data["test"][:16])
    assert isinstance(result, VerifyResult)
    assert result.max_abs_error < 1e-4 and result.top1_agreement == 1.0
    assert "lenet5.onnx" in str(result)


def test_verify_raises_with_artifact_and_numbers(onnx_path, data):
    wrong = data["ref"][:16] + 0.5
    with pytest.raises(VerificationError, match=r"lenet5\.onnx.*max abs error 0\.5"):
        verify(onnx_path, wrong, data["test"][:16])


def test_verify_holds_each_output_to_its_own_scale(onnx_path, data):
    # rtol is relative to the output's largest magnitude: an error on the logit
    # nearest zero passes while it stays under rtol * max|ref|, and fails above it.
    x = data["test"][:16]
    ref = np.asarray(load(onnx_path).predict(x, normalize=False), dtype=np.float32)
    scale = float(np.abs(ref).max())
    small = np.unravel_index(np.abs(ref).argmin(), ref.shape)
    near = ref.copy()
    near[small] += 0.5e-3 * scale
    assert 0.5e-3 * scale > 1e-6 + 1e-3 * abs(ref[small])  # an element-wise check would fail
    verify(onnx_path, near, x, atol=1e-6, rtol=1e-3)
    far = ref.copy()
    far[small] += 2e-3 * scale
    with pytest.raises(VerificationError, match=r"exceeds atol 1e-06 \+ rtol 0\.001 \* max "
                                                r"\|reference\| "):
        verify(onnx_path, far, x, atol=1e-6, rtol=1e-3)


# --- failures leave good files alone --------------------------------------------------------

def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_missing_onnx2tf_names_the_extra(net, tmp_path, monkeypatch):
    good = tmp_path / "m.tflite"
    good.write_bytes(b"good model")
    monkeypatch.setitem(sys.modules, "onnx2tf", None)
    with pytest.raises(MissingDependencyError, match=r"onnx2tf.*'convert' extra"):
        tflite_export.export(net, good)
    assert _snapshot(tmp_path) == {"m.tflite": b"good model"}


def test_failed_conversion_keeps_good_file(net, tmp_path, monkeypatch):
    onnx2tf = pytest.importorskip("onnx2tf")

    def broken_convert(**kwargs):
        os.makedirs(kwargs["output_folder_path"], exist_ok=True)
        with open(os.path.join(kwargs["output_folder_path"], "model_float32.tflite"), "wb") as f:
            f.write(b"half a model")
        print("\x1b[31mERROR:\x1b[0m FancyOp OP is not yet implemented.")
        sys.exit(1)

    good = tmp_path / "m.tflite"
    good.write_bytes(b"good model")
    (tmp_path / "m.tflite.json").write_text("{}")
    before = _snapshot(tmp_path)
    monkeypatch.setattr(onnx2tf, "convert", broken_convert)
    with pytest.raises(ConversionError, match="operator FancyOp"):
        tflite_export.export(net, good)
    assert _snapshot(tmp_path) == before


def test_onnx2tf_runs_lean_and_its_patches_end_with_it(onnx_path, tmp_path, data, monkeypatch):
    """No SavedModel is written and memory is released after each TFLite conversion."""
    onnx2tf = pytest.importorskip("onnx2tf")
    import tensorflow as tf
    from deploy.export import _common
    save, convert = tf.saved_model.save, tf.lite.TFLiteConverter.convert
    real_onnx2tf, written, releases = onnx2tf.convert, [], []

    def listing_convert(**kwargs):
        model = real_onnx2tf(**kwargs)
        written.extend(sorted(os.listdir(kwargs["output_folder_path"])))
        return model

    monkeypatch.setattr(onnx2tf, "convert", listing_convert)
    monkeypatch.setattr(_common, "release_memory", lambda: releases.append(1))
    tflite_export.export(onnx_path, tmp_path / "small.tflite")
    assert written == ["model_float16.tflite", "model_float32.tflite"]  # no saved_model.pb
    assert releases == []  # LeNet-5's 0.2 MB leave nothing worth a garbage collection
    written.clear()
    monkeypatch.setattr(_common, "RELEASE_ABOVE", 0)
    paths = tflite_export.export_many(onnx_path, tmp_path, calib_data=data["calib"])
    assert written == ["model_float16.tflite", "model_float32.tflite"]
    # after the ONNX step, then after onnx2tf's float32 and float16 and the int8 conversion
    assert len(releases) == 4
    assert tf.saved_model.save is save and tf.lite.TFLiteConverter.convert is convert
    assert set(paths) == {"float32", "float16", "int8"}

    def failing(**kwargs):
        assert tf.saved_model.save is not save
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(onnx2tf, "convert", failing)
    with pytest.raises(ConversionError):
        tflite_export.export(onnx_path, tmp_path / "failed.tflite")
    assert tf.saved_model.save is save and tf.lite.TFLiteConverter.convert is convert


def test_release_memory_collects_cycles():
    import gc
    import weakref

    from deploy.export import _common

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    gc.disable()
    try:
        assert alive() is not None
        _common.release_memory()
        assert alive() is None
    finally:
        gc.enable()


def test_failed_verification_keeps_good_onnx(net, tmp_path, monkeypatch):
    good = tmp_path / "m.onnx"
    good.write_bytes(b"good model")

    def failing_verify(*args, **kwargs):
        raise VerificationError("simulated disagreement")

    from deploy.export import _pipeline
    monkeypatch.setattr(_pipeline, "_verify", failing_verify)
    with pytest.raises(VerificationError):
        onnx_export.export(net, good)
    assert _snapshot(tmp_path) == {"m.onnx": b"good model"}


# --- metadata -------------------------------------------------------------------------------

def test_metadata_round_trips_the_config(net):
    meta = build_metadata(net.config, fmt="tflite", precision="int8", artifact_layout="NHWC")
    assert meta["config"] == net.config.to_dict()
    assert ModelConfig.from_dict(json.loads(json.dumps(meta["config"]))) == net.config


def test_metadata_rejects_a_foreign_layout(net):
    with pytest.raises(ArgumentError, match="permutation"):
        build_metadata(net.config, fmt="tflite", precision="float32", artifact_layout="NTC")


def test_read_metadata_errors_name_file_and_fix(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"m\.tflite\.json.*re-export"):
        read_metadata(model)
    sidecar_path(model).write_text("{not json")
    with pytest.raises(ModelFileError, match=r"m\.tflite\.json is not valid JSON"):
        read_metadata(model)
    sidecar_path(model).write_text('{"format_version": 2, "config": {}}')
    with pytest.raises(ModelFileError, match=r"lacks the keys \['artifact'\]"):
        read_metadata(model)


def test_layernorm_block_exports_to_onnx(tmp_path):
    """mx2onnx's opset-13 ReduceMean is checked at opset 13, not onnx's newest."""
    from mxnet.gluon import nn

    from deploy.export import onnx as onnx_export
    from gluon_dl.models import ModelConfig

    class LayerNormNet(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.proj, self.norm, self.head = nn.Dense(16, flatten=False), nn.LayerNorm(), nn.Dense(4)

        def hybrid_forward(self, F, x):
            return self.head(self.norm(self.proj(x)))

    cfg = ModelConfig(name="lnnet", input_shape=(5, 8), layout="NTC", num_classes=4,
                      labels=tuple("abcd"))
    net = LayerNormNet()
    net.initialize()
    net(mx.nd.zeros((1, 5, 8)))
    path = onnx_export.export(net, tmp_path / "ln.onnx", config=cfg)  # verifies vs onnxruntime
    import onnx
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [13]


@pytest.mark.slow
def test_token_input_language_model_converts_to_tflite(tmp_path):
    """onnx2tf's own test run once got float calibration samples for the int32 token
    input and refused every language model; token inputs are left to it.  Its
    full-integer run (where onnx2tf makes dynamic-range files) refuses token
    inputs, so the dynamic-range int8 file is converted without it."""
    import tensorflow as tf

    from deploy.export import tflite as tflite_export
    from deploy.export._common import sample_inputs
    from deploy.runtime import load
    from gluon_dl.models import get_model

    mx.random.seed(0)
    net = get_model("rnn_scratch_lm")
    net.initialize(mx.init.Xavier())
    paths = tflite_export.export_many(net, tmp_path, precisions=("float32", "dynamic_range"))
    x = sample_inputs(net.config, n=3, seed=1)
    ref = net(*[mx.nd.array(a, dtype=a.dtype) for a in x])
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).asnumpy()
    np.testing.assert_allclose(load(paths["float32"]).predict(*x), ref, atol=1e-4)
    dynamic = load(paths["dynamic_range"])
    assert dynamic.precision == "dynamic_range"
    rel = np.abs(dynamic.predict(*x) - ref).max() / np.abs(ref).max()
    assert 0 < rel < 0.05  # int8 weights: close, not exact
    details = tf.lite.Interpreter(model_path=str(paths["dynamic_range"])).get_tensor_details()
    assert any(d["dtype"] == np.int8 for d in details)  # the weights are int8


def test_a_quantized_file_the_interpreter_cannot_allocate_is_refused(tmp_path):
    """The allocation is tried in a child process: a file whose kernels abort the
    interpreter raises ConversionError here instead of killing the caller."""
    from deploy.export import tflite as tflite_export
    from gluon_dl.errors import ConversionError

    broken = tmp_path / "model_full_integer_quant.tflite"
    broken.write_bytes(b"TFL3" + bytes(60))
    with pytest.raises(ConversionError, match="int8 TFLite model of m.onnx crashes"):
        tflite_export._check_allocates(broken, "int8", "m.onnx")
