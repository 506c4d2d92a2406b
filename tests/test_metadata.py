"""ModelConfig validation and normalization, the artifact metadata schema, and integrity.

Nothing here needs MXNet or a runtime library: the config, the metadata and
the checks are numpy and the standard library only.
"""
import json

import numpy as np
import pytest

from deploy import metadata as md
from gluon_dl.config import InputSpec, ModelConfig
from gluon_dl.errors import ArgumentError, InputShapeError, IntegrityError, ModelFileError

LENET = dict(name="lenet5", input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,),
             num_classes=10, labels=tuple(str(i) for i in range(10)))
RGB = dict(name="rgb", input_shape=(3, 4, 5), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))


# --- ModelConfig validation ------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (dict(std=(0.0,)), "std"),
    (dict(std=(-0.3,)), "std"),
    (dict(std=(float("nan"),)), "std"),
    (dict(std=(float("inf"),)), "std"),
    (dict(mean=(float("nan"),)), "mean"),
    (dict(mean=(float("-inf"),)), "mean"),
    (dict(mean=(0.1, 0.2)), "mean"),  # two values for one channel
    (dict(std=()), "std"),
    (dict(std=0.3), "std"),  # a number where a list is needed
    (dict(mean="0.1"), "mean"),
    (dict(input_shape=(1, 0, 28)), "input_shape"),
    (dict(input_shape=(1, -28, 28)), "input_shape"),
    (dict(input_shape=(1, 28.0, 28)), "input_shape"),
    (dict(input_shape="1x28x28"), "input_shape"),
    (dict(input_dtype="float33"), "input_dtype"),
    (dict(input_dtype="object"), "input_dtype"),
    (dict(layout="NCHH"), "layout"),
    (dict(layout="NCCW"), "layout"),
    (dict(layout="CNHW"), "layout"),
    (dict(layout="nchw"), "layout"),
    (dict(layout="NCH"), "layout"),
    (dict(input_range=(1.0, 0.0)), "input_range"),
    (dict(input_range=(0.0, float("inf"))), "input_range"),
    (dict(num_classes=0), "num_classes"),
    (dict(num_classes=True), "num_classes"),
    (dict(labels="0123456789"), "labels"),
    (dict(labels=tuple(range(10))), "labels"),
    (dict(labels=("a", "b")), "labels"),
    (dict(name=""), "name"),
    (dict(test_input_shape=(1, 28)), "test_input_shape"),
    (dict(extra_inputs=({"name": "z", "shape": (0,)},)), "extra_inputs[0]"),
    (dict(extra_inputs=({"name": "z", "shape": (4,), "dtype": "int99"},)), "extra_inputs[0]"),
])
def test_config_rejects_bad_fields_naming_them(change, field):
    with pytest.raises(ArgumentError, match=rf"{field.replace('[', '.').replace(']', '.')}"):
        ModelConfig(**{**LENET, **change})


def test_config_channel_count_rules():
    assert ModelConfig(**RGB).num_channels == 3
    assert ModelConfig(**{**RGB, "mean": (0.5,), "std": (0.2,)}).mean == (0.5,)
    with pytest.raises(ArgumentError,
                       match=r"mean has 2 values; give one or one per channel \(3\)"):
        ModelConfig(**{**RGB, "mean": (0.5, 0.4)})
    with pytest.raises(ArgumentError, match="std has 3 values; give one$"):
        ModelConfig(name="tok", input_shape=(8,), layout="NT", std=(1.0, 1.0, 1.0))


def test_config_from_dict_rejects_unknown_missing_and_ill_typed():
    good = ModelConfig(**LENET).to_dict()
    with pytest.raises(ArgumentError, match=r"unknown ModelConfig fields \['colour'\]"):
        ModelConfig.from_dict({**good, "colour": "red"})
    with pytest.raises(ArgumentError, match=r"lacks the required fields \['input_shape'\]"):
        ModelConfig.from_dict({k: v for k, v in good.items() if k != "input_shape"})
    with pytest.raises(ArgumentError, match="must be a dict"):
        ModelConfig.from_dict(["lenet5"])
    with pytest.raises(ArgumentError, match="extra_inputs must be a list"):
        ModelConfig.from_dict({**good, "extra_inputs": "data1"})


def test_config_round_trips_through_json_with_extra_inputs():
    cfg = ModelConfig(name="s2s", input_shape=(10,), layout="NT", input_dtype="int32",
                      input_range=(0, 32), input_name="data0",
                      extra_inputs=(InputSpec("data1", (10,), "int32", (0, 32)),
                                    InputSpec("data2", (), "int32", (1, 11))))
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_stores_numpy_numbers_as_json_ready_python_numbers():
    cfg = ModelConfig(name="np", input_shape=(np.int64(3), 4, 5), mean=(np.float32(0.5),),
                      num_classes=np.int64(2))
    assert json.loads(json.dumps(cfg.to_dict()))["input_shape"] == [3, 4, 5]
    assert type(cfg.mean[0]) is float and type(cfg.num_classes) is int


