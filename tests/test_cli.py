"""End-to-end: `gluon-dl demo --quick`, then `gluon-dl predict` on its artifacts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gluon_dl.cli import main


def _expected_artifacts():
    """What the demo writes: each registered format at each demo precision it supports."""
    from deploy.export import get_format, list_formats
    from gluon_dl.demo import DEMO_PRECISIONS

    return {"mxnet-float32-dense"} | {
        f"{name}-{p}" for name in list_formats() for p in DEMO_PRECISIONS
        if p in get_format(name).precisions}


EXPECTED_ARTIFACTS = _expected_artifacts()


def gluon_dl(*args, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "gluon_dl", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = gluon_dl("demo", "--quick", "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_help_and_usage_errors():
    assert gluon_dl("--help").returncode == 0
    assert "demo" in gluon_dl("--help").stdout
    assert gluon_dl("no-such-command").returncode == 2
    assert gluon_dl("demo", "--help").stdout.count("--overwrite") == 2


def test_demo_reports_every_artifact_in_every_runtime(demo_run):
    out, proc = demo_run
    report = json.loads((out / "report.json").read_text())
    rows = report["results"]
    assert {r["artifact"] for r in rows} == EXPECTED_ARTIFACTS
    runtimes = {(r["artifact"], r["runtime"]) for r in rows}
    from deploy.runtime import available_backends
    tflite_backends = [b for b in available_backends() if b in ("litert", "tflite-runtime")]
    for art in ("tflite-float32", "tflite-float16", "tflite-int8"):
        for backend in tflite_backends:
            assert (art, backend) in runtimes
    by = {(r["artifact"], r["runtime"]): r for r in rows}
    for r in rows:
        assert r["size_bytes"] > r["gzip_bytes"] > 0 and r["latency_ms"] > 0
        assert 0.8 < r["accuracy"] <= 1.0
    # fp32 artifacts reproduce the model they were exported from.
    for art in ("mxnet-float32", "onnx-float32", "tflite-float32"):
        assert all(r["agreement"] >= 0.995 for r in rows if r["artifact"] == art), art
    assert all(r["agreement"] >= 0.97 for r in rows if r["artifact"] in ("tflite-int8", "mxnet-int8"))
    # Sparsity pays off in the compressed size.
    dense = by[("mxnet-float32-dense", "mxnet")]
    pruned = by[("mxnet-float32", "mxnet")]
    assert pruned["size_bytes"] == pytest.approx(dense["size_bytes"], rel=0.01)
    assert pruned["gzip_bytes"] < 0.5 * dense["gzip_bytes"]
    assert float(report["summary"]["sparsity of conv/dense weights"].rstrip("%")) >= 75
    for name in ("report.md", "report.png", "training.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert "top-1 agreement" in proc.stdout and "tflite-int8" in proc.stdout
    assert not list(out.parent.glob(".run.partial-*"))


def test_every_artifact_has_metadata(demo_run):
    out, _ = demo_run
    for model in list((out / "artifacts").glob("*.tflite")) + list((out / "artifacts").glob("*.onnx")):
        meta = json.loads(Path(f"{model}.json").read_text())
        config = meta["config"]
        assert config["labels"] == [str(i) for i in range(10)]
        assert config["input_shape"] == [1, 28, 28] and config["layout"] == "NCHW"
        assert config["mean"] == [0.1307] and config["std"] == [0.3081]
        assert len(meta["artifact"]["sha256"]) == 64


def test_rerun_without_overwrite_keeps_earlier_results(demo_run):
    out, _ = demo_run
    before = (out / "report.json").read_bytes()
    proc = gluon_dl("demo", "--quick", "--out", out, "--no-progress")
    assert proc.returncode == 1
    assert "--overwrite" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert (out / "report.json").read_bytes() == before


def test_predict_classifies_sample_digits(demo_run):
    out, _ = demo_run
    samples = sorted((out / "samples").glob("digit*_0.png"))
    assert len(samples) == 10
    proc = gluon_dl("predict", out / "artifacts" / "lenet5_int8.tflite", *samples, "--json")
    assert proc.returncode == 0, proc.stderr
    preds = json.loads(proc.stdout)["predictions"]
    assert len(preds) == 10 and all(len(p["top"]) == 3 for p in preds)
    correct = sum(p["top"][0]["label"] == Path(p["input"]).name[5] for p in preds)
    assert correct >= 8
    text = gluon_dl("predict", out / "artifacts" / "lenet5.onnx", samples[7])
    assert text.returncode == 0 and text.stdout.startswith(str(samples[7]))


def test_predict_bad_inputs_fail_with_one_line(demo_run, tmp_path):
    out, _ = demo_run
    model = out / "artifacts" / "lenet5_float32.tflite"
    np.save(tmp_path / "wrong.npy", np.zeros((3, 32, 32), np.float32))
    proc = gluon_dl("predict", model, tmp_path / "wrong.npy")
    assert proc.returncode == 1 and "(3, 32, 32)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(model.read_bytes()[:1000])
    (tmp_path / "broken.tflite.json").write_text(Path(f"{model}.json").read_text())
    proc = gluon_dl("predict", broken, out / "samples" / "digit1_0.png")
    assert proc.returncode == 1 and "broken.tflite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = gluon_dl("predict", tmp_path / "missing.onnx", out / "samples" / "digit1_0.png")
    assert proc.returncode == 1 and "missing.onnx" in proc.stderr


def test_demo_without_convert_extra_fails_fast(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx2tf", None)
    code = main(["demo", "--quick", "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "onnx2tf" in err and "'.[convert]'" in err
    assert not (tmp_path / "x").exists()


def test_overwrite_never_replaces_a_folder_gluon_dl_did_not_write(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("the user's file")
    proc = gluon_dl("demo", "--quick", "--out", out, "--overwrite", "--no-progress")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "not written by gluon-dl; choose an empty or new folder" in proc.stderr
    assert str(out) in proc.stderr
    assert os.listdir(out) == ["old.txt"] and os.listdir(tmp_path) == ["run"]


def test_demo_writes_a_manifest_of_every_file(demo_run):
    from gluon_dl.utils.outdir import MANIFEST_NAME, read_manifest

    out, _ = demo_run
    manifest = read_manifest(out)
    assert manifest["command"] == "demo" and manifest["details"]["settings"]["epochs"] == 2
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == listed | {MANIFEST_NAME}
    assert {"report.json", "artifacts/lenet5_int8.tflite"} <= listed


def test_overwrite_replaces_results_of_an_earlier_run(tmp_path):
    from gluon_dl.utils.outdir import MANIFEST_NAME, read_manifest, staged_output

    out = tmp_path / "run"
    with staged_output(out, "demo") as staged:  # what an earlier run left, cheaply
        (staged.path / "old.txt").write_text("earlier run")
    proc = gluon_dl("demo", "--quick", "--out", out, "--overwrite", "--no-progress", "--seed", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (out / "old.txt").exists() and (out / "report.json").exists()
    assert "report.json" in {f["path"] for f in read_manifest(out)["files"]}
    assert sorted(os.listdir(tmp_path)) == ["run"] and (out / MANIFEST_NAME).exists()


def test_demo_refuses_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "setup.py").write_text("sources")
    code = main(["demo", "--quick", "--out", ".", "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "current folder" in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ["setup.py"]


def test_demo_refuses_too_small_a_data_file_early(tmp_path, capsys):
    X = np.zeros((600, 28, 28), np.uint8)
    np.savez(tmp_path / "small.npz", X=X, y=np.arange(600) % 10)
    code = main(["demo", "--quick", "--data", str(tmp_path / "small.npz"), "--out",
                 str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "small.npz holds 600 images; the demo needs at least 1100" in err
    code = main(["demo", "--data", str(tmp_path / "small.npz"), "--out",
                 str(tmp_path / "out"), "--no-progress"])
    assert "needs at least 1500 (--quick needs 1100)" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["small.npz"]


@pytest.mark.parametrize("papers", [False, True])
def test_models_lists_every_model_with_its_lesson_or_paper(capsys, papers):
    from gluon_dl.models import get_config, list_models

    assert main(["models"] + (["--papers"] if papers else [])) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert sorted(lines) == sorted(list_models())
    for name, line in lines.items():
        cfg = get_config(name)
        about = cfg.paper if papers else cfg.lesson
        assert about and line.rstrip().endswith(about), name
