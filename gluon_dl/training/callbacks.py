"""Keras-style training callbacks.

A callback sees the training run through ``self.net``, ``self.trainer`` and
``self.state`` (set by :func:`gluon_dl.training.fit` before
``on_train_begin``), and is told about each phase through the hooks below.
Setting ``self.state.stop_training = True`` ends the run after the batch.
"""
import csv
import io
import math
import numbers
import os
import re
from pathlib import Path

from ..errors import ArgumentError, NonFiniteError, OutputExistsError
from ..utils.deps import require
from ..utils.io import atomic_write_text


def _check_int(owner, name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ArgumentError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{owner}: {name} must be a positive number, got {value!r}")
    return value


class Callback:
    """Base class: override the hooks you need.

    ``runs_last`` callbacks (checkpoints) run after the others in every hook,
    so what they save includes what the others did to the step (a pruner's
    masks, say), whatever order the list gives.

    ``overlap_safe`` says that the callback's ``on_batch_begin`` and
    ``on_batch_end`` may run after the next batch's forward and backward were
    queued (``fit``'s ``overlap``): they change neither the weights nor what
    the network computes, and read no gradients.  A callback that overrides
    neither hook needs no mark; one that does and says nothing turns
    ``fit``'s automatic overlap off.
    """

    net = None
    trainer = None
    state = None
    runs_last = False
    overlap_safe = False

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
        # A stable sort: the order of the list otherwise.
        self.callbacks = sorted((c for c in callbacks if c is not None),
                                key=lambda c: bool(getattr(c, "runs_last", False)))

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


def overlap_safe(callbacks):
    """Whether ``fit`` may overlap batches with every callback of ``callbacks``."""
    def safe(c):
        if getattr(c, "overlap_safe", False):
            return True
        kind = type(c)
        return all(getattr(kind, hook, None) is getattr(Callback, hook)
                   for hook in ("on_batch_begin", "on_batch_end"))
    return all(safe(c) for c in callbacks)


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

    overlap_safe = True  # draws the logged loss

    def __init__(self, desc="train", disable=None, leave=False):
        self.desc, self.disable, self.leave = desc, disable, leave
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        tqdm = require("tqdm.auto", "train", "The training progress bar").tqdm
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
    """Stops training with a message naming the step when the loss is NaN/Inf.

    Raises
    ------
    gluon_dl.errors.NonFiniteError
    """

    overlap_safe = True  # reads the logged loss

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise NonFiniteError(f"loss became {loss} at epoch {self.state.epoch + 1}, batch "
                                 f"{batch} (global step {self.state.global_step}); lower the "
                                 f"learning rate or enable gradient clipping")


class CSVLogger(Callback):
    """Writes one row per epoch (epoch, global step, every logged value) to ``path``.

    The whole file is rewritten atomically after each epoch, so it is always
    complete; a resumed run appends to the rows of the interrupted one.  A
    file at ``path`` that is no such log (its header does not start with
    ``epoch,global_step``) is never overwritten.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.rows = []

    def on_train_begin(self, logs=None):
        self.rows = []
        if not self.path.exists():
            return
        rows = self._read_own_log()
        if self.state is not None and self.state.global_step > 0:
            self.rows = [r for r in rows if int(r["epoch"]) < self.state.epoch]

    def _read_own_log(self):
        try:
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                if list(reader.fieldnames or [])[:2] != ["epoch", "global_step"]:
                    raise ValueError("its header does not start with epoch,global_step")
                rows = list(reader)
            for row in rows:
                int(row["epoch"])
        except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
            raise OutputExistsError(f"CSVLogger: {self.path} exists and is not a log that "
                                    f"CSVLogger wrote ({exc}); pass another path or move that "
                                    f"file away") from exc
        return rows

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
        Key of the epoch logs: ``"val_loss"`` (the default, as in Keras; it
        needs ``val_iter``), ``"val_acc"``, ``"loss"``...
    mode : {"auto", "min", "max"}
        ``"auto"`` maximizes names containing "acc", minimizes the rest.
    min_delta : float
        Smallest change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ArgumentError(f"{owner}: monitor must be the name of a logged value such as "
                                f"'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ArgumentError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) \
                or not math.isfinite(min_delta):
            raise ArgumentError(f"{owner}: min_delta must be a finite number, got {min_delta!r}")
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self.mode = mode if mode != "auto" else ("max" if "acc" in monitor else "min")
        self.best = None

    def current(self, logs):
        if not logs or self.monitor not in logs:
            raise ArgumentError(f"{type(self).__name__} monitors '{self.monitor}', which the "
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
    """Stops when ``monitor`` (default ``"val_loss"``) has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor, mode, min_delta
        As in :class:`Monitor`.
    patience : int
        Epochs without improvement to wait, >= 0.
    restore_best_weights : bool
        Put back the parameters of the best epoch when stopping.
    """

    def __init__(self, monitor="val_loss", patience=3, mode="auto", min_delta=0.0,
                 restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = _check_int("EarlyStopping", "patience", patience, 0)
        self.restore_best_weights = restore_best_weights
        self.wait, self.stopped_epoch, self._best_params = 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if self.improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                # list_data: data() needs the current context among the parameter's.
                self._best_params = {k: p.list_data()[0].copy() for k, p in
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
    ``monitor`` (default ``"val_loss"``) improves, if ``save_best`` and the
    logs hold it.  Writes are atomic: a run killed while saving leaves the
    earlier checkpoints intact, and the temporary file it was writing is
    removed when the next run in ``directory`` begins.  It runs after the
    other callbacks of every hook (``runs_last``), so a checkpoint holds what
    they did to the step.

    Parameters
    ----------
    directory : str or Path
    every_n_steps : int, optional
        Also save every that many global steps (>= 1).
    keep_last : int
        ``ckpt-*.ckpt`` files to keep, >= 1.
    monitor, mode
        As in :class:`Monitor`.
    save_best : bool
    """

    overlap_safe = True  # saves batch k's weights: batch k + 1's update is not queued yet

    PATTERN = re.compile(r"^ckpt-(\d+)\.ckpt$")
    # What atomic_write stages beside ckpt-*.ckpt and best.ckpt: ".<name>.<random>.tmp".
    STAGED = re.compile(r"^\.(ckpt-\d+\.ckpt|best\.ckpt)\.[A-Za-z0-9_]+\.tmp$")
    runs_last = True

    def __init__(self, directory, every_n_steps=None, keep_last=3, monitor="val_loss",
                 mode="auto", save_best=True):
        super().__init__(monitor, mode)
        self.keep_last = _check_int("ModelCheckpoint", "keep_last", keep_last, 1)
        if every_n_steps is not None:
            every_n_steps = _check_int("ModelCheckpoint", "every_n_steps", every_n_steps, 1)
        self.directory = Path(directory)
        self.every_n_steps, self.save_best = every_n_steps, save_best

    def on_train_begin(self, logs=None):
        from .checkpoint import check_trainer

        if self.trainer is not None:
            check_trainer(self.trainer)
        try:  # now, not after the first epoch's training time
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputExistsError(f"ModelCheckpoint cannot write to {self.directory} "
                                    f"({exc.strerror or exc}); pass a folder path") from None
        self._refuse_another_run()
        for stale in stale_checkpoint_files(self.directory):
            stale.unlink()

    def _refuse_another_run(self):
        """Refuse a folder holding checkpoints this run would delete or overwrite.

        Keeping the newest ``keep_last`` would delete this run's own checkpoints
        while an earlier run's later steps sort after them, and ``best.ckpt``
        would replace that run's best: only the run they belong to (resumed
        from its latest checkpoint) may continue in the folder.
        """
        start = self.state.global_step if self.state is not None else 0
        later = [p for p in list_checkpoints(self.directory) if _step_of(p) > start]
        best = self.directory / "best.ckpt"
        if later or (start == 0 and os.path.lexists(best)):
            found = later[-1].name if later else best.name
            raise OutputExistsError(
                f"ModelCheckpoint folder {self.directory} holds {found} of another run (this "
                f"run starts at step {start}), which saving here would delete or overwrite; "
                f"resume that run (resume_from=latest_checkpoint(...)) or pass an empty folder")

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


def stale_checkpoint_files(directory):
    """Temporary files of ``ModelCheckpoint`` saves in ``directory`` that were cut short.

    Only names that a checkpoint save stages (``.ckpt-000000100.ckpt.<random>.tmp``,
    ``.best.ckpt.<random>.tmp``) and only plain files; nothing else in the
    directory is touched.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if ModelCheckpoint.STAGED.match(p.name) and p.is_file() and not p.is_symlink())


def list_checkpoints(directory):
    """The ``ckpt-*.ckpt`` files of ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir()
             if ModelCheckpoint.PATTERN.match(p.name) and p.is_file()]
    return sorted(found, key=_step_of)


def _step_of(path):
    """The global step in a ``ckpt-<step>.ckpt`` name."""
    return int(ModelCheckpoint.PATTERN.match(path.name).group(1))


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

    overlap_safe = True  # sets the rate before the batch's optimizer step

    def __init__(self, schedule):
        if not callable(schedule):
            raise ArgumentError(f"LearningRateScheduler: schedule must be callable as "
                                f"schedule(global_step) -> learning rate, got "
                                f"{type(schedule).__name__}")
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
        self.max_norm = _check_positive("GradientClipping", "max_norm", max_norm)
        self.last_norm = None

    def on_backward_end(self, batch):
        from mxnet import gluon

        params = [p for p in self.net.collect_params().values() if p.grad_req != "null"]
        norms = []
        for i, _ in enumerate(params[0].list_ctx()):
            grads = [p.list_grad()[i] for p in params]
            norms.append(gluon.utils.clip_global_norm(grads, self.max_norm))
        self.last_norm = max(norms)
