"""Keras-style training callbacks.

A callback sees the training run through ``self.net``, ``self.trainer`` and
``self.state`` (set by :func:`gluon_dl.training.fit` before
``on_train_begin``), and is told about each phase through the hooks below.
Setting ``self.state.stop_training = True`` ends the run after the batch.
"""
import csv
import io
import math
import re
from pathlib import Path

from ..errors import GluonDLError
from ..utils.io import atomic_write_text


class Callback:
    """Base class: override the hooks you need."""

    net = None
    trainer = None
    state = None

    def set_context(self, net, trainer, state):
        self.net, self.trainer, self.state = net, trainer, state

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_backward_end(self, batch):
        """After gradients are computed, before the optimizer step (clipping)."""


class CallbackList(Callback):
    """Calls every callback of a list in order."""

    def __init__(self, callbacks=()):
        self.callbacks = [c for c in callbacks if c is not None]

    def set_context(self, net, trainer, state):
        super().set_context(net, trainer, state)
        for c in self.callbacks:
            c.set_context(net, trainer, state)

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, hook, *args):
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs)

    def on_backward_end(self, batch):
        self._call("on_backward_end", batch)


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` etc."""

    def __init__(self):
        self.epochs = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class ProgressBar(Callback):
    """A tqdm progress bar per epoch showing the running loss and metrics.

    Parameters
    ----------
    desc : str
        Text before the bar (e.g. ``"train"`` or ``"fine-tune"``).
    disable : bool or None
        ``None`` hides the bar when stderr is not a terminal.
    """

    def __init__(self, desc="train", disable=None, leave=False):
        self.desc, self.disable, self.leave = desc, disable, leave
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm
        total = self.state.batches_per_epoch if self.state is not None else None
        self._bar = tqdm(total=total, desc=f"{self.desc} epoch {epoch + 1}/{self.state.num_epochs}",
                         unit="batch", disable=self.disable, leave=self.leave, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if logs and "loss" in logs:
                self._bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items()})
            self._bar.close()
            self._bar = None


class TerminateOnNaN(Callback):
    """Stops training with a message naming the step when the loss is NaN/Inf."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise GluonDLError(f"loss became {loss} at epoch {self.state.epoch + 1}, batch "
                               f"{batch} (global step {self.state.global_step}); lower the "
                               f"learning rate or enable gradient clipping")


class CSVLogger(Callback):
    """Writes one row per epoch (epoch, global step, every logged value) to ``path``.

    The whole file is rewritten atomically after each epoch, so it is always
    complete; a resumed run appends to the rows of the interrupted one.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.rows = []

    def on_train_begin(self, logs=None):
        if self.path.is_file() and self.state is not None and self.state.global_step > 0:
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < self.state.epoch]

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, "global_step": self.state.global_step, **(logs or {})})
        fields = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


class Monitor(Callback):
    """Tracks the best value of one logged metric (shared by EarlyStopping and checkpoints).

    Parameters
    ----------
    monitor : str
        Key of the epoch logs, e.g. ``"val_acc"`` or ``"loss"``.
    mode : {"auto", "min", "max"}
        ``"auto"`` maximizes names containing "acc", minimizes the rest.
    min_delta : float
        Smallest change that counts as an improvement.
    """

    def __init__(self, monitor="val_acc", mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self.mode = mode if mode != "auto" else ("max" if "acc" in monitor else "min")
        self.best = None

    def current(self, logs):
        if not logs or self.monitor not in logs:
            raise GluonDLError(f"{type(self).__name__} monitors '{self.monitor}', which the "
                               f"epoch logs lack (they have {sorted(logs or {})}); pass "
                               f"val_iter to fit() or monitor another key")
        return logs[self.monitor]

    def improved(self, value):
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta


class EarlyStopping(Monitor):
    """Stops when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int
    restore_best_weights : bool
        Put back the parameters of the best epoch when stopping.
    """

    def __init__(self, monitor="val_acc", patience=3, mode="auto", min_delta=0.0,
                 restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait, self.stopped_epoch, self._best_params = 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if self.improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self._best_params = {k: p.data().copy() for k, p in
                                     self.net.collect_params().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.state.stop_training = True
            self.stopped_epoch = epoch
            if self._best_params is not None:
                for k, p in self.net.collect_params().items():
                    p.set_data(self._best_params[k])


class ModelCheckpoint(Monitor):
    """Saves resumable checkpoints into ``directory``.

    ``ckpt-<global step>.ckpt`` every ``every_n_steps`` steps and at the end of
    every epoch, keeping the newest ``keep_last``; ``best.ckpt`` whenever
    ``monitor`` improves (if ``save_best``).  Writes are atomic: a run killed
    while saving leaves the earlier checkpoints intact.
    """

    PATTERN = re.compile(r"^ckpt-(\d+)\.ckpt$")

    def __init__(self, directory, every_n_steps=None, keep_last=3, monitor="val_acc",
                 mode="auto", save_best=True):
        super().__init__(monitor, mode)
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.directory = Path(directory)
        self.every_n_steps, self.keep_last, self.save_best = every_n_steps, keep_last, save_best

    def on_batch_end(self, batch, logs=None):
        if self.every_n_steps and self.state.global_step % self.every_n_steps == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._save()
        if self.save_best and self.monitor in (logs or {}):
            value = self.current(logs)
            if self.improved(value):
                self.best = value
                self._save(self.directory / "best.ckpt")

    def _save(self, path=None):
        from .checkpoint import save_checkpoint

        path = path or self.directory / f"ckpt-{self.state.global_step:09d}.ckpt"
        save_checkpoint(path, self.net, self.trainer, self.state)
        for old in list_checkpoints(self.directory)[:-self.keep_last]:
            old.unlink()


def list_checkpoints(directory):
    """The ``ckpt-*.ckpt`` files of ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if ModelCheckpoint.PATTERN.match(p.name)]
    return sorted(found, key=lambda p: int(ModelCheckpoint.PATTERN.match(p.name).group(1)))


def latest_checkpoint(directory):
    """The newest ``ckpt-*.ckpt`` in ``directory``, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


class LearningRateScheduler(Callback):
    """Sets the learning rate before every step to ``schedule(global_step)``.

    ``schedule`` is any callable of the step: MXNet's ``FactorScheduler``
    (step decay), ``CosineScheduler``, ``PolyScheduler`` (each with linear
    warm-up through ``warmup_steps``), or a plain function.  Being a function
    of the global step, it resumes exactly.
    """

    def __init__(self, schedule):
        self.schedule = schedule

    def on_batch_begin(self, batch, logs=None):
        self.trainer.set_learning_rate(float(self.schedule(self.state.global_step)))


class GradientClipping(Callback):
    """Rescales gradients so their global L2 norm is at most ``max_norm``.

    Runs between backward and the optimizer step; with several devices each
    device's gradients are clipped by their own norm, as Gluon's
    ``clip_global_norm`` does.
    """

    def __init__(self, max_norm):
        if max_norm <= 0:
            raise ValueError(f"max_norm must be positive, got {max_norm}")
        self.max_norm = max_norm
        self.last_norm = None

    def on_backward_end(self, batch):
        from mxnet import gluon

        params = [p for p in self.net.collect_params().values() if p.grad_req != "null"]
        norms = []
        for i, _ in enumerate(params[0].list_ctx()):
            grads = [p.list_grad()[i] for p in params]
            norms.append(gluon.utils.clip_global_norm(grads, self.max_norm))
        self.last_norm = max(norms)
