"""The TensorBoard callback: event files that hold fit()'s numbers, written without TensorFlow."""
import functools
import subprocess
import sys
import textwrap

import pytest

from gluon_dl.errors import ArgumentError

pytest.importorskip("tensorboard")


def _train(log_dir, mnist_split, update_freq="epoch", num_epochs=2):
    import mxnet as mx

    from gluon_dl.data import ArrayLoader, to_model_input
    from gluon_dl.models import get_model
    from gluon_dl.training import fit
    from gluon_dl.training.tensorboard import TensorBoard

    X_tr, X_te, y_tr, y_te = mnist_split
    mx.random.seed(0)
    net = get_model("lenet5")
    transform = functools.partial(to_model_input, config=net.config)
    train = ArrayLoader(X_tr[:320], y_tr[:320], 64, shuffle=True, transform=transform)
    val = ArrayLoader(X_te[:128], y_te[:128], 64, transform=transform)
    return fit(net, train, num_epochs, lr=2e-3, val_iter=val, progress=False,
               callbacks=[TensorBoard(log_dir, update_freq=update_freq)])


def test_epoch_scalars_equal_history(tmp_path, mnist_split):
    from gluon_dl.training.tensorboard import read_scalars

    history = _train(tmp_path, mnist_split)
    scalars = read_scalars(tmp_path)
    assert set(scalars) == {"epoch_loss", "epoch_acc", "epoch_val_loss", "epoch_val_acc",
                            "epoch_learning_rate"}
    for key in ("loss", "acc", "val_loss", "val_acc"):
        steps, values = zip(*scalars[f"epoch_{key}"])
        assert steps == (0, 1)
        # simple_value is a float32
        assert values == pytest.approx(history.history[key], rel=1e-6, abs=1e-7)
    assert [v for _, v in scalars["epoch_learning_rate"]] == pytest.approx([2e-3, 2e-3])


def test_batch_loss_every_n_steps(tmp_path, mnist_split):
    from gluon_dl.training.tensorboard import read_scalars

    history = _train(tmp_path, mnist_split, update_freq=2)
    scalars = read_scalars(tmp_path)
    steps = [s for s, _ in scalars["batch_loss"]]
    assert steps == [2, 4, 6, 8, 10]  # 5 batches per epoch, 2 epochs
    assert [s for s, _ in scalars["batch_learning_rate"]] == steps
    assert [v for _, v in scalars["epoch_loss"]] == pytest.approx(history.history["loss"],
                                                                  rel=1e-6)


def test_batch_losses_match_the_step_logs(tmp_path, mnist_split):
    """The logged batch losses are the ones fit hands to on_batch_end."""
    import mxnet as mx

    from gluon_dl.data import ArrayLoader, to_model_input
    from gluon_dl.models import get_model
    from gluon_dl.training import Callback, fit
    from gluon_dl.training.tensorboard import TensorBoard, read_scalars

    seen = {}

    class Recorder(Callback):
        def on_batch_end(self, batch, logs=None):
            seen[self.state.global_step] = logs["loss"]

    X_tr, _, y_tr, _ = mnist_split
    mx.random.seed(0)
    net = get_model("lenet5")
    train = ArrayLoader(X_tr[:256], y_tr[:256], 64,
                        transform=functools.partial(to_model_input, config=net.config))
    fit(net, train, 1, progress=False, callbacks=[Recorder(), TensorBoard(tmp_path, "batch")])
    logged = dict(read_scalars(tmp_path)["batch_loss"])
    assert sorted(logged) == [1, 2, 3, 4]
    assert [logged[s] for s in sorted(logged)] == pytest.approx([seen[s] for s in sorted(seen)],
                                                               rel=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "step"])
def test_update_freq_is_validated(tmp_path, bad):
    from gluon_dl.training.tensorboard import TensorBoard

    with pytest.raises(ArgumentError, match="update_freq"):
        TensorBoard(tmp_path, update_freq=bad)


def test_read_scalars_names_an_empty_directory(tmp_path):
    from gluon_dl.errors import GluonDLError
    from gluon_dl.training.tensorboard import read_scalars

    with pytest.raises(GluonDLError, match="no TensorBoard event file"):
        read_scalars(tmp_path)


def test_corrupt_event_file_is_reported(tmp_path):
    from gluon_dl.errors import GluonDLError
    from gluon_dl.training.tensorboard import EventFile, read_scalars

    writer = EventFile(tmp_path)
    writer.scalar("x", 1.0, 0)
    writer.close()
    data = bytearray(writer.path.read_bytes())
    data[-6] ^= 0xFF  # inside the last record's payload
    writer.path.write_bytes(bytes(data))
    with pytest.raises(GluonDLError, match="corrupt"):
        read_scalars(tmp_path)


def test_missing_tensorboard_raises_missing_dependency(tmp_path, monkeypatch):
    from gluon_dl.errors import MissingDependencyError
    from gluon_dl.training.tensorboard import EventFile

    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.record_writer", None)
    with pytest.raises(MissingDependencyError, match="TensorBoard logging.*tensorboard"):
        EventFile(tmp_path)


def test_writing_does_not_import_tensorflow(tmp_path):
    """In a fresh process, since other tests may have imported TensorFlow already."""
    script = textwrap.dedent(f"""
        import sys
        import mxnet as mx
        import numpy as np
        from gluon_dl.models import get_model
        from gluon_dl.training import fit
        from gluon_dl.training.tensorboard import TensorBoard, read_scalars

        rng = np.random.RandomState(0)
        X = mx.nd.array(rng.rand(64, 1, 28, 28))
        y = mx.nd.array(rng.randint(0, 10, 64))
        fit(get_model("lenet5"), [(X[:32], y[:32]), (X[32:], y[32:])], 1, progress=False,
            callbacks=[TensorBoard({str(tmp_path)!r}, update_freq=1)])
        assert set(read_scalars({str(tmp_path)!r})) >= {{"epoch_loss", "batch_loss"}}
        print("tensorflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.slow
def test_tensorboards_own_loader_reads_the_scalars(tmp_path, mnist_split):
    """TensorBoard's EventAccumulator (what the UI serves from) sees the same series.

    It imports TensorFlow when installed, so it runs in another process.
    """
    history = _train(tmp_path, mnist_split, num_epochs=1)
    script = textwrap.dedent(f"""
        from tensorboard.backend.event_processing import event_accumulator
        acc = event_accumulator.EventAccumulator({str(tmp_path)!r})
        acc.Reload()
        for tag in sorted(acc.Tags()["scalars"]):
            print(tag, *[e.value for e in acc.Scalars(tag)])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    read = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in out.stdout.splitlines()}
    assert read["epoch_loss"] == pytest.approx(history.history["loss"], rel=1e-6)
    assert read["epoch_val_acc"] == pytest.approx(history.history["val_acc"], rel=1e-6)
