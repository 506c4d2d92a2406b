"""TensorBoard logging for :func:`gluon_dl.training.fit`, without TensorFlow.

Used from the lesson on training loops on: ``fit(..., callbacks=[TensorBoard("runs/lenet")])``,
then ``tensorboard --logdir runs``.

The event files are written with the ``tensorboard`` package's own record
writer and protocol buffers.  Its ``EventFileWriter`` is not used on purpose:
it creates the directory and file through ``tensorboard.compat.tf``, which
imports all of TensorFlow when TensorFlow is installed (14 s and ~1 GB here)
just to open a file.
"""
import itertools
import numbers
import os
import socket
import time
from pathlib import Path

from ..errors import ArgumentError, GluonDLError
from ..utils.deps import require
from .callbacks import Callback

__all__ = ["EventFile", "TensorBoard", "read_scalars"]

_PURPOSE = "TensorBoard logging"
_EXTRA = "tensorboard"
_file_ids = itertools.count()


def _protos():
    """``(RecordWriter, event_pb2, summary_pb2)`` from the tensorboard package."""
    record_writer = require("tensorboard.summary.writer.record_writer", _EXTRA, _PURPOSE)
    event_pb2 = require("tensorboard.compat.proto.event_pb2", _EXTRA, _PURPOSE)
    summary_pb2 = require("tensorboard.compat.proto.summary_pb2", _EXTRA, _PURPOSE)
    return record_writer.RecordWriter, event_pb2, summary_pb2


class EventFile:
    """One TensorBoard event file of scalars, written synchronously.

    Parameters
    ----------
    log_dir : str or Path
        Created if missing; the file is named like TensorFlow's
        (``events.out.tfevents.<time>.<host>.<pid>.<n>``) so TensorBoard finds it.
    flush_secs : float
        Flush to disk when this long has passed since the last flush.
    """

    def __init__(self, log_dir, flush_secs=10.0):
        record_writer_cls, self._event_pb2, self._summary_pb2 = _protos()
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / (f"events.out.tfevents.{int(time.time()):010d}."
                                    f"{socket.gethostname()}.{os.getpid()}.{next(_file_ids)}")
        self._writer = record_writer_cls(open(self.path, "wb"))
        self.flush_secs, self._last_flush = flush_secs, time.monotonic()
        self._write(self._event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def scalar(self, tag, value, step):
        """Append ``value`` (a float) of series ``tag`` at ``step``."""
        summary = self._summary_pb2.Summary(
            value=[self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        self._write(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                          summary=summary))
        if time.monotonic() - self._last_flush > self.flush_secs:
            self.flush()

    def _write(self, event):
        self._writer.write(event.SerializeToString())

    def flush(self):
        self._writer.flush()
        self._last_flush = time.monotonic()

    def close(self):
        if not self._writer.closed:
            self._writer.flush()
            self._writer.close()


class TensorBoard(Callback):
    """Writes the training curves of :func:`~gluon_dl.training.fit` for TensorBoard.

    After every epoch, every numeric value of the epoch logs (``loss``,
    ``acc``, ``val_acc``, ...) is written as ``epoch_<key>`` and the learning
    rate as ``epoch_learning_rate``, at step ``epoch`` (as Keras does).  With
    an integer ``update_freq`` the batch loss and learning rate are also
    written as ``batch_loss``/``batch_learning_rate`` every ``update_freq``
    steps, at the global step.  Logging adds no device synchronization: fit
    already has the losses as Python floats.

    Parameters
    ----------
    log_dir : str or Path
        Directory of the run; ``tensorboard --logdir <parent>`` compares runs.
    update_freq : {"epoch", "batch"} or int
        ``"epoch"``: epoch values only; ``"batch"`` is ``1``; an int ``N``
        also logs every N-th batch.
    flush_secs : float
        Longest time between flushes within an epoch (every epoch end flushes).

    Raises
    ------
    MissingDependencyError
        On the first epoch when the ``tensorboard`` package is not installed.
    """

    overlap_safe = True  # writes the logged loss and the learning rate

    def __init__(self, log_dir, update_freq="epoch", flush_secs=10.0):
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and
                                           not isinstance(update_freq, bool) and
                                           update_freq > 0):
            raise ArgumentError(f"update_freq must be 'epoch', 'batch' or a positive int, "
                             f"got {update_freq!r}")
        self.log_dir, self.update_freq, self.flush_secs = Path(log_dir), update_freq, flush_secs
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = EventFile(self.log_dir, self.flush_secs)

    def on_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self.state.global_step % self.update_freq:
            return
        step = self.state.global_step
        if logs and _is_number(logs.get("loss")):
            self.writer.scalar("batch_loss", logs["loss"], step)
        self.writer.scalar("batch_learning_rate", self.trainer.learning_rate, step)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if _is_number(value):
                self.writer.scalar(f"epoch_{key}", value, epoch)
        self.writer.scalar("epoch_learning_rate", self.trainer.learning_rate, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def read_scalars(log_dir):
    """Every scalar in the event files of ``log_dir``, without TensorFlow.

    Parameters
    ----------
    log_dir : str or Path
        A run directory (its ``*tfevents*`` files are read in name order,
        i.e. in the order they were started).

    Returns
    -------
    dict
        ``tag -> list of (step, value)`` in the order written.

    Raises
    ------
    GluonDLError
        When ``log_dir`` holds no event file or a record fails its checksum.
    """
    tb_errors = require("tensorboard.compat.tensorflow_stub.errors", _EXTRA, _PURPOSE)
    reader = require("tensorboard.compat.tensorflow_stub.pywrap_tensorflow", _EXTRA, _PURPOSE)
    _, event_pb2, _ = _protos()
    files = sorted(Path(log_dir).glob("*tfevents*"))
    if not files:
        raise GluonDLError(f"{log_dir} holds no TensorBoard event file (*tfevents*); "
                           f"is it the log_dir given to TensorBoard(...)?")
    scalars = {}
    for path in files:
        records = reader.PyRecordReader_New(str(path))
        while True:
            try:
                records.GetNext()
            except tb_errors.OutOfRangeError:
                break
            except tb_errors.DataLossError as exc:
                raise GluonDLError(f"event file {path} is corrupt: {exc.message}") from exc
            event = event_pb2.Event.FromString(records.record())
            for v in event.summary.value:
                if v.WhichOneof("value") == "simple_value":
                    scalars.setdefault(v.tag, []).append((event.step, v.simple_value))
    return scalars

