"""How ONNX models are written, checked and simplified: piece by piece and from files.

protobuf's upb ``SerializeToString`` (and ``ByteSize``) build a model's whole
encoding in a growing buffer, 4.5 times its size; the ONNX exporter writes
with :mod:`deploy.export._protowrite` instead and hands files, not models, to
the checker, onnxsim and onnxruntime.
"""
import hashlib
import os
import sys

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxsim")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from deploy.export import _protowrite  # noqa: E402
from deploy.export import onnx as onnx_export  # noqa: E402
from deploy.metadata import onnx_graph_sha256  # noqa: E402
from deploy.runtime import load  # noqa: E402
from gluon_dl.errors import ArgumentTypeError, ConversionError  # noqa: E402


@pytest.fixture(scope="module")
def net(trained_lenet):
    return trained_lenet[0]


@pytest.fixture(scope="module")
def model(net, tmp_path_factory):
    return onnx.load(str(onnx_export.export(net, tmp_path_factory.mktemp("w") / "l.onnx")))


def _written(message):
    pieces = []
    size = _protowrite.write_message(message, pieces.append)
    return pieces, size


@pytest.mark.parametrize("chunk", [_protowrite.CHUNK, 4096, 1])
def test_written_model_parses_back_equal(model, monkeypatch, chunk):
    # chunk 4096: the weights go field by field; 1: every message does.
    monkeypatch.setattr(_protowrite, "CHUNK", chunk)
    pieces, size = _written(model)
    data = b"".join(pieces)
    assert size == len(data) == len(model.SerializeToString())
    back = onnx.ModelProto()
    back.ParseFromString(data)
    assert back == model
    assert b"".join(_written(back)[0]) == data  # the same bytes on every write
    if chunk < _protowrite.CHUNK:
        assert len(pieces) > len(model.graph.initializer)


def test_large_bytes_are_written_from_the_message(monkeypatch):
    monkeypatch.setattr(_protowrite, "CHUNK", 1000)
    weights = np.arange(4096, dtype=np.float32)
    tensor = onnx.numpy_helper.from_array(weights, "w")
    pieces, size = _written(tensor)
    assert weights.tobytes() in pieces  # one piece, never joined with the rest
    assert size == len(tensor.SerializeToString())
    back = onnx.TensorProto()
    back.ParseFromString(b"".join(pieces))
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(back), weights)


def test_graph_hash_is_that_of_the_written_file(model, tmp_path, monkeypatch):
    monkeypatch.setattr(_protowrite, "CHUNK", 4096)
    path = tmp_path / "m.onnx"
    onnx_export.save_model(model, path)
    assert onnx_export.graph_sha256(model) == onnx_graph_sha256(path.read_bytes())
    assert onnx_export.graph_sha256(model) != hashlib.sha256(
        model.graph.SerializeToString()).hexdigest()  # field order differs from upb's


def test_fields_unknown_to_this_protobuf_are_kept(model, monkeypatch):
    monkeypatch.setattr(_protowrite, "CHUNK", 1)
    extra = bytes([0xF8, 0x07, 0x05])  # field 127, a varint: not in onnx 1.15's ModelProto
    newer = onnx.ModelProto()
    newer.ParseFromString(model.SerializeToString() + extra)
    data = b"".join(_written(newer)[0])
    assert data.endswith(extra) and len(data) == len(newer.SerializeToString())


def test_a_protobuf_that_cannot_list_unknown_fields_writes_whole(model, monkeypatch):
    monkeypatch.setattr(_protowrite, "CHUNK", 1)
    import google.protobuf
    monkeypatch.delattr(google.protobuf, "unknown_fields", raising=False)  # before 4.22
    monkeypatch.setitem(sys.modules, "google.protobuf.unknown_fields", None)
    pieces, size = _written(model)
    assert pieces == [model.SerializeToString()] and size == len(pieces[0])


def test_a_miscounted_message_is_refused(monkeypatch):
    tensor = onnx.numpy_helper.from_array(np.ones(3, np.float32), "w")
    monkeypatch.setattr(_protowrite, "_plan", lambda m: ("whole", m, 1))
    with pytest.raises(RuntimeError, match="TensorProto serialized to"):
        _protowrite.write_message(tensor, lambda b: None)


def _peak_rss_after(action):
    """VmHWM growth over VmRSS while ``action`` runs (the peak reset first)."""
    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key)) << 10
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    action()
    return status("VmHWM") - before


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's resettable peak RSS")
def test_writing_a_large_model_holds_no_copy_of_it(tmp_path):
    tensors = [onnx.numpy_helper.from_array(np.full((1024, 8192), i, np.float32), f"w{i}")
               for i in range(4)]  # 128 MiB of weights
    graph = onnx.helper.make_graph([], "g", [], [], initializer=tensors)
    model = onnx.helper.make_model(graph)
    del tensors, graph
    path = tmp_path / "big.onnx"
    grown = _peak_rss_after(lambda: onnx_export.save_model(model, path))
    # SerializeToString: +4.5x the model (~580 MiB); piece by piece: one weight's copy
    assert grown < 96 << 20, f"writing took {grown >> 20} MiB more"
    assert path.stat().st_size == len(model.SerializeToString())
    assert onnx.load(str(path)) == model


def test_export_without_onnxsims_file_entry_point(net, tmp_path, monkeypatch):
    import onnxsim

    class Native:  # an onnxsim without simplify_path
        simplify = onnxsim.onnx_simplifier.C.simplify

    monkeypatch.setattr(onnxsim.onnx_simplifier, "C", Native)
    calls = []
    real = onnxsim.simplify
    monkeypatch.setattr(onnxsim, "simplify", lambda *a, **k: calls.append(k) or real(*a, **k))
    path = onnx_export.export(net, tmp_path / "l.onnx")
    assert calls == [{"perform_optimization": True}]
    x = np.random.RandomState(0).rand(2, 1, 28, 28).astype(np.float32)
    np.testing.assert_allclose(load(path).predict(x), net(mx.nd.array(
        net.config.normalize(x))).asnumpy(), atol=1e-4)


def test_save_model_refuses_other_objects_and_keeps_the_file_on_failure(model, tmp_path,
                                                                        monkeypatch):
    path = tmp_path / "kept.onnx"
    path.write_bytes(b"earlier artifact")
    with pytest.raises(ArgumentTypeError, match="onnx.ModelProto, got GraphProto"):
        onnx_export.save_model(model.graph, path)

    def broken(plan, write):
        write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(_protowrite, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        onnx_export.save_model(model, path)
    assert path.read_bytes() == b"earlier artifact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.onnx"]


def test_a_graph_the_checker_rejects_is_named(tmp_path):
    node = onnx.helper.make_node("NoSuchOperator", ["x"], ["y"], name="odd_layer")
    graph = onnx.helper.make_graph(
        [node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "bad.onnx"
    onnx_export.save_model(onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", 13)]), path)
    with pytest.raises(ConversionError, match=r"out\.onnx: the ONNX checker rejects.*"
                                              r"NoSuchOperator"):
        onnx_export._check_model(path, tmp_path / "out.onnx")
