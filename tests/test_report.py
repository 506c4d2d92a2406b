import gzip
import json

import numpy as np

from deploy.report import ArtifactResult, file_sizes, format_table, to_markdown, write_reports


def _results():
    return [ArtifactResult("onnx-fp32", "onnxruntime", "m.onnx", 250_000, 60_000, 0.984, 1.0, 0.05),
            ArtifactResult("tflite-int8", "litert", "m.tflite", 70_000, 20_000, 0.981, 0.995, 0.02)]


def test_file_sizes_counts_raw_and_gzip_bytes(tmp_path):
    sparse = tmp_path / "sparse.bin"
    dense = tmp_path / "dense.bin"
    sparse.write_bytes(np.zeros(100_000, np.float32).tobytes())
    dense.write_bytes(np.random.RandomState(0).rand(100_000).astype(np.float32).tobytes())
    raw_s, gz_s = file_sizes([sparse])
    raw_d, gz_d = file_sizes([dense])
    assert raw_s == raw_d == 400_000
    assert gz_s < 0.01 * raw_s < gz_d
    assert gz_s == len(gzip.compress(sparse.read_bytes(), 9, mtime=0))
    assert file_sizes([sparse, dense])[0] == 800_000


def test_table_and_markdown_show_every_row():
    text = format_table(_results())
    lines = text.splitlines()
    assert len(lines) == 4 and "gzip (KiB)" in lines[0]
    assert "98.40%" in lines[2] and "244.1" in lines[2] and "19.5" in lines[3]
    md = to_markdown(_results(), {"model": "lenet5"})
    assert md.startswith("- **model**: lenet5") and md.count("\n|") == 4


def test_write_reports_writes_json_markdown_png(tmp_path):
    paths = write_reports(_results(), tmp_path, {"seconds": 1.0})
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["seconds"] == 1.0 and data["results"][1]["runtime"] == "litert"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tflite-int8" in paths["markdown"].read_text()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_missing_measures_read_n_a_and_plot_falls_back(tmp_path):
    rows = [ArtifactResult("onnx-float32", "onnxruntime", "m.onnx", 1000, 500, None, None, 0.1,
                           max_abs_error=2e-7),
            ArtifactResult("tflite-int8", "litert", "m.tflite", 400, 300, None, None, 0.1,
                           max_abs_error=0.03)]
    lines = format_table(rows).splitlines()
    assert lines[2].count("n/a") == 2 and "2e-07" in lines[2] and "0.03" in lines[3]
    paths = write_reports(rows, tmp_path, title="generator")
    assert json.loads(paths["json"].read_text())["results"][0]["accuracy"] is None
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
