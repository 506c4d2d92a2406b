"""``gluon-dl train``: a real run, its files, exact resume, and every bad input as one line."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

from gluon_dl.cli import main  # noqa: E402
from gluon_dl.train import _sigterm_as_interrupt, run_train  # noqa: E402
from gluon_dl.training import Callback  # noqa: E402
from gluon_dl.utils.outdir import MANIFEST_NAME, read_manifest  # noqa: E402

QUICK = ["--limit", "300", "--no-progress"]


def train(capsys, *args):
    """Run ``gluon-dl train ARGS`` in this process; returns (exit code, stdout, stderr)."""
    code = main(["train", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "lenet5-mnist"
    code = main(["train", "lenet5", "--data", "mnist-5k", "--limit", "600", "--epochs", "1",
                 "--lr", "3e-3", "--batch-size", "32", "--out", str(out), "--no-progress"])
    return code, out


def test_training_reaches_accuracy_well_above_chance(mnist_run):
    code, out = mnist_run
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0] and history["val_acc"][0] > 0.5  # chance is 0.1
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "complete" and record["epochs_done"] == 1
    assert record["settings"]["model"] == "lenet5" and record["settings"]["limit"] == 600
    assert record["best"]["val_acc"] == {"value": history["val_acc"][0], "epoch": 1}
    assert record["config"]["labels"] == [str(d) for d in range(10)]


def test_every_file_is_written_and_in_the_manifest(mnist_run):
    _, out = mnist_run
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"train.json", "history.csv", "history.json", "curves.png", "lenet5.params",
            "checkpoints/best.ckpt", MANIFEST_NAME} <= names
    assert any(n.startswith("checkpoints/ckpt-") for n in names)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "history.csv").read_text().startswith("epoch,global_step,loss,acc,val_loss")
    manifest = read_manifest(out)
    assert manifest["command"] == "train"
    assert {f["path"] for f in manifest["files"]} == names - {MANIFEST_NAME}
    assert manifest["details"]["settings"]["data"] == "mnist-5k"


def test_final_parameters_load_into_a_fresh_model(mnist_run):
    from gluon_dl.models import get_model

    _, out = mnist_run
    net = get_model("lenet5")
    net.load_parameters(str(out / "lenet5.params"))
    assert np.isfinite(net.output.weight.data().asnumpy()).all()


def test_a_second_run_needs_overwrite(mnist_run, capsys):
    _, out = mnist_run
    code, _, err = train(capsys, "lenet5", "--data", "mnist-5k", "--out", out, *QUICK)
    assert code == 1 and "--overwrite" in err and len(err.strip().splitlines()) == 1


class _StopBeforeEpoch(Callback):
    """Interrupts a run (as Ctrl-C would) when ``epoch`` begins."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    # digits are 8x8: the run also goes through the resize to LeNet-5's 28x28.
    whole, part = tmp_path / "whole", tmp_path / "part"
    code, out, _ = train(capsys, "lenet5", "--data", "digits", "--epochs", "2", "--out", whole,
                         *QUICK)
    assert code == 0 and "best val_acc" in out and "8x8x1, resized to 28x28 for lenet5" in out
    with pytest.raises(KeyboardInterrupt):
        run_train(part, "lenet5", "digits", epochs=2, limit=300, progress=False,
                  log=lambda *a: None, callbacks=[_StopBeforeEpoch(1)])
    record = json.loads((part / "train.json").read_text())
    assert record["status"] == "interrupted" and record["epochs_done"] == 1
    assert not (part / "lenet5.params").exists()

    code, out, err = train(capsys, "lenet5", "--data", "digits", "--out", part, "--resume",
                           *QUICK)
    assert code == 0, err
    assert (part / "lenet5.params").read_bytes() == (whole / "lenet5.params").read_bytes()
    assert (part / "history.csv").read_text() == (whole / "history.csv").read_text()
    assert json.loads((part / "train.json").read_text())["epochs_done"] == 2
    assert len(list((part / "checkpoints").glob("ckpt-*.ckpt"))) == 2

    code, _, err = train(capsys, "lenet5", "--data", "digits", "--out", part, "--resume",
                         "--seed", "7", *QUICK)
    assert code == 1 and "--seed 0" in err and "7" in err
    code, _, err = train(capsys, "lenet5", "--data", "digits", "--out", part, "--resume",
                         *QUICK)
    assert code == 1 and "--epochs N with N > 2" in err


