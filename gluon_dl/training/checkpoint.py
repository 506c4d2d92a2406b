"""Training checkpoints that resume exactly.

A checkpoint is one file holding the parameters, the optimizer state, where
training stood (epoch, batch, global step), the Python/numpy RNG states and
the seed that drives MXNet's RNG and the data order.  It is written to a
temporary file and renamed, so a run killed while saving (even by SIGKILL)
leaves the previous checkpoint intact.
"""
import io
import json
import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..utils.io import atomic_write

FORMAT = "gluon-dl-checkpoint-1"


def save_checkpoint(path, net, trainer, state):
    """Write a checkpoint of ``net``, ``trainer`` and the :class:`FitState`.

    Parameters
    ----------
    path : str or Path
    net : mxnet.gluon.Block
    trainer : mxnet.gluon.Trainer
    state : FitState
        Where training stands; its ``seed`` reproduces the data order.

    Returns
    -------
    Path
    """
    # Structural names ("features.0.weight") survive a rebuilt network, whose
    # global name prefixes ("lenet52_") differ.
    params = {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items()
              if p._data is not None}
    meta = {
        "format": FORMAT,
        "epoch": state.epoch, "batch": state.batch, "global_step": state.global_step,
        "num_epochs": state.num_epochs, "seed": state.seed,
        "loss_sum": state.loss_sum, "correct": state.correct, "seen": state.seen,
        "learning_rate": trainer.learning_rate,
    }
    rng = pickle.dumps({"python": random.getstate(), "numpy": np.random.get_state()})
    buf = io.BytesIO()
    np.savez(buf, **{f"param:{k}": v for k, v in params.items()})
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=1))
        zf.writestr("params.npz", buf.getvalue())
        zf.writestr("optimizer.states", _optimizer_states(trainer))
        zf.writestr("rng.pickle", rng)
    return Path(path)


def load_checkpoint(path, net, trainer=None):
    """Restore parameters (and optimizer state) from ``path``; returns its metadata.

    Raises
    ------
    ModelFileError
        For a missing, truncated or foreign file, or parameters that don't fit ``net``.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json"))
            params = dict(np.load(io.BytesIO(zf.read("params.npz"))))
            states = zf.read("optimizer.states")
            rng = pickle.loads(zf.read("rng.pickle"))
    except FileNotFoundError:
        raise ModelFileError(f"checkpoint {path} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError,
            pickle.UnpicklingError) as exc:
        raise ModelFileError(f"{path} is not a readable gluon-dl checkpoint ({exc}); resume "
                             f"from an earlier checkpoint") from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a '{meta.get('format')}' file, not a {FORMAT}")
    _set_params(net, {k[len("param:"):]: v for k, v in params.items()}, path)
    if trainer is not None:
        _set_optimizer_states(trainer, states)
        trainer.set_learning_rate(meta["learning_rate"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    return meta


def _set_params(net, arrays, path):
    import mxnet as mx

    params = net._collect_params_with_prefix()
    missing = sorted(set(params) - set(arrays))
    if missing:
        raise ModelFileError(f"checkpoint {path} lacks parameters {missing[:5]} of this network; "
                             f"was it written by another model?")
    for name, p in params.items():
        value = arrays[name]
        if p._data is None:
            raise ModelFileError(f"parameter {name} is not initialized; run one forward pass "
                                 f"before loading checkpoint {path}")
        if tuple(p.shape) != value.shape:
            raise ModelFileError(f"checkpoint {path}: parameter {name} has shape {value.shape}, "
                                 f"the network expects {tuple(p.shape)}")
        p.set_data(mx.nd.array(value, dtype=value.dtype))


def _optimizer_states(trainer):
    """The trainer's states as bytes, through its public save_states."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer.save_states(os.path.join(tmp, "states"))
        return Path(tmp, "states").read_bytes()


def _set_optimizer_states(trainer, states):
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "states").write_bytes(states)
        trainer.load_states(os.path.join(tmp, "states"))
