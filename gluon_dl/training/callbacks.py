"""Keras-style training callbacks.

A callback sees the training run through ``self.net``, ``self.trainer`` and
``self.state`` (set by :func:`gluon_dl.training.fit` before
``on_train_begin``), and is told about each phase through the hooks below.
Setting ``self.state.stop_training = True`` ends the run after the batch.
"""
import math

from ..errors import GluonDLError


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