def test_channels_are_converted_when_asked_on_several_devices(tmp_path, capsys):
    code, out, err = train(capsys, "cifar_resnet20_v1", "--data", "digits", "--epochs", "1",
                           "--limit", "64", "--convert-channels", "--ctx", "cpu:0,cpu:1",
                           "--kvstore", "local", "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    assert "gray repeated into 3 channels, resized to 32x32" in out
    record = json.loads((tmp_path / "run" / "train.json").read_text())
    assert record["settings"]["convert_channels"] is True
    assert record["config"]["input_shape"] == [3, 32, 32]
    assert read_manifest(tmp_path / "run")["details"]["ctx"] == ["cpu(0)", "cpu(1)"]


def test_an_interrupt_before_any_epoch_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_train(tmp_path / "run", "lenet5", "digits", epochs=1, limit=64, progress=False,
                  log=lambda *a: None, callbacks=[_StopBeforeEpoch(0)])
    assert os.listdir(tmp_path) == []


def test_sigterm_interrupts_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt):
        with _sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 1)  # let the handler run
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.fixture
def foreign(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("not gluon-dl's")
    return folder


@pytest.mark.parametrize("args,pattern", [
    (["lenet", "--data", "digits"], r"unknown model 'lenet'; did you mean lenet5"),
    (["lenet5", "--data", "digitz"], r"unknown data set 'digitz'; did you mean digits"),
    (["lenet5", "--data", "cifar10"], r"data set 'cifar10' .*not found in .*cifar-10-binary"),
    (["rnn_lm", "--data", "digits"], r"data set 'digits' is an image set but 'rnn_lm' is a "
                                     r"language model; it trains on text corpora.*python-docs"),
    (["lenet5", "--data", "python-docs"], r"data set 'python-docs' is a text set; image "
                                          r"classifiers such as 'lenet5' train on labelled image"),
    (["dqn_mlp", "--data", "iris"], r"model 'dqn_mlp' has task 'reinforcement-learning'.* "
                                    r"language models \(.*\) on text corpora"),
    (["rnn_lm", "--data", "python-docs", "--convert-channels"], r"--convert-channels converts "
                                                                r"images"),
    (["rnn_lm", "--data", "python-docs", "--limit", "50"], r"a corpus of 50 tokens makes no "
                                                           r"batch of 64 x 35"),
    (["rnn_lm", "--data", "fra-eng"], r"data set 'fra-eng' loads as list \(not one text\)"),
    (["crnn", "--data", "digits"], r"model 'crnn' has task 'sequence-recognition'"),
    (["lenet5", "--data", "iris"], r"data set 'iris' is a tabular set"),
    (["cifar_resnet20_v1", "--data", "digits"], r"1-channel images .* takes 3; pass "
                                                r"--convert-channels"),
    (["lenet5", "--data", "digits", "--lr", "0"], r"--lr must be a positive"),
    (["lenet5", "--data", "digits", "--lr=-1e-3"], r"--lr must be a positive"),
    (["lenet5", "--data", "digits", "--epochs", "0"], r"--epochs must be a whole number >= 1"),
    (["lenet5", "--data", "digits", "--batch-size", "0"], r"--batch-size must be"),
    (["lenet5", "--data", "digits", "--ctx", "gpu0"], r"--ctx gpu0: 'gpu0' is no device"),
    (["lenet5", "--data", "digits", "--ctx", "cpu:0,cpu:0"], r"each device once"),
    (["lenet5", "--data", "digits", "--ctx", "gpu:99"], r"--ctx gpu:99: .*GPU"),
    (["lenet5", "--data", "digits", "--amp", "float16"], r"float16' needs GPU contexts"),
    (["lenet5", "--data", "digits", "--kvstore", "dist_sync"], r"gluon-dl launch"),
    (["lenet5", "--data", "digits", "--resume"], r"nothing to resume in"),
    (["lenet5", "--data", "digits", "--out", "{foreign}"], r"was not written by gluon-dl"),
])
def test_bad_input_ends_in_one_line_and_exit_1(args, pattern, tmp_path, foreign, capsys,
                                               monkeypatch):
    monkeypatch.setenv("GLUON_DL_DATA", str(tmp_path / "no-data"))
    (tmp_path / "no-data" / "fra-eng").mkdir(parents=True)  # pairs, not one text
    (tmp_path / "no-data" / "fra-eng" / "fra.txt").write_text("Go.\tVa !\n" * 30)
    monkeypatch.chdir(tmp_path)
    args = [a.format(foreign=foreign) for a in args]
    code, out, err = train(capsys, *args, "--no-progress")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gluon-dl train: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    assert (foreign / "notes.txt").read_text() == "not gluon-dl's"
    assert not (tmp_path / "runs").exists()


def test_help_and_usage_from_the_real_command_line():
    run = subprocess.run([sys.executable, "-m", "gluon_dl", "train", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    for option in ("--data", "--epochs", "--ctx", "--kvstore", "--amp", "--resume", "--limit",
                   "--convert-channels", "gluon-dl launch"):
        assert option in run.stdout
    usage = subprocess.run([sys.executable, "-m", "gluon_dl", "train", "lenet5"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "--data" in usage.stderr


# ---------------------------------------------------------------- language models

LM_QUICK = ["--limit", "4000", "--batch-size", "16", "--lr", "0.01", "--no-progress"]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "rnn_lm-python-docs"
    code = main(["train", "rnn_lm", "--data", "python-docs", "--epochs", "2", "--out", str(out),
                 *LM_QUICK])
    return code, out


def test_a_language_model_learns_and_writes_its_vocabulary(lm_run):
    from gluon_dl.data import Vocab
    from gluon_dl.models import get_model

    code, out = lm_run
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    np.testing.assert_allclose(history["perplexity"], np.exp(history["loss"]), rtol=1e-9)
    np.testing.assert_allclose(history["val_perplexity"], np.exp(history["val_loss"]))
    # 28 characters: a model that learned nothing scores about 28, letter counts about 17
    assert history["val_perplexity"][-1] < 17 < history["val_perplexity"][0] * 1.5
    assert history["perplexity"][1] < history["perplexity"][0]
    vocab = Vocab.from_dict(json.loads((out / "vocab.json").read_text()))
    assert len(vocab) == 28 and vocab.idx_to_token[1] == " "
    record = json.loads((out / "train.json").read_text())
    assert record["config"]["labels"] == vocab.idx_to_token
    assert record["config"]["num_classes"] == 28 and record["files"]["vocab"] == "vocab.json"
    assert record["best"]["val_perplexity"]["epoch"] in (1, 2)
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header == "epoch,global_step,loss,val_loss,perplexity,val_perplexity"
    net = get_model("rnn_lm", vocab_size=len(vocab))
    net.load_parameters(str(out / "rnn_lm.params"))
    assert "vocab.json" in {f["path"] for f in read_manifest(out)["files"]}


def test_an_interrupted_language_model_resumes_exactly(lm_run, tmp_path, capsys):
    _, whole = lm_run
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        run_train(part, "rnn_lm", "python-docs", epochs=2, limit=4000, batch_size=16, lr=0.01,
                  progress=False, log=lambda *a: None, callbacks=[_StopBeforeEpoch(1)])
    code, out, err = train(capsys, "rnn_lm", "--data", "python-docs", "--out", part,
                           "--resume", "--epochs", "2", "--no-progress")
    assert code == 0, err
    assert "best val_perplexity" in out and "vocab.json" in out
    assert (part / "rnn_lm.params").read_bytes() == (whole / "rnn_lm.params").read_bytes()
    assert (part / "history.csv").read_text() == (whole / "history.csv").read_text()
    assert (part / "vocab.json").read_text() == (whole / "vocab.json").read_text()


# ---------------------------------------------------------------- tabular sets

def test_an_mlp_classifier_trains_on_a_standardized_table(tmp_path, capsys):
    from gluon_dl.data import load_dataset
    from gluon_dl.models import get_model

    out = tmp_path / "wine"
    code, stdout, err = train(capsys, "softmax_regression", "--data", "wine", "--epochs", "15",
                              "--batch-size", "16", "--lr", "0.05", "--out", out,
                              "--no-progress")
    assert code == 0, err
    assert "142 training and 36 test rows of 13 features, standardized" in stdout
    history = json.loads((out / "history.json").read_text())
    assert history["val_acc"][-1] > 0.85  # three cultivars: chance is about 0.4
    config = json.loads((out / "train.json").read_text())["config"]
    X, _ = load_dataset("wine", "train")
    assert config["layout"] == "NC" and config["input_shape"] == [13]
    np.testing.assert_allclose(config["mean"], X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(config["std"], X.std(axis=0), rtol=1e-5)
    assert config["labels"] == ["class_0", "class_1", "class_2"]
    net = get_model("softmax_regression", num_classes=3)
    net.load_parameters(str(out / "softmax_regression.params"))
    assert net.output.weight.shape == (3, 13)


@pytest.mark.parametrize("args, pattern", [
    (["linreg", "--data", "iris"], r"model 'linreg' has task 'regression'.*softmax_regression, "
                                   r"mlp also on tabular sets \(breast-cancer, iris, wine\)"),
    (["lenet5", "--data", "iris"], r"data set 'iris' is a tabular set.*tabular sets train "
                                   r"softmax_regression, mlp"),
    (["mlp", "--data", "iris", "--convert-channels"], r"--convert-channels converts images"),
])
def test_tabular_pairs_that_do_not_fit_are_named(args, pattern, tmp_path, capsys,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = train(capsys, *args, "--no-progress")
    assert code == 1 and re.search(pattern, err.strip()), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
