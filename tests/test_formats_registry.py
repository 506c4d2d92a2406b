"""Export formats register like models: one module (here: this test) adds a format.

The format defined below is ONNX with a fixed batch of one, registered under
a new name with a suffix of its own.  Nothing else is edited, yet the
pipeline exports it, the demo's export step lists it and ``gluon-dl deploy
--formats`` writes it, each artifact verified in its runtime.
"""
import json

import numpy as np
import pytest

from deploy.export import (Converted, export, get_format, list_formats,
                           register_format, unregister_format)
from deploy.runtime import load
from gluon_dl.errors import ArgumentError, UnknownNameError

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

PLUGIN = "onnx-static"


def _register_plugin():
    from deploy.export import onnx as onnx_export

    @register_format(PLUGIN, suffix=".static.onnx", artifact_format="onnx")
    def convert(job):
        """ONNX with the batch axis fixed to one: the built-in converter, other options."""
        converted = onnx_export.convert(dataclass_replace(job, options={
            **job.options, "dynamic_batch": False}))
        return converted

    return convert


def dataclass_replace(job, **changes):
    import dataclasses
    return dataclasses.replace(job, **changes)


@pytest.fixture
def plugin():
    _register_plugin()
    yield get_format(PLUGIN)
    unregister_format(PLUGIN)


@pytest.fixture(scope="module")
def net():
    from gluon_dl.models import get_model

    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    return net


def test_built_in_formats_register_themselves():
    import deploy.export

    assert {"mxnet", "onnx", "tflite"} <= set(list_formats())
    for name in ("mxnet", "onnx", "tflite"):
        fmt = get_format(name)
        assert fmt.convert.__module__ == f"deploy.export.{name}"
        assert getattr(deploy.export, name).convert is fmt.convert
    assert get_format("tflite").calibrated == ("int8",)
    assert get_format("tflite").filename("m", "int8") == "m_int8.tflite"
    assert get_format("onnx").filename("m", "float32") == "m.onnx"


def test_unknown_duplicate_and_bad_names_are_refused():
    with pytest.raises(UnknownNameError, match="unknown export format 'onx'; did you mean onnx"):
        get_format("onx")
    with pytest.raises(ArgumentError, match="registered twice"):
        register_format("onnx", suffix=".onnx")(lambda job: {})
    with pytest.raises(ArgumentError, match="lower-case"):
        register_format("My Format", suffix=".x")
    with pytest.raises(ArgumentError, match="writes the precisions"):
        get_format("onnx").targets("out", "m", ["int8"])


def test_plugin_format_goes_through_the_pipeline(plugin, net, tmp_path):
    assert PLUGIN in list_formats()
    path = export(PLUGIN, net, {"float32": tmp_path / "m.static.onnx"})["float32"]
    meta = json.loads((tmp_path / "m.static.onnx.json").read_text())
    assert meta["artifact"]["format"] == "onnx" and meta["artifact"]["dynamic_batch"] is False
    assert meta["artifact"]["input_shapes"] == [[1, 1, 28, 28]]
    predictor = load(path)
    assert predictor.backend == "onnxruntime" and predictor.input_details["shape"] == \
        (1, 1, 28, 28)
    x = np.random.RandomState(0).uniform(size=(3, 1, 28, 28)).astype(np.float32)
    ref = net(mx.nd.array(net.config.normalize(x))).asnumpy()
    np.testing.assert_allclose(predictor.predict(x), ref, atol=1e-4)  # batch 1, three runs


def test_plugin_format_is_listed_by_the_demo_export_step(plugin, net, tmp_path):
    from gluon_dl.demo import export_artifacts

    artifacts = export_artifacts(net, net.config, tmp_path, None, ("float32", "float16"),
                                 log=lambda line: None, formats=["onnx", PLUGIN])
    assert [label for label, _ in artifacts] == ["onnx-float32", f"{PLUGIN}-float32"]
    from gluon_dl.deploy_command import check_formats
    assert PLUGIN in check_formats(None)  # what deploy and the demo export by default


def test_plugin_format_is_written_by_the_deploy_command(plugin, tmp_path, capsys):
    from gluon_dl.cli import main

    code = main(["deploy", "lenet5", "--formats", f"onnx,{PLUGIN}", "--out",
                 str(tmp_path / "out"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {r["artifact"] for r in report["results"]} == {"onnx-float32", f"{PLUGIN}-float32"}
    assert (tmp_path / "out" / "artifacts" / "lenet5.static.onnx").is_file()


def test_a_format_that_breaks_its_files_fails_verification(net, tmp_path):
    from gluon_dl.errors import VerificationError

    @register_format("onnx-broken", suffix=".onnx", artifact_format="onnx")
    def convert(job):
        import onnx

        from deploy.export import onnx as onnx_export
        converted = onnx_export.convert(job)["float32"]
        model = onnx.load(str(converted.path))
        weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims))  # the largest
        array = onnx.numpy_helper.to_array(weight)
        weight.CopyFrom(onnx.numpy_helper.from_array(np.full_like(array, 0.5), weight.name))
        onnx.save(model, str(converted.path))
        fields = dict(converted.fields, graph_sha256=onnx_export.graph_sha256(model))
        return {"float32": Converted(converted.path, fields, embed=converted.embed)}

    try:
        with pytest.raises(VerificationError, match="disagrees with the MXNet model"):
            export("onnx-broken", net, {"float32": tmp_path / "b.onnx"})
        assert not (tmp_path / "b.onnx").exists()
    finally:
        unregister_format("onnx-broken")


def test_a_backend_registered_in_one_module_runs_artifacts(net, tmp_path, monkeypatch):
    from deploy.runtime import _backends, available_backends, list_backends, register_backend
    from deploy.runtime.backends.onnxruntime import ONNXRuntimeBackend

    monkeypatch.setattr(_backends, "_BACKENDS", dict(_backends._BACKENDS))  # undone after

    @register_backend
    class OneThread(ONNXRuntimeBackend):
        """onnxruntime pinned to one thread: a backend defined outside the package."""

        name = "onnxruntime-1thread"

        @classmethod
        def open(cls, path, num_threads=None):
            return super().open(path, num_threads=1)

    path = export("onnx", net, {"float32": tmp_path / "m.onnx"})["float32"]
    assert list_backends()["onnxruntime-1thread"] == (".onnx",)
    assert "onnxruntime-1thread" in available_backends(path)
    x = np.random.RandomState(1).uniform(size=(2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(load(path, backend="onnxruntime-1thread").predict(x),
                               load(path, backend="onnxruntime").predict(x), atol=1e-6)
