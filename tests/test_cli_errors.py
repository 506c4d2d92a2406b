"""Every class of bad input through the real command line: one line, exit 1, no traceback.

Each case runs ``gluon-dl`` in its own process, so whatever reaches stderr
(C++ logs, warnings, a traceback) is what a user would see.  The table
holds one case per class of mistake, per command.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnxruntime")


def gluon_dl(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "gluon_dl", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An exported LeNet-5 and the bad files the cases hand to the CLI."""
    from deploy.export import onnx as onnx_export
    from gluon_dl.models import get_model

    d = tmp_path_factory.mktemp("cli_errors")
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    model = onnx_export.export(net, d / "lenet5.onnx", simplify=False)
    meta = json.loads(Path(f"{model}.json").read_text())

    def variant(name, edit_bytes=None, edit_meta=None, sidecar=True):
        path = d / name
        data = bytearray(model.read_bytes())
        if edit_bytes:
            edit_bytes(data)
        path.write_bytes(bytes(data))
        if sidecar:
            m = json.loads(json.dumps(meta))
            if edit_meta:
                edit_meta(m)
            Path(f"{path}.json").write_text(json.dumps(m))
        return path

    def flip(data):
        data[len(data) // 2] ^= 0xFF

    np.save(d / "ok.npy", np.full((1, 28, 28), 0.5, np.float32))
    np.save(d / "nan.npy", np.full((1, 28, 28), np.nan, np.float32))
    np.save(d / "strings.npy", np.array(["seven"]))
    np.save(d / "complex.npy", np.zeros((1, 28, 28), np.complex64))
    np.save(d / "shape.npy", np.zeros((3, 32, 32), np.float32))
    with open(d / "forged.npy", "wb") as f:  # a header that asks for 3 TB, then 16 bytes
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 9, 28, 28)})
        f.write(b"\0" * 16)
    (d / "notes.txt").write_text("not an input")
    (d / "a_file").write_text("x")
    foreign = d / "project"
    foreign.mkdir()
    (foreign / "main.py").write_text("print('my code')\n")
    np.savez(d / "few.npz", X=np.zeros((20, 28, 28), np.uint8), y=np.arange(20) % 10)
    (d / "hosts").write_text("-oProxyCommand=touch /tmp/pwned\n")
    return {
        "dir": d, "model": model,
        "damaged": variant("damaged.onnx", edit_bytes=flip),
        "no_sidecar": variant("lonely.onnx", sidecar=False, edit_bytes=_drop_metadata),
        "std0": variant("std0.onnx", edit_meta=lambda m: m["config"].update(std=[0.0])),
        "bad_field": variant("field.onnx",
                             edit_meta=lambda m: m["config"].update(input_shape="28x28")),
        "not_json": _write(d / "broken.onnx", model.read_bytes(), "{not json"),
        "unknown_suffix": _write(d / "model.bin", b"\0" * 64),
        "foreign": foreign,
    }


def _write(path, data, sidecar=None):
    path.write_bytes(data)
    if sidecar is not None:
        Path(f"{path}.json").write_text(sidecar)
    return path


def _drop_metadata(data):
    """Mangle the embedded metadata key so the file has no metadata at all."""
    key = b"gluon_dl"
    at = data.find(key)
    if at >= 0:
        data[at:at + len(key)] = b"other_xx"


