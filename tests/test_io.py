import os
import stat

import pytest

from gluon_dl.errors import MissingDependencyError
from gluon_dl.utils import atomic_write, atomic_write_text, replace_dir, require


def test_failed_write_keeps_the_earlier_file(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half-writ")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_written_files_get_ordinary_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "meta.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_replace_dir_swaps_in_the_new_tree(tmp_path):
    old, new = tmp_path / "out", tmp_path / "stage"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "b").write_text("new")
    replace_dir(new, old)
    assert sorted(os.listdir(old)) == ["b"] and os.listdir(tmp_path) == ["out"]


def test_require_names_module_and_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx2tf", None)
    with pytest.raises(MissingDependencyError, match=r"TFLite conversion needs .*'onnx2tf'.*'\.\[convert\]'"):
        require("onnx2tf", "convert", "TFLite conversion")
