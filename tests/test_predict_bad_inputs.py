"""No confident answers from bad inputs: the Predictor, input files and ``gluon-dl predict``.

The Predictor tests run on a numpy stand-in for a backend session, so they
need no runtime library; the command-line tests export a LeNet-5 to ONNX once
per module.
"""
import json

import numpy as np
import pytest

from deploy import inputs as inputs_mod
from deploy.inputs import load_input, read_array
from deploy.metadata import build_metadata
from deploy.runtime import Predictor, TensorSpec
from gluon_dl.config import ModelConfig
from gluon_dl.errors import ArgumentError, InputShapeError, ModelFileError, NonFiniteError

LENET = ModelConfig(name="lenet5", input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,),
                    num_classes=10, labels=tuple("0123456789"))
TOKENS = ModelConfig(name="lm", input_shape=(6,), layout="NT", input_dtype="int32",
                     input_range=(0, 28), task="language-model")


class FakeSession:
    """A backend session that computes ``fn`` in numpy."""

    def __init__(self, fn, config, out_shape=(None, 10)):
        self.fn = fn
        self.inputs = [TensorSpec("data", (None,) + config.input_shape, config.input_dtype)]
        self.outputs = [TensorSpec("out", out_shape, "float32")]

    def run(self, feeds):
        return [self.fn(feeds[0])]


def _predictor(fn=None, config=LENET, out_shape=(None, 10)):
    def scores(x):  # ten finite scores per sample
        flat = x.reshape(len(x), -1).astype(np.float32)
        return np.stack([flat.mean(axis=1) * (i + 1) for i in range(10)], axis=1)

    meta = build_metadata(config, fmt="onnx", precision="float32")
    return Predictor("model.onnx", "fake", FakeSession(fn or scores, config, out_shape), meta)


def _images(n=4, seed=0):
    return np.random.RandomState(seed).uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)


# --- the Predictor ------------------------------------------------------------------------------

def test_nan_and_inf_inputs_name_the_samples():
    x = _images(5)
    x[1, 0, 3, 3] = np.nan
    x[3] = np.inf
    with pytest.raises(NonFiniteError, match=r"model\.onnx: input sample\(s\) 1, 3 hold NaN"):
        _predictor().predict(x)
    with pytest.raises(NonFiniteError, match=r"sample\(s\) 0 "):
        _predictor().predict(np.full((1, 28, 28), np.nan, np.float32))  # one all-NaN image


@pytest.mark.parametrize("x, dtype", [
    (np.zeros((2, 1, 28, 28), np.complex64), "complex64"),
    (np.array([[["a"] * 28] * 28]), "<U1"),
    (np.empty((1, 1, 28, 28), dtype=object), "object"),
])
def test_non_numeric_arrays_are_refused_naming_the_dtype(x, dtype):
    with pytest.raises(InputShapeError, match=rf"got an array of dtype {dtype}"):
        _predictor().predict(x)


def test_floats_far_outside_the_input_range_are_refused():
    predictor = _predictor()
    x = _images(3)
    x[0] = 255.0  # unscaled pixels
    x[2, 0, 0, 0] = -5.0
    with pytest.raises(InputShapeError, match=r"inputs in \[0, 1\]; sample\(s\) 0, 2 hold values "
                                              r"from -5 to 255; 0\.\.255 pixels\? scale them"):
        predictor.predict(x)
    slightly = np.clip(_images(2), 0, 1) * 1.1 - 0.05  # resampled images overshoot a little
    assert predictor.predict(slightly).shape == (2, 10)
    normalized = LENET.normalize(_images(2))  # up to 2.8: fine when normalize=False
    assert predictor.predict(normalized, normalize=False).shape == (2, 10)


