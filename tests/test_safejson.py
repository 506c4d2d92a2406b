"""Deeply nested JSON is refused before the C decoder can crash the process."""
import subprocess
import sys
import textwrap

import pytest

from gluon_dl.utils import safejson


def test_depth_counts_brackets_outside_strings():
    assert safejson.nesting_depth(b'{"a": [1, {"b": "[[[[["}]}') == 3
    assert safejson.nesting_depth("[]") == 1 and safejson.nesting_depth("7") == 0
    assert safejson.loads('{"a": [1, 2]}') == {"a": [1, 2]}


def test_too_deep_is_a_value_error():
    with pytest.raises(ValueError, match="nests deeper than 32 levels"):
        safejson.loads("[" * 33 + "]" * 33)


@pytest.mark.parametrize("reader", ["checkpoint", "manifest", "metadata"])
def test_a_million_brackets_never_crash_a_reader(tmp_path, reader):
    """With a raised recursion limit json.loads itself segfaults on this input."""
    script = textwrap.dedent(f"""
        import sys, zipfile
        from pathlib import Path
        sys.setrecursionlimit(10 ** 6)
        deep = "[" * 1_000_000
        tmp = Path({str(tmp_path)!r})
        from gluon_dl.errors import GluonDLError
        try:
            if {reader!r} == "checkpoint":
                with zipfile.ZipFile(tmp / "a.ckpt", "w") as zf:
                    zf.writestr("meta.json", deep)
                from gluon_dl.training.checkpoint import load_checkpoint
                load_checkpoint(tmp / "a.ckpt", None)
            elif {reader!r} == "manifest":
                from gluon_dl.utils.outdir import MANIFEST_NAME, read_manifest
                (tmp / MANIFEST_NAME).write_text(deep)
                assert read_manifest(tmp) is None
            else:
                (tmp / "m.onnx").write_bytes(b"x")
                (tmp / "m.onnx.json").write_text(deep)
                from deploy.metadata import read_metadata
                read_metadata(tmp / "m.onnx")
        except GluonDLError as exc:
            print("refused:", str(exc)[:80])
        print("alive")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("alive")