def test_every_registered_config_round_trips():
    pytest.importorskip("mxnet")  # the registry imports the model families
    from gluon_dl.models import get_config, list_models

    for name in list_models():
        cfg = get_config(name)
        assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg, name


# --- one normalize ------------------------------------------------------------------------------

def test_normalize_per_channel_with_and_without_batch_axis():
    cfg = ModelConfig(**RGB)
    x = np.random.RandomState(0).rand(2, 3, 4, 5).astype(np.float64)
    expected = (x - np.array(RGB["mean"])[:, None, None]) / np.array(RGB["std"])[:, None, None]
    batch = cfg.normalize(x)
    assert batch.dtype == np.float32 and batch.shape == x.shape
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cfg.normalize(x[1]), batch[1], rtol=1e-6)


def test_normalize_channels_last_and_integer_inputs():
    nhwc = ModelConfig(**{**RGB, "input_shape": (4, 5, 3), "layout": "NHWC"})
    x = np.ones((2, 4, 5, 3), np.float32)
    np.testing.assert_allclose(nhwc.normalize(x)[0, 0, 0], (1 - np.array(RGB["mean"]))
                               / np.array(RGB["std"]), rtol=1e-6)
    tokens = ModelConfig(name="lm", input_shape=(6,), layout="NT", input_dtype="int32",
                         input_range=(0, 28))
    ids = np.arange(12, dtype=np.int32).reshape(2, 6)
    assert tokens.normalize(ids) is not None and tokens.normalize(ids).dtype == np.int32
    np.testing.assert_array_equal(tokens.normalize(ids), ids)


def test_normalize_refuses_wrong_rank_or_channel_count():
    cfg = ModelConfig(**RGB)
    with pytest.raises(InputShapeError, match=r"rank 4.*shape \(3, 4\)"):
        cfg.normalize(np.zeros((3, 4)))
    with pytest.raises(InputShapeError, match=r"3 channels.*\(2, 4, 5, 3\)"):
        cfg.normalize(np.zeros((2, 4, 5, 3)))


def test_every_normalization_goes_through_the_config(monkeypatch):
    from deploy.export import _common
    from deploy.runtime import Predictor
    from gluon_dl.data import transforms

    calls = []
    original = ModelConfig.normalize

    def spy(self, x):
        calls.append(np.shape(x))
        return original(self, x)

    monkeypatch.setattr(ModelConfig, "normalize", spy)
    cfg = ModelConfig(**LENET)
    transforms.normalize(np.zeros((2, 1, 28, 28), np.float32), cfg)
    transforms.to_model_input(np.zeros((2, 28, 28), np.uint8), cfg)
    _common.default_inputs(cfg, n=2)
    predictor = Predictor("m.onnx", "fake", _FakeSession(lambda x: x.reshape(len(x), -1)[:, :10]),
                          md.build_metadata(cfg, fmt="onnx", precision="float32"))
    predictor.predict(np.zeros((2, 1, 28, 28), np.float32))
    assert calls == [(2, 1, 28, 28)] * 4


class _FakeSession:
    """A session computing ``fn`` in numpy, for predictor tests without a runtime."""

    def __init__(self, fn, shape=(None, 1, 28, 28)):
        from deploy.runtime import TensorSpec

        self.fn = fn
        self.inputs = [TensorSpec("data", shape, "float32")]
        self.outputs = [TensorSpec("out", (None, 10), "float32")]

    def run(self, feeds):
        return [self.fn(feeds[0])]


def test_scale_to_range_maps_pixels_onto_the_input_range():
    cfg = ModelConfig(**{**LENET, "input_range": (-1.0, 1.0)})
    out = cfg.scale_to_range(np.array([0, 255], np.uint8))
    np.testing.assert_allclose(out, [-1.0, 1.0])
    assert cfg.scale_to_range(np.array([0.25])).dtype == np.float32


# --- the metadata schema ---------------------------------------------------------------------

@pytest.fixture
def artifact(tmp_path):
    """A fake .tflite artifact with a valid sidecar written by write_sidecar."""
    path = tmp_path / "m.tflite"
    path.write_bytes(b"TFL3 pretend model bytes")
    meta = md.build_metadata(ModelConfig(**LENET), fmt="tflite", precision="int8",
                             artifact_layout="NHWC", artifact_input_dtype="int8",
                             quantization={"input": {"dtype": "int8", "scale": 0.02,
                                                     "zero_point": -3},
                                           "output": {"dtype": "int8", "scale": 0.1,
                                                      "zero_point": 0}})
    md.write_sidecar(path, meta)
    return path


