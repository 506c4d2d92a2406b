"""`gluon-dl deploy`: by registered name and by MXNet symbol file, every artifact verified.

The runs stay small: LeNet-5 with random weights, the MXNet and ONNX formats
(TFLite conversion takes tens of seconds; the format-registry test and the
demo cover it), in-process through ``gluon_dl.cli.main``.
"""
import importlib
import json
import sys
import types

import numpy as np
import pytest

from gluon_dl.cli import build_parser, main

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def deploy(*args):
    return main(["deploy", *map(str, args), "--no-progress"])


def _rows(out):
    return json.loads((out / "report.json").read_text())


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def lenet_symbol(tmp_path_factory):
    """LeNet-5 exported with HybridBlock.export, as any MXNet user would, plus inputs."""
    from gluon_dl.models import get_model

    folder = tmp_path_factory.mktemp("symbol")
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    net.export(str(folder / "lenet"))
    (folder / "labels.txt").write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    from gluon_dl.data import load_mnist
    X, _ = load_mnist()
    np.save(folder / "calib.npy", X[:120, None])  # uint8 pixels, scaled by the reader
    return folder, net


def test_registered_model_with_pruning_and_int8(tmp_path, capsys):
    out = tmp_path / "out"
    code = deploy("lenet5", "--formats", "mxnet,onnx", "--prune", "0.6", "--quantize", "int8",
                  "--out", out)
    assert code == 0, capsys.readouterr().err
    report = _rows(out)
    artifacts = {r["artifact"] for r in report["results"]}
    assert artifacts == {"mxnet-float32", "mxnet-int8", "onnx-float32"}
    assert report["summary"]["pruning"]["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert report["summary"]["inputs"].startswith("mnist-5k")
    for row in report["results"]:
        assert row["agreement"] >= (0.9 if "int8" in row["artifact"] else 0.99)
        assert row["accuracy"] is None  # random weights: no labelled set was asked for
    weights = mx.nd.load(str(out / "artifacts" / "lenet5-0000.params"))
    conv = [v.asnumpy() for k, v in weights.items() if k.endswith("conv1_weight")][0]
    assert 0.55 < np.mean(conv == 0) < 0.65
    from gluon_dl.utils.outdir import read_manifest
    listed = {f["path"] for f in read_manifest(out)["files"]}
    assert {"report.json", "report.md", "report.png", "artifacts/lenet5.onnx",
            "artifacts/lenet5_int8-symbol.json"} <= listed
    text = capsys.readouterr().out
    assert "onnx-float32" in text and "top-1 agreement" in text


def test_a_named_data_set_calibrates_and_gives_accuracy(tmp_path, capsys):
    out = tmp_path / "out"
    assert deploy("lenet5", "--data", "mnist-5k", "--formats", "onnx", "--out", out) == 0
    (row,) = _rows(out)["results"]
    assert 0.0 <= row["accuracy"] <= 1.0 and row["agreement"] == 1.0
    assert deploy("lenet5", "--data", "time-machine", "--out", tmp_path / "o2") == 1
    _one_line_error(capsys, "--data time-machine is a text set", "--calib")


def test_rerun_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert deploy("lenet5", "--formats", "onnx", "--out", out) == 0
    before = (out / "report.json").read_bytes()
    capsys.readouterr()
    assert deploy("lenet5", "--formats", "onnx", "--out", out) == 1
    _one_line_error(capsys, "--overwrite")
    assert (out / "report.json").read_bytes() == before
    assert deploy("lenet5", "--formats", "onnx", "--out", out, "--overwrite", "--seed", "1") == 0


def test_symbol_file_with_labels_and_calibration(lenet_symbol, tmp_path, capsys):
    folder, net = lenet_symbol
    out = tmp_path / "out"
    code = deploy(folder / "lenet-symbol.json", "--input-shape", "1,1,28,28", "--mean",
                  "0.1307", "--std", "0.3081", "--labels", folder / "labels.txt",
                  "--quantize", "int8", "--calib", folder / "calib.npy", "--formats",
                  "mxnet,onnx", "--out", out)
    assert code == 0, capsys.readouterr().err
    meta = json.loads((out / "artifacts" / "lenet.onnx.json").read_text())
    config = meta["config"]
    assert config["name"] == "lenet" and config["input_shape"] == [1, 28, 28]
    assert config["labels"][3] == "digit 3" and config["num_classes"] == 10
    assert config["mean"] == [0.1307] and config["std"] == [0.3081]
    assert {r["artifact"] for r in _rows(out)["results"]} == \
        {"mxnet-float32", "mxnet-int8", "onnx-float32"}
    from deploy.runtime import load
    x = np.load(folder / "calib.npy")[:4].astype(np.float32) / 255
    expected = net(mx.nd.array((x - 0.1307) / 0.3081)).asnumpy()
    np.testing.assert_allclose(load(out / "artifacts" / "lenet.onnx").predict(x), expected,
                               atol=1e-4)


def test_symbol_file_without_calibration_skips_int8(lenet_symbol, tmp_path, capsys):
    folder, _ = lenet_symbol
    out = tmp_path / "out"
    code = main(["deploy", str(folder / "lenet-symbol.json"), "--input-shape", "1,1,28,28",
                 "--quantize", "int8", "--formats", "mxnet", "--out", str(out)])
    assert code == 0
    assert "int8 skipped" in capsys.readouterr().out
    report = _rows(out)
    assert {r["artifact"] for r in report["results"]} == {"mxnet-float32"}
    assert report["summary"]["int8"].startswith("skipped")


def test_structured_pruning_calls_prune_channels(lenet_symbol, tmp_path, monkeypatch, capsys):
    calls = []

    def prune_channels(net, sparsity, *, config, exclude=()):
        calls.append((sparsity, config.name))
        return net, {"removed_channels": 3}

    module = types.ModuleType("deploy.prune.structured")
    module.prune_channels = prune_channels
    try:  # the real module, when installed, is replaced by the stand-in for this test
        importlib.import_module("deploy.prune.structured")
    except ImportError:
        monkeypatch.setitem(sys.modules, "deploy.prune.structured", module)
    else:
        monkeypatch.setattr("deploy.prune.structured.prune_channels", prune_channels)
    out = tmp_path / "out"
    assert deploy("lenet5", "--prune", "0.25", "--structured", "--formats", "onnx",
                  "--out", out) == 0, capsys.readouterr().err
    assert calls == [(0.25, "lenet5")]
    assert _rows(out)["summary"]["pruning"] == {"structured": True, "sparsity": 0.25,
                                                "report": {"removed_channels": 3}}


def test_a_part_deploys_on_its_own(tmp_path, capsys):
    out = tmp_path / "out"
    assert deploy("vae_mlp", "--part", "decoder", "--formats", "onnx", "--out", out) == 0, \
        capsys.readouterr().err
    (row,) = _rows(out)["results"]
    assert row["artifact"] == "onnx-float32" and row["max_abs_error"] < 1e-4
    import onnx
    (onnx_file,) = (out / "artifacts").glob("*.onnx")
    (latent,) = onnx.load(str(onnx_file)).graph.input
    from gluon_dl.models import get_part
    latent_shape = list(get_part("vae_mlp", "decoder").config.input_shape)
    assert [d.dim_value for d in latent.type.tensor_type.shape.dim][1:] == latent_shape
    assert deploy("vae_mlp", "--part", "encoder", "--out", tmp_path / "o2") == 1
    _one_line_error(capsys, "decoder")


@pytest.mark.parametrize("args, needles", [
    (["lenet5", "--prune", "1.5"], ["--prune takes a sparsity"]),
    (["lenet5", "--structured"], ["--structured", "--prune"]),
    (["lenet5", "--formats", "onx"], ["unknown export format 'onx'", "onnx"]),
    (["lenet9"], ["unknown model 'lenet9'"]),
    (["lenet5", "--input-shape", "1,1,28,28"], ["--input-shape describes a symbol file"]),
    (["missing-symbol.json", "--input-shape", "1,3,8,8"], ["missing-symbol.json"]),
    (["lenet5", "--labels", "no-labels.txt"], ["no-labels.txt"]),
])
def test_user_errors_are_one_line_exit_1(tmp_path, capsys, args, needles):
    assert deploy(*args, "--out", tmp_path / "out") == 1
    _one_line_error(capsys, *needles)
    assert not (tmp_path / "out").exists()


def test_symbol_file_needs_its_input_shape(lenet_symbol, tmp_path, capsys):
    folder, _ = lenet_symbol
    assert deploy(folder / "lenet-symbol.json", "--out", tmp_path / "out") == 1
    _one_line_error(capsys, "lenet-symbol.json is a symbol file", "--input-shape")
    assert deploy(folder / "lenet-symbol.json", "--input-shape", "1,3,28,28", "--out",
                  tmp_path / "out") == 1
    _one_line_error(capsys, "does not run on inputs of shape (1, 3, 28, 28)")
    labels = tmp_path / "three.txt"
    labels.write_text("a\nb\nc\n")
    assert deploy(folder / "lenet-symbol.json", "--input-shape", "1,1,28,28", "--labels",
                  labels, "--out", tmp_path / "out") == 1
    _one_line_error(capsys, "3 labels", "10 scores")


def test_usage_errors_exit_2_and_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["deploy", "lenet5"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["deploy", "x-symbol.json", "--input-shape", "1,a", "--out", "o"])
    assert info.value.code == 2
    deploy_parser = build_parser()._subparsers._group_actions[0].choices["deploy"]
    text = deploy_parser.format_help()
    for action in deploy_parser._actions:
        for option in action.option_strings:
            assert option in text
        assert action.help, action.dest
