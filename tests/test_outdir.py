"""Output folders: replaced only when an earlier gluon-dl run wrote them, leftovers swept."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from gluon_dl.errors import ArgumentError, OutputExistsError
from gluon_dl.utils.outdir import (MANIFEST_NAME, STAGING_MARKER, check_output_dir,
                                   read_manifest, staged_output, sweep_leftovers)


def publish(out, files=None, overwrite=False, command="demo"):
    """Write ``files`` ({relative path: text}) to ``out`` through the API; returns the target."""
    files = {"report.json": "{}", "artifacts/model.onnx": "onnx"} if files is None else files
    with staged_output(out, command, overwrite=overwrite) as staged:
        for rel, text in files.items():
            (staged.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (staged.path / rel).write_text(text)
    return staged.target


def user_folder(path):
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    return path


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_missing_and_empty_folders_are_written(tmp_path):
    out = publish(tmp_path / "new" / "run")
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "artifacts", "report.json"]
    (tmp_path / "empty").mkdir()
    publish(tmp_path / "empty")
    assert (tmp_path / "empty" / "report.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path)) == ["empty", "new"]  # no staging folder left


def test_manifest_lists_every_file_with_size_and_sha256(tmp_path):
    out = publish(tmp_path / "run", {"a.txt": "abc", "sub/b.txt": ""})
    manifest = read_manifest(out)
    assert manifest["command"] == "demo" and manifest["gluon_dl_version"]
    assert manifest["created"].endswith("+00:00") and manifest["dirs"] == ["sub"]
    assert manifest["files"] == [
        {"path": "a.txt", "size": 3, "sha256":
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"path": "sub/b.txt", "size": 0, "sha256":
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]


def test_our_folder_is_replaced_only_with_overwrite(tmp_path):
    out = publish(tmp_path / "run", {"old.txt": "earlier run"})
    with pytest.raises(OutputExistsError, match=r"run holds the results of an earlier gluon-dl "
                                                r"demo run; pass --overwrite"):
        publish(out, {"new.txt": "x"})
    assert (out / "old.txt").exists()
    publish(out, {"new.txt": "x"}, overwrite=True)
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "new.txt"]
    assert os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_folder_without_manifest_is_never_replaced(tmp_path, overwrite):
    out = user_folder(tmp_path / "project")
    with pytest.raises(OutputExistsError, match="project is not empty and was not written by "
                                                "gluon-dl; choose an empty or new folder"):
        publish(out, overwrite=overwrite)
    assert os.listdir(out) == ["thesis.tex"] and os.listdir(tmp_path) == ["project"]


@pytest.mark.parametrize("manifest", ["not json", json.dumps({"format": "other"}),
                                      json.dumps({"format": "gluon-dl-output/1", "command": "demo",
                                                  "dirs": [], "files": [{"path": "thesis.tex"}]})])
def test_forged_or_broken_manifest_counts_as_none(tmp_path, manifest):
    out = user_folder(tmp_path / "project")
    (out / MANIFEST_NAME).write_text(manifest)
    with pytest.raises(OutputExistsError, match="not written by gluon-dl"):
        publish(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_files_the_user_added_or_changed_keep_the_folder(tmp_path):
    out = publish(tmp_path / "run")
    (out / "notes.md").write_text("mine")
    with pytest.raises(OutputExistsError, match="holds notes.md, which gluon-dl did not write"):
        publish(out, overwrite=True)
    assert (out / "notes.md").read_text() == "mine"
    (out / "notes.md").unlink()
    (out / "report.json").write_text('{"edited": true}')
    with pytest.raises(OutputExistsError, match="report.json, which changed since"):
        publish(out, overwrite=True)
    assert (out / "report.json").read_text() == '{"edited": true}'


def test_folders_and_links_the_user_added_keep_the_folder(tmp_path):
    out = publish(tmp_path / "run")
    (out / "artifacts" / "keep").mkdir()
    with pytest.raises(OutputExistsError, match="the folder artifacts/keep"):
        publish(out, overwrite=True)
    (out / "artifacts" / "keep").rmdir()
    os.symlink(tmp_path, out / "link")
    with pytest.raises(OutputExistsError, match="the symbolic link link"):
        publish(out, overwrite=True)
    assert (out / "link").is_symlink()


def test_a_file_added_while_the_run_works_is_kept(tmp_path):
    out = publish(tmp_path / "run")
    with pytest.raises(OutputExistsError, match="late.txt"):
        with staged_output(out, "demo", overwrite=True) as staged:
            (staged.path / "report.json").write_text("new")
            (out / "late.txt").write_text("added during the run")
    assert (out / "late.txt").exists() and (out / "report.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_a_failed_run_leaves_the_earlier_results(tmp_path):
    out = publish(tmp_path / "run")
    with pytest.raises(KeyError):
        with staged_output(out, "demo", overwrite=True) as staged:
            (staged.path / "half.bin").write_bytes(b"x")
            raise KeyError("training failed")
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "artifacts", "report.json"]
    assert os.listdir(tmp_path) == ["run"]


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "results").write_text("data")
    with pytest.raises(OutputExistsError, match="results is a file"):
        publish(tmp_path / "results", overwrite=True)
    assert (tmp_path / "results").read_text() == "data"


@pytest.mark.parametrize("out, match", [
    (".", "current folder"), ("./", "current folder"), ("", "empty"), ("..", "current folder"),
    ("/", "current folder"), ("~", "home folder"), ("~/..", "home folder")])
def test_current_folder_its_parents_home_and_root_are_refused(tmp_path, monkeypatch, out, match):
    work, home = tmp_path / "work" / "project", tmp_path / "users" / "me"
    work.mkdir(parents=True)
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    # An empty folder holding only a manifest of ours still is not replaceable.
    for folder in (work, home):
        publish(folder / "sub", {})
        os.replace(folder / "sub" / MANIFEST_NAME, folder / MANIFEST_NAME)
        (folder / "sub").rmdir()
    with pytest.raises(ArgumentError, match=match):
        check_output_dir(out, overwrite=True)
    with pytest.raises(ArgumentError, match=match):
        publish(out, overwrite=True)
    assert (work / MANIFEST_NAME).exists() and (home / MANIFEST_NAME).exists()


def test_out_below_a_file_is_refused_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArgumentError, match=r"cannot create output folder .*file/run: .*file is a "
                                            r"file"):
        publish(tmp_path / "file" / "run")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_out_on_a_file_system_that_refuses_folders_is_refused():
    with pytest.raises(ArgumentError, match="cannot create output folder /proc/gluon-dl-test/run"):
        publish("/proc/gluon-dl-test/run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_is_refused(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(ArgumentError, match="cannot create output folder .*Permission denied"):
        publish(tmp_path / "ro" / "run")


def stale_stage(tmp_path, pid, marker=True):
    stage = tmp_path / f".run.partial-{pid}"
    stage.mkdir()
    (stage / "model.onnx").write_text("half")
    if marker:
        (stage / STAGING_MARKER).write_text(json.dumps({
            "format": "gluon-dl-staging/1", "pid": pid, "host": socket.gethostname(),
            "target": "run"}))
    return stage


def test_stale_staging_folder_of_a_dead_run_is_removed(tmp_path):
    stage = stale_stage(tmp_path, dead_pid())
    publish(tmp_path / "run")
    assert not stage.exists() and sorted(os.listdir(tmp_path)) == ["run"]


def test_staging_folder_of_a_live_run_is_kept(tmp_path, live_pid):
    stage = stale_stage(tmp_path, live_pid)
    publish(tmp_path / "run")
    assert (stage / "model.onnx").exists()


@pytest.mark.parametrize("name", [".run.partial-{pid}", ".run.partial-{pid}x",
                                  ".other.partial-{pid}", "run.partial-{pid}"])
def test_folders_that_are_not_our_leftovers_are_kept(tmp_path, name):
    pid = dead_pid()
    folder = tmp_path / name.format(pid=pid)
    folder.mkdir()
    (folder / "data.csv").write_text("user data")  # no staging marker
    publish(tmp_path / "run")
    assert (folder / "data.csv").exists()


def test_marker_of_another_host_is_kept(tmp_path):
    pid = dead_pid()
    stage = stale_stage(tmp_path, pid, marker=False)
    (stage / STAGING_MARKER).write_text(json.dumps({
        "format": "gluon-dl-staging/1", "pid": pid, "host": "another-host", "target": "run"}))
    assert sweep_leftovers(tmp_path / "run") == []
    assert stage.exists()


KILLED_WHILE_REPLACING = textwrap.dedent("""
    import os, signal, sys
    from gluon_dl.utils.outdir import staged_output
    real_replace = os.replace
    def replace_then_die(src, dst):
        real_replace(src, dst)
        if os.path.basename(dst).startswith(".run.old-"):
            os.kill(os.getpid(), signal.SIGKILL)  # the old folder is aside, the new not in
    with staged_output(sys.argv[1], "demo", overwrite=True) as staged:
        (staged.path / "report.json").write_text("new")
        os.replace = replace_then_die
""")


def test_results_moved_aside_by_a_killed_run_are_restored(tmp_path):
    out = publish(tmp_path / "run", {"report.json": "earlier"})
    script = tmp_path / "killed.py"
    script.write_text(KILLED_WHILE_REPLACING)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -9, err
    assert not out.exists()
    left = sorted(os.listdir(tmp_path))
    assert left == [f".run.old-{proc.pid}", f".run.partial-{proc.pid}", "killed.py"]
    done = sweep_leftovers(out)
    assert sorted(kind for kind, _ in done) == ["removed", "restored"]
    assert (out / "report.json").read_text() == "earlier"
    assert sorted(os.listdir(tmp_path)) == ["killed.py", "run"]


def test_results_moved_aside_are_removed_once_replaced(tmp_path):
    earlier = publish(tmp_path / "old", {"report.json": "earlier"})
    publish(tmp_path / "run", {"report.json": "new"})
    os.replace(earlier, tmp_path / f".run.old-{dead_pid()}")
    publish(tmp_path / "run", {"report.json": "newer"}, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert (tmp_path / "run" / "report.json").read_text() == "newer"