def test_metadata_is_config_to_dict_plus_artifact(artifact):
    meta = md.read_metadata(artifact)
    assert set(meta) == {"format_version", "config", "artifact", "producer"}
    assert meta["format_version"] == 2
    assert meta["config"] == ModelConfig(**LENET).to_dict()
    assert ModelConfig.from_dict(meta["config"]) == ModelConfig(**LENET)
    assert meta["artifact"]["sha256"] == md.file_sha256(artifact)
    assert (meta["artifact"]["layout"], meta["artifact"]["input_names"]) == ("NHWC", ["data"])


def _edit_sidecar(path, edit):
    sidecar = md.sidecar_path(path)
    meta = json.loads(sidecar.read_text())
    edit(meta)
    sidecar.write_text(json.dumps(meta))


def _set(section, key, value):
    def edit(meta):
        meta[section][key] = value
    return edit


def _drop(section, key):
    def edit(meta):
        del meta[section][key]
    return edit


@pytest.mark.parametrize("edit, expected", [
    (_set("config", "std", [0.0]), r"config.*std must be positive"),
    (_set("config", "std", 0), r"std must be a list of numbers, got 0"),
    (_set("config", "mean", "0.1"), r"mean must be a list of numbers"),
    (_set("config", "input_shape", "1x28x28"), r"input_shape must be a list"),
    (_set("config", "input_shape", [1, 0, 28]), r"input_shape must hold positive integers"),
    (_set("config", "layout", "NCHH"), r"layout 'NCHH' repeats an axis"),
    (_set("config", "input_dtype", "float33"), r"input_dtype must be one of"),
    (_set("config", "labels", [1, 2]), r"labels must hold strings"),
    (_drop("config", "name"), r"lacks the required fields \['name'\]"),
    (_set("config", "colour", "red"), r"unknown ModelConfig fields \['colour'\]"),
    (_set("artifact", "layout", "NHWT"), r"artifact\.layout must be the config's layout 'NCHW'"),
    (_set("artifact", "format", "P T"), r"artifact\.format must be a format name such as onnx"),
    (_set("artifact", "precision", "fp32"), r"artifact\.precision must be one of"),
    (_set("artifact", "input_names", "data"), r"artifact\.input_names"),
    (_set("artifact", "dynamic_batch", "no"), r"artifact\.dynamic_batch must be true or false"),
    (_set("artifact", "sha256", "abc"), r"artifact\.sha256 must be null or 64"),
    (_set("artifact", "files", {"a.params": 3}), r"artifact\.files"),
    (_set("artifact", "quantization", {"input": {"dtype": "int8", "scale": 0, "zero_point": 0},
                                       "output": {"dtype": "int8", "scale": 1,
                                                  "zero_point": 0}}),
     r"artifact\.quantization"),
    (_set("artifact", "output_permutations", [[0, 3, 3, 1]]), r"artifact\.output_permutations"),
    (_set("artifact", "output_permutations", "NHWC"), r"artifact\.output_permutations"),
    (_drop("artifact", "sha256"), r"lacks the keys \['artifact\.sha256'\]"),
    (_set("artifact", "sha265", "x"), r"unknown keys \['artifact\.sha265'\]"),
])
def test_invalid_sidecar_fields_name_the_file_and_field(artifact, edit, expected):
    _edit_sidecar(artifact, edit)
    with pytest.raises(ModelFileError, match=r"m\.tflite\.json"):
        md.read_metadata(artifact)
    with pytest.raises(ModelFileError, match=expected):
        md.read_metadata(artifact)


def test_format_1_sidecars_are_refused_with_a_request_to_re_export(artifact):
    md.sidecar_path(artifact).write_text(json.dumps({
        "format_version": 1, "name": "lenet5", "labels": [], "input": {}, "artifact": {}}))
    with pytest.raises(ModelFileError, match=r"metadata format 1.*re-export"):
        md.read_metadata(artifact)
    md.sidecar_path(artifact).write_text(json.dumps({"format_version": 3}))
    with pytest.raises(ModelFileError, match="upgrade gluon-dl"):
        md.read_metadata(artifact)


