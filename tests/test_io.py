import os
import stat

import pytest

from gluon_dl.errors import MissingDependencyError, OutputExistsError
from gluon_dl.utils import (atomic_write, atomic_write_text, remove_tree, replace_dir,
                            require)


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


def test_replace_dir_refuses_a_folder_in_the_way_of_its_backup(tmp_path):
    old, new = tmp_path / "out", tmp_path / "stage"
    old.mkdir()
    new.mkdir()
    in_the_way = tmp_path / f".out.old-{os.getpid()}"
    in_the_way.mkdir()
    (in_the_way / "user.txt").write_text("not ours")
    with pytest.raises(OutputExistsError, match=r"\.out\.old-\d+ is in the way"):
        replace_dir(new, old)
    assert (in_the_way / "user.txt").exists() and old.is_dir() and new.is_dir()


def test_remove_tree_deletes_the_named_file_last(tmp_path, monkeypatch):
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    for name in ("a", "manifest", "z", "sub/b"):
        (folder / name).write_text(name)
    removed = []
    real_unlink = os.unlink
    monkeypatch.setattr(os, "unlink", lambda p, **kw: (removed.append(os.path.basename(p)),
                                                        real_unlink(p, **kw)))
    remove_tree(folder, last="manifest")
    assert removed[-1] == "manifest" and sorted(removed) == ["a", "b", "manifest", "z"]
    assert not folder.exists()


def test_require_names_module_and_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx2tf", None)
    with pytest.raises(MissingDependencyError, match=r"TFLite conversion needs .*'onnx2tf'.*'\.\[convert\]'"):
        require("onnx2tf", "convert", "TFLite conversion")
