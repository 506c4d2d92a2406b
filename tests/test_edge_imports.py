"""The edge runtime and its metadata reader import no training or conversion stack.

``pip install gluon-dl[edge]`` installs numpy and the interpreters only, so
importing (and using) ``deploy.runtime``, ``deploy.metadata``, ``deploy.inputs``
and ``gluon_dl.config`` must not pull in MXNet, matplotlib, mlxtend, tqdm,
onnx, TensorFlow or Pillow.  Checked in a fresh interpreter, since this test
session has imported them all.
"""
import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("mxnet", "matplotlib", "mlxtend", "tqdm", "onnx", "onnx2tf", "tensorflow", "keras",
         "PIL", "gluon_dl.models", "gluon_dl.data", "gluon_dl.training")

_SCRIPT = """
import json, sys
import numpy as np
import deploy.runtime, deploy.metadata, deploy.inputs, gluon_dl.config
from deploy import metadata
from gluon_dl.config import ModelConfig

# Use them too: build, write and read back metadata, normalize a batch.
cfg = ModelConfig(name="m", input_shape=(3, 4, 4), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
path = sys.argv[1]
open(path, "wb").write(b"model")
metadata.write_sidecar(path, metadata.build_metadata(cfg, fmt="onnx", precision="float32"))
meta, origin = metadata.locate_metadata(path)
metadata.check_integrity(path, meta, origin)
assert ModelConfig.from_dict(meta["config"]).normalize(np.ones((2, 3, 4, 4))).shape == (2, 3, 4, 4)
heavy = set(sys.argv[2].split(","))
print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)))
"""


def test_edge_modules_import_no_heavy_dependency(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "m.onnx"), ",".join(HEAVY)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_model_families_still_import_the_config_from_models():
    from gluon_dl.config import InputSpec, ModelConfig, token_config
    from gluon_dl.models import _config

    assert _config.ModelConfig is ModelConfig and _config.InputSpec is InputSpec
    assert _config.token_config is token_config
    for name in ("token_input", "valid_length_input", "DTYPES"):
        assert hasattr(_config, name)
