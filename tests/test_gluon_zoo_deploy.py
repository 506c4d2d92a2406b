"""Networks from GluonCV's and GluonNLP's model zoos through export, pruning, int8 and verify.

Built without pretrained weights (offline), by API (a block and a ModelConfig)
and by file (``HybridBlock.export`` then ``gluon-dl deploy`` on the symbol
file).  The default suite runs small smoke forms; the full runs are slow.
"""
import json

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from deploy.export import artifact_files, export_all  # noqa: E402
from deploy.runtime import load  # noqa: E402
from gluon_dl.config import ModelConfig, token_config  # noqa: E402

CIFAR = dict(input_shape=(3, 32, 32), mean=(0.4914, 0.4822, 0.4465),
             std=(0.2023, 0.1994, 0.2010), num_classes=10)


@pytest.fixture(scope="module")
def resnet():
    model_zoo = pytest.importorskip("gluoncv.model_zoo")
    mx.random.seed(0)
    net = model_zoo.get_model("cifar_resnet20_v1", pretrained=False)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    return net, ModelConfig(name="cifar_resnet20_v1", **CIFAR)


def _images(n, seed=0):
    return np.random.RandomState(seed).uniform(size=(n, 3, 32, 32)).astype(np.float32)


def test_gluoncv_resnet_pruned_exports_to_onnx_by_api(resnet, tmp_path):
    from deploy.prune import prune_to_sparsity

    net, config = resnet
    pruner = prune_to_sparsity(net, 0.5)
    pruner.strip()
    assert pruner.overall_sparsity() == pytest.approx(0.5, abs=0.01)
    written = export_all(net, tmp_path, ["onnx"], config=config)  # verified inside
    assert [(f, p) for f, p, _ in written] == [("onnx", "float32")]
    x = _images(4)
    expected = net(mx.nd.array(config.normalize(x))).asnumpy()
    np.testing.assert_allclose(load(written[0][2]).predict(x), expected, atol=1e-4)


@pytest.mark.slow
def test_gluoncv_resnet_by_file_pruned_quantized_everywhere(resnet, tmp_path):
    from gluon_dl.deploy_command import run_deploy

    net, config = resnet
    net.export(str(tmp_path / "resnet"))
    calib = (_images(64, seed=1) * 255).astype(np.uint8)
    np.save(tmp_path / "calib.npy", calib)
    result = run_deploy(tmp_path / "out", str(tmp_path / "resnet-symbol.json"),
                        input_shape=(1, 3, 32, 32), mean=CIFAR["mean"], std=CIFAR["std"],
                        prune=0.5, quantize="int8", calib=tmp_path / "calib.npy",
                        latency_runs=3, log=lambda line: None)
    rows = {(r.artifact, r.runtime): r for r in result.results}
    assert {a for a, _ in rows} >= {"mxnet-float32", "mxnet-int8", "onnx-float32",
                                    "tflite-float32", "tflite-int8"}
    for (artifact, _), row in rows.items():
        assert row.agreement >= (0.8 if "int8" in artifact else 0.99), artifact
    assert result.summary["pruning"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    params = mx.nd.load(str(tmp_path / "out" / "artifacts" / "resnet-0000.params"))
    conv = [v.asnumpy() for k, v in params.items() if "conv" in k and k.endswith("weight")]
    assert np.mean(np.concatenate([c.ravel() for c in conv]) == 0) > 0.45


def _lstm_lm(**kwargs):
    """GluonNLP's standard_lstm_lm_200 on a small vocabulary, batch-major for export."""
    gluonnlp = pytest.importorskip("gluonnlp")
    counter = gluonnlp.data.count_tokens("the quick brown fox jumps over the lazy dog".split())
    vocab = gluonnlp.Vocab(counter)
    mx.random.seed(0)
    lm, _ = gluonnlp.model.get_model("standard_lstm_lm_200", pretrained=False, vocab=vocab,
                                     dropout=0, **kwargs)

    class BatchMajor(mx.gluon.HybridBlock):
        """(N, T) token ids in, (N, T, vocab) scores out; GluonNLP LMs are time-major."""

        def __init__(self, inner):
            super().__init__(prefix="lm_")
            self.inner = inner

        def hybrid_forward(self, F, tokens):
            out, _ = self.inner(F.transpose(tokens))
            return F.transpose(out, axes=(1, 0, 2))

    net = BatchMajor(lm)
    net.initialize(mx.init.Xavier())
    config = token_config("standard_lstm_lm_200", 12, len(vocab), task="language-model")
    return net, config


def test_gluonnlp_lstm_lm_exports_to_mxnet_by_api(tmp_path):
    net, config = _lstm_lm()
    written = export_all(net, tmp_path, ["mxnet"], config=config)
    files = artifact_files(written[0][2])
    assert [f.name for f in files] == ["standard_lstm_lm_200-symbol.json",
                                       "standard_lstm_lm_200-0000.params"]
    ids = np.random.RandomState(0).randint(0, config.input_range[1], (2, 12)).astype(np.int32)
    expected = net(mx.nd.array(ids, dtype="int32")).asnumpy()
    np.testing.assert_allclose(load(written[0][2]).predict(ids), expected, atol=1e-5)


@pytest.mark.slow
def test_gluonnlp_lstm_lm_to_onnx_with_free_sequence_length(tmp_path):
    from deploy.prune import prune_to_sparsity

    net, config = _lstm_lm()
    prune_to_sparsity(net, 0.3).strip()
    path = export_all(net, tmp_path, ["onnx"], config=config)[0][2]
    assert json.loads((tmp_path / "standard_lstm_lm_200.onnx.json").read_text())[
        "artifact"]["input_shapes"] == [[None, None]]
    predictor = load(path)
    for steps in (12, 5):
        ids = np.random.RandomState(steps).randint(0, config.input_range[1],
                                                   (2, steps)).astype(np.int32)
        expected = net(mx.nd.array(ids, dtype="int32")).asnumpy()
        np.testing.assert_allclose(predictor.predict(ids), expected, atol=1e-4)