def test_token_ids_outside_the_vocabulary_or_as_floats_are_refused():
    predictor = _predictor(lambda x: np.ones((len(x), 10), np.float32), config=TOKENS)
    ids = np.array([[0, 1, 2, 3, 4, 27], [0, 1, 2, 3, 4, 28], [-1, 0, 0, 0, 0, 0]])
    with pytest.raises(InputShapeError, match=r"\[0, 28\) \(ids\); sample\(s\) 1, 2 hold"):
        predictor.predict(ids)
    assert predictor.predict(ids[:1]).shape == (1, 10)
    with pytest.raises(InputShapeError, match=r"integer ids \(int32\); got an array of dtype "
                                              r"float64; pass the ids as integers"):
        predictor.predict(ids[:1].astype(np.float64))


def test_non_finite_model_outputs_name_the_model():
    def damaged(x):
        out = np.ones((len(x), 10), np.float32)
        out[2, 4] = np.nan
        return out

    with pytest.raises(NonFiniteError, match=r"model\.onnx \(fake\) returned NaN or Inf for "
                                             r"sample\(s\) 2.*re-export"):
        _predictor(damaged).predict(_images(4))


def test_top_k_checks_k_caps_at_the_classes_and_needs_a_classifier():
    predictor = _predictor()
    with pytest.raises(ArgumentError, match="k >= 1"):
        predictor.top_k(_images(1), 0)
    best = predictor.top_k(_images(2), 50)
    assert len(best) == 2 and [len(b) for b in best] == [10, 10]
    assert best[0][0][1] == "9" and best[0][0][2] >= best[0][1][2]  # label, score order
    sequence = _predictor(lambda x: np.ones((len(x), 5, 10), np.float32),
                          out_shape=(None, 5, 10))
    with pytest.raises(ArgumentError, match=r"shape \(1, 5, 10\), not one score per class"):
        sequence.top_k(_images(1), 3)


# --- input files ----------------------------------------------------------------------------------

def _forged_npy(path, shape, descr="<f4", payload=b"\0" * 64):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(payload)
    return path


def test_forged_npy_header_is_refused_before_allocating(tmp_path):
    path = _forged_npy(tmp_path / "huge.npy", (10 ** 9, 1, 28, 28))
    with pytest.raises(ModelFileError, match=r"huge\.npy declares a float32 array of shape "
                                             r"\(1000000000, 1, 28, 28\) \(3136000000000 bytes\) "
                                             r"but holds 64 bytes.*forged"):
        load_input(path, LENET)


def test_truncated_and_garbage_npy_files(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, _images(2))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_input(cut, LENET)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array at all")
    with pytest.raises(ModelFileError, match=r"junk\.npy is not a readable \.npy array"):
        load_input(junk, LENET)


def test_oversized_arrays_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "batch.npy"
    np.save(path, _images(4))
    monkeypatch.setattr(inputs_mod, "MAX_ARRAY_BYTES", 1000)
    with pytest.raises(ModelFileError, match="split it"):
        load_input(path, LENET)


@pytest.mark.parametrize("array, dtype", [
    (np.array(["1", "2"]), "<U1"),
    (np.array([b"12"]), "|S2"),
    (np.zeros((1, 28, 28), np.complex128), "complex128"),
    (np.array([{"a": 1}], dtype=object), "object"),
])
def test_npy_of_strings_objects_or_complex_is_refused(tmp_path, array, dtype):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)  # an object array as a user might hand us
    with pytest.raises(InputShapeError, match=rf"bad\.npy holds an array of dtype {dtype}"):
        load_input(path, LENET)


def test_npz_inputs(tmp_path):
    one = tmp_path / "one.npz"
    np.savez(one, x=_images(3))
    np.testing.assert_array_equal(load_input(one, LENET), _images(3))
    two = tmp_path / "two.npz"
    np.savez(two, a=_images(1), b=_images(1))
    with pytest.raises(ModelFileError, match=r"holds 2 arrays \['a', 'b'\]"):
        load_input(two, LENET)
    forged = tmp_path / "forged.npz"
    import zipfile
    with zipfile.ZipFile(forged, "w") as archive:
        archive.write(_forged_npy(tmp_path / "x.npy", (10 ** 9, 28, 28)), "x.npy")
    with pytest.raises(ModelFileError, match=r"forged\.npz:x\.npy declares"):
        read_array(forged)
    notzip = tmp_path / "notzip.npz"
    notzip.write_bytes(b"PK but not really")
    with pytest.raises(ModelFileError, match="not a readable .npz archive"):
        load_input(notzip, LENET)