def _cases():
    """(id, argv builder, pattern that the one line must hold)."""
    p = "predict"
    return [
        # predict: the model file
        ("predict-missing-model", lambda f: [p, f["dir"] / "nope.onnx", f["dir"] / "ok.npy"],
         "does not exist"),
        ("predict-model-is-a-folder", lambda f: [p, f["foreign"], f["dir"] / "ok.npy"],
         "is a folder"),
        ("predict-unknown-format", lambda f: [p, f["unknown_suffix"], f["dir"] / "ok.npy"],
         "unknown model format"),
        ("predict-damaged-model", lambda f: [p, f["damaged"], f["dir"] / "ok.npy"],
         "SHA-256"),
        ("predict-no-metadata", lambda f: [p, f["no_sidecar"], f["dir"] / "ok.npy"],
         "metadata"),
        ("predict-sidecar-not-json", lambda f: [p, f["not_json"], f["dir"] / "ok.npy"],
         "JSON"),
        ("predict-sidecar-std-0", lambda f: [p, f["std0"], f["dir"] / "ok.npy"], "std"),
        ("predict-sidecar-bad-field", lambda f: [p, f["bad_field"], f["dir"] / "ok.npy"],
         "input_shape"),
        ("predict-unknown-backend",
         lambda f: [p, f["model"], f["dir"] / "ok.npy", "--backend", "tensorrt"],
         "unknown backend"),
        ("predict-backend-for-another-format",
         lambda f: [p, f["model"], f["dir"] / "ok.npy", "--backend", "tflite-runtime"],
         r"\.tflite"),
        ("predict-top-k-0", lambda f: [p, f["model"], f["dir"] / "ok.npy", "--top-k", "0"],
         "--top-k"),
        # predict: the inputs
        ("predict-missing-input", lambda f: [p, f["model"], f["dir"] / "nope.npy"],
         "does not exist"),
        ("predict-unsupported-input", lambda f: [p, f["model"], f["dir"] / "notes.txt"],
         r"\.txt"),
        ("predict-npy-of-strings", lambda f: [p, f["model"], f["dir"] / "strings.npy"], "dtype"),
        ("predict-complex-npy", lambda f: [p, f["model"], f["dir"] / "complex.npy"], "complex"),
        ("predict-forged-npy-header", lambda f: [p, f["model"], f["dir"] / "forged.npy"],
         "forged.npy"),
        ("predict-nan-input", lambda f: [p, f["model"], f["dir"] / "nan.npy"], "NaN"),
        ("predict-wrong-shape", lambda f: [p, f["model"], f["dir"] / "shape.npy"],
         r"\(3, 32, 32\)"),
        # demo: the output folder and the data
        ("demo-out-is-a-file", lambda f: ["demo", "--out", f["dir"] / "a_file"], "a_file"),
        ("demo-out-cannot-be-created",
         lambda f: ["demo", "--out", f["dir"] / "a_file" / "run"], "a_file"),
        ("demo-foreign-folder-even-with-overwrite",
         lambda f: ["demo", "--out", f["foreign"], "--overwrite"], "not written by gluon-dl"),
        ("demo-missing-data", lambda f: ["demo", "--out", f["dir"] / "r1", "--data",
                                         f["dir"] / "nope.npz"], "does not exist"),
        ("demo-data-is-a-folder", lambda f: ["demo", "--out", f["dir"] / "r4", "--data",
                                             f["dir"]], "is a folder"),
        ("demo-data-of-another-format", lambda f: ["demo", "--out", f["dir"] / "r2", "--data",
                                                   f["dir"] / "notes.txt"], "notes.txt"),
        ("demo-too-few-images", lambda f: ["demo", "--quick", "--out", f["dir"] / "r3",
                                           "--data", f["dir"] / "few.npz"], "20 images"),
        # models
        ("models-no-match", lambda f: ["models", "no-such-net*"], "no registered model"),
        # launch
        ("launch-no-such-program", lambda f: ["launch", "-n", "1", "--", "no-such-program-x"],
         "no-such-program-x"),
        ("launch-zero-workers", lambda f: ["launch", "-n", "0", "--", "true"], "worker"),
        ("launch-no-command", lambda f: ["launch", "-n", "1"], "command"),
        ("launch-missing-hostfile", lambda f: ["launch", "-n", "1", "--launcher", "ssh",
                                               "--hostfile", f["dir"] / "nope", "--", "true"],
         "nope"),
        ("launch-option-as-host", lambda f: ["launch", "-n", "1", "--launcher", "ssh",
                                             "--hostfile", f["dir"] / "hosts", "--", "true"],
         "ProxyCommand"),
    ]


CASES = _cases()


@pytest.mark.parametrize("build,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_line_and_exit_1(files, build, pattern):
    argv = build(files)
    proc = gluon_dl(*argv)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 1, (proc.returncode, err[-2000:])
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gluon-dl {argv[0]}: error: "), err
    assert __import__("re").search(pattern, err), err


def test_nothing_was_written_or_lost(files):
    """The refused demo runs left the foreign folder whole and created nothing."""
    assert [p.name for p in files["foreign"].iterdir()] == ["main.py"]
    assert not any((files["dir"] / name).exists() for name in ("r1", "r2", "r3", "r4"))
    assert not Path("/tmp/pwned").exists()


def test_the_current_folder_is_never_an_output(tmp_path):
    (tmp_path / "src.py").write_text("x = 1\n")
    proc = gluon_dl("demo", "--out", ".", "--overwrite", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (tmp_path / "src.py").read_text() == "x = 1\n"


def test_usage_errors_exit_2(files):
    for argv in (["no-such-command"], ["predict"],
                 ["predict", files["model"], "x", "--top-k", "three"],
                 ["demo", "--seed", "-1"], ["demo", "--seed", str(2 ** 32)]):
        proc = gluon_dl(*argv)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "usage:" in proc.stderr
    assert shutil.which("true")  # the launch cases above rely on a real program