@pytest.mark.parametrize("text, expected", [
    ("{not json", "is not valid JSON"),
    ('{"format_version": NaN}', "is not valid JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('{"format_version": 2, "config": [], "artifact": {}}', "'config' must be a JSON object"),
    ('{"x": 1}', "format_version must be a positive integer"),
    ("[" * 100000, "nests deeper than 32 levels"),
    ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', "format_version must be"),
])
def test_unreadable_sidecars_are_model_file_errors(artifact, text, expected):
    md.sidecar_path(artifact).write_text(text)
    with pytest.raises(ModelFileError, match=expected):
        md.read_metadata(artifact)


def test_deeply_nested_sidecar_cannot_crash_the_process(artifact):
    """json's C decoder recurses per level: with a raised recursion limit it used to segfault."""
    import subprocess
    import sys

    md.sidecar_path(artifact).write_text("[" * 1_000_000)
    script = ("import sys; sys.setrecursionlimit(10 ** 6)\n"
              "from deploy.metadata import read_metadata\n"
              "from gluon_dl.errors import ModelFileError\n"
              "try:\n    read_metadata(sys.argv[1])\n"
              "except ModelFileError as exc:\n    print('refused:', exc)\n")
    result = subprocess.run([sys.executable, "-c", script, str(artifact)], capture_output=True,
                            text=True, timeout=120,
                            cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-500:]
    assert "refused:" in result.stdout and "nests deeper than 32 levels" in result.stdout


def test_sidecar_with_invalid_utf8_is_a_model_file_error(artifact):
    sidecar = md.sidecar_path(artifact)
    data = bytearray(sidecar.read_bytes())
    data[10] ^= 0xFF
    sidecar.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="is not valid JSON"):
        md.read_metadata(artifact)


def test_an_artifact_layout_that_swaps_axes_is_refused(artifact):
    """NCWH passes as a permutation, and on square images the predictor would transpose them."""
    sidecar = md.sidecar_path(artifact)
    meta = json.loads(sidecar.read_text())
    meta["artifact"]["layout"] = meta["config"]["layout"][:2] + meta["config"]["layout"][:1:-1]
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="artifact.layout must be the config's layout"):
        md.read_metadata(artifact)


def test_build_metadata_rejects_foreign_layout_and_precision():
    cfg = ModelConfig(**LENET)
    with pytest.raises(ArgumentError, match="permutation"):
        md.build_metadata(cfg, fmt="tflite", precision="float32", artifact_layout="NTC")
    with pytest.raises(ArgumentError, match="precision must be one of"):
        md.build_metadata(cfg, fmt="tflite", precision="fp32")


# --- integrity ---------------------------------------------------------------------------------

def test_integrity_names_file_digests_and_opt_out(artifact):
    meta, origin = md.locate_metadata(artifact)
    md.check_integrity(artifact, meta, origin)  # intact
    artifact.write_bytes(b"TFL3 pretend model bytez")
    actual = md.file_sha256(artifact)[:12]
    with pytest.raises(IntegrityError, match=rf"m\.tflite is damaged.*{actual}.*"
                                             rf"{meta['artifact']['sha256'][:12]}.*"
                                             rf"verify_checksum=False.*--no-verify-checksum"):
        md.check_integrity(artifact, meta, origin)


def test_integrity_without_a_recorded_hash_is_refused(artifact):
    _edit_sidecar(artifact, _set("artifact", "sha256", None))
    meta, origin = md.locate_metadata(artifact)
    with pytest.raises(IntegrityError, match="no SHA-256 is recorded.*verify_checksum=False"):
        md.check_integrity(artifact, meta, origin)


def test_integrity_checks_companion_files(tmp_path):
    symbol, params = tmp_path / "m-symbol.json", tmp_path / "m-0000.params"
    symbol.write_text("{}")
    params.write_bytes(b"weights")
    meta = md.build_metadata(ModelConfig(**LENET), fmt="mxnet", precision="float32")
    md.write_sidecar(symbol, meta, companions=[params])
    meta, origin = md.locate_metadata(symbol)
    assert meta["artifact"]["files"] == {"m-0000.params": md.file_sha256(params)}
    md.check_integrity(symbol, meta, origin, companions=[params])
    params.write_bytes(b"weightz")
    with pytest.raises(IntegrityError, match=r"m-0000\.params is damaged"):
        md.check_integrity(symbol, meta, origin, companions=[params])
    other = tmp_path / "m-0001.params"
    other.write_bytes(b"weights")
    with pytest.raises(IntegrityError, match=r"m-0001\.params: no SHA-256"):
        md.check_integrity(symbol, meta, origin, companions=[other])


def test_onnx_graph_hash_reads_field_7_of_the_protobuf():
    graph = b"\x0a\x03abc"  # GraphProto bytes (any)
    model = b"\x08\x07" + b"\x3a" + bytes([len(graph)]) + graph  # ir_version=7, graph
    assert md.onnx_graph_sha256(model) == __import__("hashlib").sha256(graph).hexdigest()
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        md.onnx_graph_sha256(b"\x3a\x7f" + b"short")
    with pytest.raises(ModelFileError, match="holds 0 ONNX graphs"):
        md.onnx_graph_sha256(b"\x08\x07")
