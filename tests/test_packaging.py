"""What each install pulls in: the edge runtime stays light, torch stays out."""
import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING_STACK = {"mxnet", "mxnet-cu112", "matplotlib", "mlxtend", "tqdm", "tensorflow-cpu",
                  "onnx2tf", "gluoncv", "gluonnlp", "scikit-learn", "torch"}


def _requirements(text):
    names = set()
    for line in text.strip().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


@pytest.fixture(scope="module")
def setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def _extra(cfg, name):
    return _requirements(cfg["options.extras_require"][name])


def test_core_and_edge_install_no_training_stack(setup_cfg):
    core = _requirements(setup_cfg["options"]["install_requires"])
    assert core == {"numpy"}
    edge = _extra(setup_cfg, "edge")
    assert {"onnxruntime", "tflite-runtime", "ai-edge-litert"} <= edge
    assert not (core | edge) & TRAINING_STACK


def test_all_installs_training_but_never_torch(setup_cfg):
    extras = setup_cfg["options.extras_require"]
    assert "bench" not in extras
    everything = _extra(setup_cfg, "all")
    assert {"mxnet", "tqdm", "matplotlib", "mlxtend", "onnxruntime", "gluoncv"} <= everything
    assert not any("torch" in _extra(setup_cfg, name) for name in extras)


def test_benchmark_environment_is_made_by_one_make_target():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^bench-env:", makefile, re.M)
    assert "torch==" in makefile and ".venv-bench" in makefile
    assert "make bench-env" in (ROOT / "benchmarks" / "README.md").read_text()