def test_uint8_arrays_scale_to_the_input_range_and_token_files_stay_integer(tmp_path):
    path = tmp_path / "pixels.npy"
    np.save(path, np.full((1, 28, 28), 255, np.uint8))
    ranged = LENET.replace(input_range=(-1.0, 1.0))
    np.testing.assert_allclose(load_input(path, ranged), 1.0)
    ids = tmp_path / "ids.npy"
    np.save(ids, np.arange(6, dtype=np.int64))
    assert load_input(ids, TOKENS).dtype == np.int64
    np.save(ids, np.arange(6, dtype=np.float32))
    with pytest.raises(InputShapeError, match="integer ids"):
        load_input(ids, TOKENS)


def test_images_for_models_that_do_not_take_images(tmp_path):
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "digit.png"
    image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    assert load_input(path, LENET).shape == (1, 1, 28, 28)
    with pytest.raises(InputShapeError, match="not images; pass a .npy array"):
        load_input(path, TOKENS)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(ModelFileError, match="not a readable image"):
        load_input(broken, LENET)


def test_16_bit_images_keep_their_grey_levels(tmp_path):
    """Pillow's convert("L") clips 16-bit pixels at 255: mid-grey would read as white."""
    image = pytest.importorskip("PIL.Image")
    for value, expected in ((32896, 128 / 255), (200, 1 / 255), (65535, 1.0)):
        path = tmp_path / f"grey{value}.png"
        image.fromarray(np.full((28, 28), value, np.uint16)).save(path)
        np.testing.assert_allclose(load_input(path, LENET), expected, atol=1e-6)


def test_images_without_a_known_white_or_with_several_frames_are_refused(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for mode, value, kind in (("F", 0.5, "floating-point"), ("I", 100000, "32-bit integer")):
        path = tmp_path / f"{mode}.tif"
        image.new(mode, (28, 28), value).save(path)
        with pytest.raises(InputShapeError, match=f"{kind} pixels"):
            load_input(path, LENET)
    frames = [image.new("L", (28, 28), v) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ModelFileError, match="holds 3 frames"):
        load_input(tmp_path / "anim.gif", LENET)


# --- gluon-dl predict -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    mx = pytest.importorskip("mxnet")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from deploy.export import onnx as onnx_export
    from gluon_dl.models import get_model

    out = tmp_path_factory.mktemp("predict")
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    good = onnx_export.export(net, out / "lenet5.onnx")
    bias = [p for name, p in net.collect_params().items() if name.endswith("bias")][-1]
    bias.set_data(mx.nd.full(bias.shape, np.nan))
    nan = onnx_export.export(net, out / "nan.onnx", simplify=False, verify=False)
    return {"good": good, "nan": nan, "dir": out}


def _predict(capsys, *args):
    from gluon_dl.cli import main

    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, pattern):
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("gluon-dl predict: error: ")
    assert __import__("re").search(pattern, err), err


def _npy(folder, name, array):
    path = folder / name
    np.save(path, array, allow_pickle=False)
    return path


