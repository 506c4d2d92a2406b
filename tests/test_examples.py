"""Every script in examples/ runs to completion offline."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
# Arguments that keep each example short in the suite; an example without an
# entry runs with its defaults.
FAST_ARGS = {"deploy_custom_block.py": ["--epochs", "1"]}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    args = FAST_ARGS.get(script.name, []) + ["--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy" in proc.stdout
    assert any((tmp_path / "out").iterdir())
