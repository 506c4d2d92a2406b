"""The edge runtime: every registered backend, input handling and broken model files.

Artifacts come from one randomly initialized LeNet-5, exported once per module.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deploy.metadata import sidecar_path
from deploy.runtime import (Predictor, available_backends, benchmark_latency, list_backends,
                            load)
from gluon_dl.errors import (ArgumentError, InputShapeError, IntegrityError,
                             MissingDependencyError, ModelFileError, UnknownNameError)

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnx2tf")

TFLITE_BACKENDS = [name for name, suffixes in list_backends().items() if ".tflite" in suffixes]
ONNX_BACKENDS = [name for name, suffixes in list_backends().items() if ".onnx" in suffixes]


def _installed(name):
    return pytest.param(name, marks=pytest.mark.skipif(
        name not in available_backends(), reason=f"backend '{name}' is not installed"))


tflite_backends = pytest.mark.parametrize("backend", [_installed(b) for b in TFLITE_BACKENDS])
every_backend = pytest.mark.parametrize(
    "backend", [_installed(b) for b in TFLITE_BACKENDS + ONNX_BACKENDS])


def test_registry_has_both_tflite_interpreters_and_onnxruntime():
    assert TFLITE_BACKENDS[:2] == ["litert", "tflite-runtime"]
    assert ONNX_BACKENDS == ["onnxruntime"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from deploy.export import onnx as onnx_export
    from deploy.export import tflite as tflite_export
    from deploy.export._common import default_inputs
    from gluon_dl.models import get_model

    mx.random.seed(0)
    np.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    out = tmp_path_factory.mktemp("runtime")
    calib = default_inputs(net.config, n=100, seed=1)
    paths = tflite_export.export_many(net, out, precisions=("float32", "int8"), calib_data=calib,
                                      verify=False)
    paths["onnx"] = onnx_export.export(net, out / "lenet5.onnx", verify=False)
    raw = np.random.RandomState(3).uniform(0, 1, size=(6, 1, 28, 28)).astype(np.float32)
    normalized = (raw - 0.1307) / 0.3081
    ref = net(mx.nd.array(normalized)).asnumpy()
    return {"paths": paths, "raw": raw, "ref": ref, "config": net.config}


def _artifact(setup, backend, precision="float32"):
    return setup["paths"]["onnx" if backend in ONNX_BACKENDS else precision]


# --- every backend ----------------------------------------------------------------------------

@every_backend
def test_float_model_matches_mxnet(setup, backend):
    predictor = load(_artifact(setup, backend), backend=backend)
    assert isinstance(predictor, Predictor) and predictor.backend == backend
    out = predictor.predict(setup["raw"])  # raw [0, 1] inputs: normalized by the predictor
    assert out.dtype == np.float32 and out.shape == (6, 10)
    assert np.abs(out - setup["ref"]).max() < 1e-4


@tflite_backends
def test_int8_model_quantizes_input_and_dequantizes_output(setup, backend):
    predictor = load(setup["paths"]["int8"], backend=backend)
    spec = predictor.input_details
    x = predictor.preprocess(setup["raw"])
    assert x.dtype == np.int8 and x.shape == (6, 28, 28, 1)
    expected = np.round((setup["raw"] - 0.1307) / 0.3081 / spec["scale"]) + spec["zero_point"]
    np.testing.assert_array_equal(x, np.clip(expected, -128, 127).transpose(0, 2, 3, 1))
    out = predictor.predict(setup["raw"])
    assert out.dtype == np.float32
    assert np.abs(out - setup["ref"]).max() < 0.1


def test_tflite_interpreters_agree(setup):
    if not {"litert", "tflite-runtime"} <= set(available_backends()):
        pytest.skip("needs both ai-edge-litert and tflite-runtime")
    for precision in ("float32", "int8"):
        a = load(setup["paths"][precision], backend="litert").predict(setup["raw"])
        b = load(setup["paths"][precision], backend="tflite-runtime").predict(setup["raw"])
        np.testing.assert_allclose(a, b, atol=1e-6 if precision == "float32" else 0.03)


@every_backend
def test_single_sample_equals_batch_row(setup, backend):
    predictor = load(_artifact(setup, backend), backend=backend)
    batch = predictor.predict(setup["raw"])
    single = predictor.predict(setup["raw"][2])
    assert single.shape == (1, 10)
    np.testing.assert_allclose(single[0], batch[2], atol=1e-6)


@every_backend
def test_wrong_shape_names_expected_and_given(setup, backend):
    predictor = load(_artifact(setup, backend), backend=backend)
    with pytest.raises(InputShapeError, match=r"\(N, 1, 28, 28\).*NCHW.*\(2, 28, 28\)"):
        predictor.predict(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(InputShapeError, match=r"looks like channels-last \(HWC\)"):
        predictor.predict(np.zeros((2, 28, 28, 1), np.float32))


@every_backend
def test_normalize_false_takes_normalized_inputs(setup, backend):
    predictor = load(_artifact(setup, backend), backend=backend)
    normalized = (setup["raw"] - 0.1307) / 0.3081
    np.testing.assert_allclose(predictor.predict(normalized, normalize=False),
                               predictor.predict(setup["raw"]), atol=1e-6)


# --- broken files ---------------------------------------------------------------------------

def _broken_copy(src, dst, how):
    data = src.read_bytes()
    dst.write_bytes({"corrupt": np.random.RandomState(0).bytes(len(data)),
                     "truncated": data[:len(data) // 2],
                     "cut_early": data[:20000],  # crashed tflite-runtime before the check
                     "empty": b""}[how])
    sidecar = src.with_name(src.name + ".json")
    dst.with_name(dst.name + ".json").write_bytes(sidecar.read_bytes())
    return dst


@pytest.mark.parametrize("how", ["corrupt", "truncated", "cut_early", "empty"])
@every_backend
def test_broken_file_raises_model_file_error(setup, tmp_path, backend, how):
    src = _artifact(setup, backend)
    path = _broken_copy(src, tmp_path / f"broken{src.suffix}", how)
    with pytest.raises(ModelFileError, match=r"broken\.(tflite|onnx).*(re-export|empty)"):
        load(path, backend=backend)
    # Without the checksum the backend itself must refuse the file, not crash.
    with pytest.raises(ModelFileError, match=r"broken\.(tflite|onnx).*(re-export|empty)"):
        load(path, backend=backend, verify_checksum=False)


# --- integrity: damaged copies never give predictions ---------------------------------------

FLIPS = 25


def _flipped(src, dst, offset, with_sidecar=True):
    data = bytearray(src.read_bytes())
    data[offset] ^= 0xFF
    dst.write_bytes(bytes(data))
    if with_sidecar:
        sidecar_path(dst).write_bytes(sidecar_path(src).read_bytes())
    return dst


@pytest.mark.parametrize("kind", ["onnx", "float32"])
def test_every_flipped_byte_is_refused(setup, tmp_path, kind):
    src = setup["paths"][kind]
    size = src.stat().st_size
    offsets = sorted(set(np.linspace(0, size - 1, FLIPS).astype(int).tolist()))
    assert len(offsets) == FLIPS
    for offset in offsets:
        path = _flipped(src, tmp_path / f"damaged{src.suffix}", offset)
        with pytest.raises(IntegrityError, match=rf"damaged{src.suffix} is damaged or was "
                                                 rf"changed.*verify_checksum=False"):
            load(path).predict(setup["raw"])
    # The intact file runs, with or without the check.
    for verify_checksum in (True, False):
        out = load(src, verify_checksum=verify_checksum).predict(setup["raw"])
        assert np.abs(out - setup["ref"]).max() < 1e-4


def test_flipped_sidecar_bytes_are_refused(setup, tmp_path):
    src = setup["paths"]["float32"]
    sidecar = sidecar_path(src).read_bytes()
    path = tmp_path / "m.tflite"
    path.write_bytes(src.read_bytes())
    for offset in np.linspace(0, len(sidecar) - 1, FLIPS).astype(int):
        data = bytearray(sidecar)
        data[offset] ^= 0xFF
        sidecar_path(path).write_bytes(bytes(data))
        with pytest.raises(ModelFileError, match=r"m\.tflite\.json"):
            load(path)


def test_onnx_without_sidecar_checks_its_graph_hash(setup, tmp_path):
    import onnx

    src = setup["paths"]["onnx"]
    graph = onnx.load(str(src)).graph.SerializeToString()
    start = src.read_bytes().find(graph)
    assert start > 0
    for offset in np.linspace(start, start + len(graph) - 1, FLIPS).astype(int):
        path = _flipped(src, tmp_path / "bare.onnx", offset, with_sidecar=False)
        with pytest.raises(IntegrityError, match=r"bare\.onnx \(its ONNX graph\) is damaged"):
            load(path)
    intact = tmp_path / "intact.onnx"
    intact.write_bytes(src.read_bytes())
    assert load(intact).predict(setup["raw"]).shape == (6, 10)


def test_a_model_changed_on_purpose_runs_with_the_opt_out(setup, tmp_path):
    src = setup["paths"]["float32"]
    path = tmp_path / "mine.tflite"
    path.write_bytes(src.read_bytes() + b"\0" * 16)  # e.g. re-aligned by another tool
    sidecar_path(path).write_bytes(sidecar_path(src).read_bytes())
    with pytest.raises(IntegrityError, match="mine.tflite"):
        load(path)
    assert load(path, verify_checksum=False).predict(setup["raw"]).shape == (6, 10)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothere\.tflite does not exist"):
        load(tmp_path / "nothere.tflite")
    other = tmp_path / "model.pt"
    other.write_bytes(b"torch")
    with pytest.raises(ModelFileError, match=r"unknown model format.*\.onnx.*\.tflite"):
        load(other)


def test_missing_sidecar(setup, tmp_path):
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(setup["paths"]["float32"].read_bytes())
    with pytest.raises(ModelFileError, match=r"bare\.tflite\.json"):
        load(bare)
    bare_onnx = tmp_path / "bare.onnx"  # ONNX falls back to its embedded metadata
    bare_onnx.write_bytes(setup["paths"]["onnx"].read_bytes())
    assert load(bare_onnx).config.name == "lenet5"


def test_metadata_of_another_model_is_rejected(setup, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(setup["paths"]["float32"].read_bytes())
    meta = load(setup["paths"]["float32"]).metadata
    meta = dict(meta, config=dict(meta["config"], input_shape=[3, 32, 32]))
    with pytest.raises(ModelFileError, match="belongs to another model"):
        load(path, metadata=meta)
    meta = dict(load(setup["paths"]["onnx"]).metadata)
    with pytest.raises(ModelFileError,
                       match="describes an artifact of format 'onnx', not a tflite"):
        load(path, metadata=meta)


# --- backend choice -------------------------------------------------------------------------

def test_litert_is_preferred_then_tflite_runtime(setup, monkeypatch):
    installed = available_backends(setup["paths"]["float32"])
    if installed:
        assert load(setup["paths"]["float32"]).backend == installed[0]
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    assert "litert" not in available_backends()
    if "tflite-runtime" in installed:
        assert load(setup["paths"]["float32"]).backend == "tflite-runtime"


def test_unavailable_backend_names_the_edge_extra(setup, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    with pytest.raises(MissingDependencyError, match=r"ai_edge_litert.*'edge' extra"):
        load(setup["paths"]["float32"], backend="litert")
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    with pytest.raises(MissingDependencyError, match="'edge' extra"):
        load(setup["paths"]["float32"])


def test_unknown_or_mismatched_backend(setup):
    with pytest.raises(UnknownNameError, match=r"did you mean litert.*registered: .*onnxruntime"):
        load(setup["paths"]["float32"], backend="litrt")
    with pytest.raises(ArgumentError, match="runs .onnx files, not lenet5_float32.tflite; use "
                                            "litert or tflite-runtime"):
        load(setup["paths"]["float32"], backend="onnxruntime")


# --- conveniences ---------------------------------------------------------------------------

def test_labels_and_latency(setup):
    predictor = load(setup["paths"]["int8"], num_threads=1)
    assert predictor.labels == [str(i) for i in range(10)]
    labels = predictor.predict_labels(setup["raw"])
    assert labels == [str(i) for i in predictor.predict(setup["raw"]).argmax(axis=1)]
    times = benchmark_latency(predictor, runs=5, warmup=1)
    assert len(times) == 5 and all(t > 0 for t in times)
    assert "int8" in repr(predictor)


# --- isolation ------------------------------------------------------------------------------

_ISOLATION_SCRIPT = """
import json, sys
import numpy as np
from deploy.runtime import load
for path in sys.argv[1:]:
    out = load(path).predict(np.zeros((2, 1, 28, 28), np.float32))
    assert out.shape == (2, 10), out.shape
heavy = ("mxnet", "tensorflow", "onnx", "onnx2tf", "keras", "gluon_dl.models")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy)))
"""


def test_runtime_imports_no_training_or_conversion_stack(setup):
    paths = [str(setup["paths"]["int8"]), str(setup["paths"]["onnx"])]
    result = subprocess.run([sys.executable, "-c", _ISOLATION_SCRIPT, *paths],
                            cwd=Path(__file__).resolve().parents[1], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_native_stderr_filter_drops_info_and_keeps_the_rest(capfd):
    import os

    from deploy.runtime._stderr import native_info_filtered

    with native_info_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something real\n")
    err = capfd.readouterr().err
    assert "XNNPACK" not in err and "ERROR: something real" in err