def test_cli_bad_inputs_give_one_line_and_exit_1(models, capsys, tmp_path):
    model = models["good"]
    cases = [
        ((_npy(tmp_path, "nan.npy", np.full((1, 28, 28), np.nan, np.float32)),),
         r"input sample\(s\) 0 hold NaN"),
        ((_npy(tmp_path, "text.npy", np.array(["7"])),), r"dtype <U1 \(text\)"),
        ((_npy(tmp_path, "cplx.npy", np.zeros((1, 28, 28), complex)),), "complex128"),
        ((_forged_npy(tmp_path / "forged.npy", (10 ** 12, 28, 28)),), "forged"),
        ((_npy(tmp_path, "pixels.npy", np.full((1, 28, 28), 255.0, np.float32)),),
         r"0\.\.255 pixels"),
        ((_npy(tmp_path, "shape.npy", np.zeros((2, 28, 28, 1), np.float32)),),
         "does not fit the model's input"),
        ((_npy(tmp_path, "ok.npy", _images(1)), "--top-k", "0"), "--top-k must be at least 1"),
        ((_npy(tmp_path, "ok.npy", _images(1)), "--backend", "onnxrt"),
         r"unknown backend 'onnxrt'; did you mean onnxruntime.*registered: .*litert"),
        ((_npy(tmp_path, "ok.npy", _images(1)), "--backend", "litert"),
         r"backend 'litert' runs \.tflite files, not lenet5\.onnx; use onnxruntime"),
    ]
    for args, pattern in cases:
        code, out, err = _predict(capsys, model, *args)
        _assert_one_line_error(code, err, pattern)
        assert out == ""


def test_cli_refuses_a_model_with_non_finite_outputs(models, capsys, tmp_path):
    code, out, err = _predict(capsys, models["nan"], _npy(tmp_path, "ok.npy", _images(2)))
    _assert_one_line_error(code, err, r"nan\.onnx \(onnxruntime\) returned NaN or Inf")
    assert out == ""


def test_cli_json_is_strict_and_top_k_caps_at_the_classes(models, capsys, tmp_path):
    code, out, err = _predict(capsys, models["good"], _npy(tmp_path, "b.npy", _images(3)),
                              "--json", "--top-k", "50")
    assert code == 0, err
    data = json.loads(out, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    preds = data["predictions"]
    assert [p["input"] for p in preds] == [f"{tmp_path / 'b.npy'}[{i}]" for i in range(3)]
    assert all(len(p["top"]) == 10 for p in preds)
    assert sorted(t["index"] for t in preds[0]["top"]) == list(range(10))


def test_cli_damaged_model_and_the_checksum_opt_out(models, capsys, tmp_path):
    import shutil

    src = models["good"]
    edited = tmp_path / "edited.onnx"
    data = bytearray(src.read_bytes())
    data[-1] ^= 0x01  # inside the embedded metadata JSON: the graph still runs
    edited.write_bytes(bytes(data))
    shutil.copy(f"{src}.json", f"{edited}.json")
    sample = _npy(tmp_path, "ok.npy", _images(1))
    code, _, err = _predict(capsys, edited, sample)
    _assert_one_line_error(code, err, r"edited\.onnx is damaged or was changed: its SHA-256 is "
                                      r"[0-9a-f]{12}\.\.\., the [0-9a-f]{12}\.\.\. recorded.*"
                                      r"--no-verify-checksum")
    code, out, err = _predict(capsys, edited, sample, "--no-verify-checksum")
    assert code == 0 and out.startswith(str(sample)), err


def test_cli_invalid_or_old_sidecars(models, capsys, tmp_path):
    import shutil

    path = tmp_path / "m.onnx"
    shutil.copy(models["good"], path)
    meta = json.loads((models["good"].parent / "lenet5.onnx.json").read_text())
    sample = _npy(tmp_path, "ok.npy", _images(1))
    for meta_edit, pattern in [
        (lambda m: m["config"].update(std=[0]), r"m\.onnx\.json holds an invalid model config.*"
                                                r"std must be positive"),
        (lambda m: m["config"].update(input_shape="28"), r"m\.onnx\.json.*input_shape must be"),
        (lambda m: m.update(format_version=1), r"m\.onnx\.json has metadata format 1.*"
                                               r"re-export"),
    ]:
        edited = json.loads(json.dumps(meta))
        meta_edit(edited)
        (tmp_path / "m.onnx.json").write_text(json.dumps(edited))
        code, out, err = _predict(capsys, path, sample)
        _assert_one_line_error(code, err, pattern)
