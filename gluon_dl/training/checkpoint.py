"""Training checkpoints that resume exactly, made of data only.

A checkpoint is one zip file of JSON and ``.npz`` members; loading it runs
no code from the file (no pickle anywhere):

``meta.json``
    The format, where training stood (epoch, batch, global step, the
    epoch's running sums) and the seed that drives MXNet's RNG and the data
    order.
``params.npz``
    Every parameter by structural name (``features.0.weight``), which a
    rebuilt network shares even when its global prefixes (``lenet52_``) differ.
``optimizer.json``, ``optimizer.npz``
    The optimizer's registered name, its scalar settings (learning rate,
    wd, momentum or betas, ``num_update``...), the per-parameter update
    counts, and every state array (Adam's moments, SGD's momentum, float32
    master weights), all keyed by structural name rather than trainer index.
``rng.json``, ``rng.npz``
    Python's and numpy's global RNG states.

A checkpoint is written to a temporary file and renamed, so a run killed
while saving (even by SIGKILL) leaves the previous checkpoint intact.
Loading checks every member against the network and the trainer before it
assigns anything: a checkpoint that does not fit leaves parameters,
optimizer and RNG states as they were.
"""
import collections
import copy
import io
import json
import os
import random
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, ModelFileError, NonFiniteError
from ..utils import safejson
from ..utils.io import as_path, atomic_write

FORMAT = "gluon-dl-checkpoint-2"
_PICKLED_FORMAT = "gluon-dl-checkpoint-1"
_PICKLED_MEMBERS = ("rng.pickle", "optimizer.states")
# Optimizer attributes that are no training state: read from the environment,
# set by the trainer, or objects of their own.  The trainer's own lr_scheduler
# is kept; MXNet's schedulers are functions of num_update, which is restored.
_NOT_STATE = frozenset({"aggregate_num", "allow_np_array", "lr_scheduler", "param_dict",
                        "idx2name", "sym_info", "lr_mult", "wd_mult",
                        "_all_index_update_counts", "_index_update_count"})
_LOSS_SCALER = ("_loss_scale", "_next_loss_scale", "_unskipped")
_SCALARS = (bool, int, float, str, type(None))

_OptimizerPlan = collections.namedtuple("_OptimizerPlan", "settings counts states arrays scaler")


def save_checkpoint(path, net, trainer, state):
    """Write a checkpoint of ``net``, ``trainer`` and the :class:`FitState`.

    Parameters
    ----------
    path : str or Path
    net : mxnet.gluon.Block
    trainer : mxnet.gluon.Trainer
        Built over (a subset of) ``net``'s parameters.
    state : FitState
        Where training stands; its ``seed`` reproduces the data order.

    Returns
    -------
    Path

    Raises
    ------
    ArgumentError
        If the optimizer state cannot be stored: it lives on the servers of a
        distributed KVStore, or the optimizer keeps state outside arrays.
    """
    params = {f"param:{name}": p._data[0].asnumpy()
              for name, p in net._collect_params_with_prefix().items() if p._data is not None}
    meta = {
        "format": FORMAT,
        "epoch": state.epoch, "batch": state.batch, "global_step": state.global_step,
        "num_epochs": state.num_epochs, "seed": state.seed,
        "loss_sum": state.loss_sum, "correct": state.correct, "seen": state.seen,
        "learning_rate": trainer.learning_rate,
    }
    optimizer, optimizer_arrays = _optimizer_section(trainer, net)
    rng, rng_arrays = _rng_section()
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=1))
        zf.writestr("params.npz", _npz_bytes(params))
        zf.writestr("optimizer.json", json.dumps(optimizer))
        zf.writestr("optimizer.npz", _npz_bytes(optimizer_arrays))
        zf.writestr("rng.json", json.dumps(rng))
        zf.writestr("rng.npz", _npz_bytes(rng_arrays))
    return Path(path)


def load_checkpoint(path, net, trainer=None, *, ctx=None):
    """Restore parameters, optimizer and RNG states from ``path``; returns its metadata.

    Every member is checked against ``net`` and ``trainer`` first; nothing is
    assigned unless all of them fit.  Parameters whose initialization is
    deferred (shapes known only after a first forward pass) get the
    checkpoint's shapes and values on the contexts they were deferred to.
    The optimizer continues with the checkpoint's settings and state.

    Parameters
    ----------
    path : str or Path
    net : mxnet.gluon.Block
        Initialized, deferred-initialized, or not initialized at all.
    trainer : mxnet.gluon.Trainer, optional
        Receives the optimizer state; it must use the checkpoint's optimizer.
    ctx : Context or list of Context, optional
        Where parameters that were never initialized are created (default:
        the current context).

    Returns
    -------
    dict
        ``epoch``, ``batch``, ``global_step``, ``seed``, ``loss_sum``,
        ``correct``, ``seen``, ``num_epochs`` and ``learning_rate``.

    Raises
    ------
    ModelFileError
        For a missing, truncated, foreign or old-format (pickled) file, or
        parameters or optimizer state that don't fit ``net`` and ``trainer``.
    ArgumentError
        If ``trainer`` uses another optimizer than the checkpoint's, or keeps
        its optimizer state on the servers of a distributed KVStore.
    NonFiniteError
        If a parameter or optimizer state holds NaN or Inf.
    """
    path = as_path(path, "the checkpoint")
    members = _read(path)
    params = _plan_params(net, members["params.npz"], path)
    optimizer = None
    if trainer is not None:
        optimizer = _plan_optimizer(trainer, net, members["optimizer.json"],
                                    members["optimizer.npz"], params, path)
    rng = _plan_rng(members["rng.json"], members["rng.npz"], path)
    _assign_params(params, ctx)
    if optimizer is not None:
        _assign_optimizer(trainer, optimizer)
    random.setstate(rng[0])
    np.random.set_state(rng[1])
    return members["meta.json"]


def check_trainer(trainer):
    """Raise :class:`ArgumentError` now if ``trainer``'s optimizer state cannot be checkpointed."""
    if _updates_on_dist_kvstore(trainer):
        raise ArgumentError(_dist_message(trainer))


# ------------------------------------------------------------------ reading

def _read(path):
    """Every member of the checkpoint ``path``, parsed, with its format checked."""
    try:
        with zipfile.ZipFile(path) as zf:
            _check_sizes(zf, path)
            meta = safejson.loads(zf.read("meta.json"))
            _check_format(meta, set(zf.namelist()), path)
            members = {"meta.json": meta}
            for name in ("optimizer.json", "rng.json"):
                members[name] = safejson.loads(zf.read(name))
            for name in ("params.npz", "optimizer.npz", "rng.npz"):
                members[name] = _npz_arrays(zf.read(name))
    except FileNotFoundError:
        raise ModelFileError(f"checkpoint {path} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError,
            RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ModelFileError(f"{path} is not a readable gluon-dl checkpoint ({exc}); resume "
                             f"from an earlier checkpoint") from exc
    _check_position(meta, path)
    return members


def _check_sizes(zf, path):
    """Refuse members that unpack to far more than the file holds (a zip bomb).

    Checkpoints are stored uncompressed, so a member's size never exceeds
    the file's; the allowance covers an archive someone recompressed.
    """
    limit = 8 * os.path.getsize(path) + (1 << 20)
    for info in zf.infolist():
        if info.file_size > limit:
            raise ModelFileError(
                f"{path}: member {info.filename} would unpack to {info.file_size:,} bytes from a "
                f"{os.path.getsize(path):,}-byte file; that is no checkpoint gluon-dl wrote")


def _check_format(meta, names, path):
    # The old format's RNG and optimizer members are pickles: refuse the file
    # without reading them.
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == _PICKLED_FORMAT or names & set(_PICKLED_MEMBERS):
        raise ModelFileError(
            f"{path} is an old-format checkpoint ({_PICKLED_FORMAT}) whose optimizer and RNG "
            f"states are pickled, which gluon-dl no longer loads because unpickling can run "
            f"code; re-train, or resume from a checkpoint written by this version (its "
            f"weights alone are in the archive's params.npz, readable with "
            f"numpy.load(..., allow_pickle=False))")
    if fmt != FORMAT:
        raise ModelFileError(f"{path} is a '{fmt}' file, not a {FORMAT} checkpoint; pass a "
                             f"file written by ModelCheckpoint or save_checkpoint")


def _check_position(meta, path):
    """The training position that ``fit`` resumes from: integers (and the running loss)."""
    expected = {"epoch": (int,), "batch": (int,), "global_step": (int,), "seen": (int,),
                "correct": (int,), "seed": (int, type(None)), "loss_sum": (int, float)}
    lowest = {"epoch": 0, "batch": -1, "global_step": 0, "seen": 0}
    for key, types in expected.items():
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, types) or (
                key in lowest and value < lowest[key]):
            raise ModelFileError(f"checkpoint {path}: meta.json's '{key}' is {value!r}, not "
                                 f"{'a number' if key == 'loss_sum' else 'an integer'}; "
                                 f"resume from an earlier checkpoint")


def _npz_arrays(data):
    """The arrays of an ``.npz`` held in ``data``; object arrays are refused, never unpickled."""
    npz = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError("a member that should be an .npz archive is a single array")
    with npz:
        return {key: npz[key] for key in npz.files}


def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _check_finite(value, what, path):
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise NonFiniteError(f"checkpoint {path}: {what} holds NaN or Inf (the run had diverged "
                             f"when it was saved); resume from an earlier checkpoint")


# --------------------------------------------------------------- parameters

def _plan_params(net, arrays, path):
    """``{structural name: (parameter, value)}`` once every stored value fits ``net``."""
    stored = {}
    for key, value in arrays.items():
        if not key.startswith("param:"):
            raise ModelFileError(f"checkpoint {path}: params.npz holds '{key}', which names no "
                                 f"parameter; resume from an earlier checkpoint")
        stored[key[len("param:"):]] = value
    params = net._collect_params_with_prefix()
    missing, extra = sorted(set(params) - set(stored)), sorted(set(stored) - set(params))
    if missing or extra:
        differences = ([f"lacks parameters {missing[:5]}"] if missing else []) + \
                      ([f"holds parameters the network lacks {extra[:5]}"] if extra else [])
        raise ModelFileError(f"checkpoint {path} does not fit this {type(net).__name__}: it "
                             f"{' and '.join(differences)}; was it written by another model "
                             f"or configuration?")
    for name, param in params.items():
        _check_param(name, param, stored[name], path)
    return {name: (param, stored[name]) for name, param in params.items()}


def _check_param(name, param, value, path):
    expected = param.shape
    if expected is not None and not (
            len(expected) == value.ndim
            and all(e in (0, -1, v) for e, v in zip(expected, value.shape))):
        raise ModelFileError(f"checkpoint {path}: parameter {name} has shape {value.shape}, the "
                             f"network expects {tuple(expected)} (0: not known yet); was it "
                             f"written by another model or configuration?")
    dtype = np.dtype(param.dtype)
    if not np.can_cast(value.dtype, dtype, casting="safe"):
        raise ModelFileError(f"checkpoint {path}: parameter {name} is {value.dtype}, the network "
                             f"holds {dtype}; cast the network (net.cast('{value.dtype}')) or "
                             f"resume with the precision the checkpoint was trained in")
    _check_finite(value, f"parameter {name}", path)


def _assign_params(params, ctx):
    import mxnet as mx

    for param, value in params.values():
        data = mx.nd.array(value, dtype=param.dtype)
        if param._data is None and not param._deferred_init:  # never initialized
            param.shape = value.shape
            param.initialize(init=mx.init.Zero(), ctx=ctx)
        param.set_data(data)  # deferred: becomes the data its initialization uses
        param._finish_deferred_init()


# ---------------------------------------------------------------- optimizer

def _optimizer_section(trainer, net):
    """The optimizer's name, settings, update counts and states (JSON + arrays)."""
    optimizer = trainer._optimizer
    names = _trainer_names(trainer, net)
    specs, arrays = {}, {}
    for index, value in _live_updater(trainer).states.items():
        specs[names[index]] = _encode_state(value, f"state:{names[index]}", arrays, names[index])
    counts = {str(device): {names[i]: int(n) for i, n in per_index.items()}
              for device, per_index in optimizer._all_index_update_counts.items()}
    section = {"optimizer": _optimizer_name(optimizer), "settings": _settings(optimizer),
               "update_counts": counts, "states": specs, "loss_scaler": _scaler_state(trainer)}
    return section, arrays


def _optimizer_name(optimizer):
    return type(optimizer).__name__.lower()  # the name mx.optimizer.create knows it by


def _trainer_names(trainer, net):
    """``{trainer index: structural name}`` of the parameters ``trainer`` updates."""
    by_id = {}
    for name, param in sorted(net._collect_params_with_prefix().items()):
        by_id.setdefault(id(param), name)  # a shared parameter: its first name
    names = {}
    for index, param in enumerate(trainer._params):
        if id(param) not in by_id:
            raise ArgumentError(f"the trainer updates parameter '{param.name}', which the "
                                f"network does not hold; build the trainer over "
                                f"net.collect_params()")
        names[index] = by_id[id(param)]
    return names


def _live_updater(trainer):
    """The updater whose ``states`` the next step uses."""
    if trainer._kv_initialized and trainer._update_on_kvstore:
        updater = getattr(trainer._kvstore, "_updater", None)
        if updater is None:
            raise ArgumentError(_dist_message(trainer))
        return updater
    return trainer._updaters[0]


def _updates_on_dist_kvstore(trainer):
    """Whether ``trainer`` (now, or from its first step on) updates on a distributed KVStore."""
    if trainer._kv_initialized:
        kv = trainer._kvstore
        return bool(trainer._update_on_kvstore) and kv is not None and "dist" in kv.type
    config = trainer._kvstore_params
    kv = config["kvstore"]
    kind = kv if isinstance(kv, str) else getattr(kv, "type", None) or ""
    if "dist" not in kind:
        return False
    if "async" in kind:
        return True  # MXNet updates on the servers whatever update_on_kvstore says
    if config["update_on_kvstore"] is not None:
        return bool(config["update_on_kvstore"])
    return bool(int(os.getenv("MXNET_UPDATE_ON_KVSTORE", "1")))


def _dist_message(trainer):
    kv = trainer._kvstore or trainer._kvstore_params["kvstore"]
    kind = kv if isinstance(kv, str) else getattr(kv, "type", kv)
    return (f"the optimizer state of KVStore '{kind}' lives on its servers, which MXNet "
            f"reaches only through pickle, so a checkpoint can neither read nor restore it; "
            f"train with update_on_kvstore=False (fit(..., kvstore='dist_sync', "
            f"update_on_kvstore=False)) so that the workers hold it, or train without "
            f"ModelCheckpoint and resume_from")


def _settings(optimizer):
    """The optimizer's scalar attributes (learning rate, betas, num_update...)."""
    settings = {}
    for key, value in vars(optimizer).items():
        if key in _NOT_STATE:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, _SCALARS):
            settings[key] = value
        elif not (isinstance(value, (dict, list, tuple, set)) and not value):
            # A filled container or an object: state that only pickle could keep.
            raise ArgumentError(f"optimizer '{_optimizer_name(optimizer)}' keeps state in its "
                                f"attribute '{key}' ({type(value).__name__}), which a "
                                f"checkpoint cannot store; use another optimizer (adam, sgd...)")
    return settings


def _scaler_state(trainer):
    scaler = getattr(trainer, "_amp_loss_scaler", None)
    return None if scaler is None else {k: getattr(scaler, k) for k in _LOSS_SCALER}


def _encode_state(value, key, arrays, name):
    """A JSON description of one parameter's state; its arrays go to ``arrays``."""
    import mxnet as mx

    if value is None:
        return None
    if isinstance(value, mx.nd.NDArray):
        arrays[key] = value.asnumpy()
        return {"array": key, "stype": value.stype}
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_encode_state(v, f"{key}#{i}", arrays, name) for i, v in enumerate(value)]}
    raise ArgumentError(f"the optimizer state of parameter {name} holds a "
                        f"{type(value).__name__}, which a checkpoint cannot store (arrays, "
                        f"tuples and lists of them only); use one of MXNet's optimizers")


def _decode_state(spec, arrays):
    import mxnet as mx

    if spec is None:
        return None
    if "array" in spec:
        value = arrays[spec["array"]]
        data = mx.nd.array(value, dtype=value.dtype)
        return data if spec["stype"] == "default" else data.tostype(spec["stype"])
    kind = "tuple" if "tuple" in spec else "list"
    items = [_decode_state(s, arrays) for s in spec[kind]]
    return tuple(items) if kind == "tuple" else items


def _plan_optimizer(trainer, net, section, arrays, params, path):
    """The optimizer state to assign, once all of it fits ``trainer``."""
    if not isinstance(section, dict):
        raise ModelFileError(f"checkpoint {path}: optimizer.json is not an object; resume from "
                             f"an earlier checkpoint")
    _check_optimizer_name(section.get("optimizer"), trainer._optimizer, path)
    index_of = {name: i for i, name in _trainer_names(trainer, net).items()}
    settings = _check_settings(section.get("settings"), trainer._optimizer, path)
    counts = _check_counts(section.get("update_counts"), index_of, path)
    states = _check_states(section.get("states"), trainer, settings, index_of, arrays,
                           params, path)
    scaler = _check_scaler(section.get("loss_scaler"), path)
    if states and _updates_on_dist_kvstore(trainer):
        raise ArgumentError(_dist_message(trainer))
    return _OptimizerPlan(settings, counts, states, arrays, scaler)


def _check_optimizer_name(stored, optimizer, path):
    current = _optimizer_name(optimizer)
    if stored != current:
        raise ArgumentError(f"checkpoint {path} was trained with optimizer '{stored}', but this "
                            f"trainer uses '{current}'; resume with optimizer='{stored}' (e.g. "
                            f"fit(..., optimizer='{stored}')), or start without resume_from")


def _check_settings(settings, optimizer, path):
    if not isinstance(settings, dict) or not all(
            isinstance(v, _SCALARS) for v in settings.values()):
        raise ModelFileError(f"checkpoint {path}: the optimizer settings are not a mapping of "
                             f"numbers; resume from an earlier checkpoint")
    current = vars(optimizer)
    # Attributes this MXNet's optimizer lacks (another version's) have no use here.
    settings = {k: v for k, v in settings.items() if k in current and k not in _NOT_STATE}
    for key, value in settings.items():
        if not _same_kind(value, current[key]):
            raise ModelFileError(f"checkpoint {path}: the optimizer setting '{key}' is "
                                 f"{value!r}, where the optimizer holds {current[key]!r}; "
                                 f"resume from an earlier checkpoint")
    return settings


def _same_kind(stored, current):
    """Whether a stored optimizer setting may replace ``current`` (None: an unset option)."""
    if stored is None or current is None:
        return True
    if isinstance(current, bool) or isinstance(stored, bool):
        return isinstance(current, bool) and isinstance(stored, bool)
    if isinstance(current, (int, float, np.number)):
        return isinstance(stored, (int, float)) and np.isfinite(stored)
    return type(stored) is type(current)


def _check_counts(counts, index_of, path):
    """``{device id: {trainer index: updates}}`` from the stored per-device counts."""
    bad = ModelFileError(f"checkpoint {path}: the optimizer's update counts are malformed or "
                         f"name parameters this trainer does not update; resume from an "
                         f"earlier checkpoint")
    if not isinstance(counts, dict):
        raise bad
    result = {}
    for device, per_name in counts.items():
        if not (device.isdigit() and isinstance(per_name, dict)
                and set(per_name) <= set(index_of)
                and all(type(n) is int and n >= 0 for n in per_name.values())):
            raise bad
        result[int(device)] = {index_of[name]: n for name, n in per_name.items()}
    result.setdefault(0, {})
    return result


def _check_states(specs, trainer, settings, index_of, arrays, params, path):
    """``{trainer index: state description}`` once each state fits the optimizer's own."""
    import mxnet as mx

    if not isinstance(specs, dict):
        raise ModelFileError(f"checkpoint {path}: the optimizer states are not a mapping; "
                             f"resume from an earlier checkpoint")
    # The states the trainer's optimizer, set as the checkpoint's, would create.
    staged = copy.copy(trainer._optimizer)
    staged.__dict__.update(settings)
    states = {}
    for name, spec in specs.items():
        if name not in index_of:
            raise ModelFileError(f"checkpoint {path} holds optimizer state for parameter {name}, "
                                 f"which this trainer does not update; build the trainer over "
                                 f"the network's parameters")
        param, value = params[name]
        weight = mx.nd.zeros(value.shape, dtype=param.dtype, stype=param._stype)
        template = staged.create_state_multi_precision(index_of[name], weight)
        problem = _state_mismatch(spec, template, arrays, f"parameter {name}", path)
        if problem:
            raise ModelFileError(f"checkpoint {path}: the optimizer state of parameter {name} "
                                 f"does not fit optimizer '{_optimizer_name(staged)}': {problem}; "
                                 f"was it written by another model or configuration?")
        states[index_of[name]] = spec
    return states


def _state_mismatch(spec, template, arrays, what, path):
    """How ``spec`` differs from the optimizer's ``template`` state, or None if it fits."""
    import mxnet as mx

    if template is None:
        return None if spec is None else "it holds arrays where the optimizer keeps none"
    if isinstance(template, mx.nd.NDArray):
        if not (isinstance(spec, dict) and set(spec) == {"array", "stype"}
                and spec["array"] in arrays):
            return "an array is missing"
        value = arrays[spec["array"]]
        if value.shape != template.shape or value.dtype != np.dtype(template.dtype) \
                or spec["stype"] != template.stype:
            return (f"an array is {value.dtype} {value.shape} ({spec['stype']}), the "
                    f"optimizer keeps {np.dtype(template.dtype)} {template.shape} "
                    f"({template.stype})")
        _check_finite(value, f"the optimizer state of {what}", path)
        return None
    kind = "tuple" if isinstance(template, tuple) else "list"
    items = spec.get(kind) if isinstance(spec, dict) else None
    if not isinstance(items, list) or len(items) != len(template):
        return f"it is not a {kind} of {len(template)} states"
    problems = (_state_mismatch(s, t, arrays, what, path) for s, t in zip(items, template))
    return next((p for p in problems if p), None)


def _check_scaler(scaler, path):
    if scaler is None:
        return None
    if not (isinstance(scaler, dict) and set(scaler) == set(_LOSS_SCALER) and all(
            isinstance(v, (int, float)) for v in scaler.values())):
        raise ModelFileError(f"checkpoint {path}: the AMP loss scaler's state is malformed; "
                             f"resume from an earlier checkpoint")
    return scaler


def _assign_optimizer(trainer, plan):
    optimizer = trainer._optimizer
    # Settings before the KVStore starts: a distributed one sends the optimizer
    # to its servers then.
    optimizer.__dict__.update(plan.settings)
    optimizer._all_index_update_counts = plan.counts
    optimizer._index_update_count = plan.counts[0]
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    updaters = trainer._updaters
    if trainer._update_on_kvstore:
        # A distributed store's servers keep their own; the plan holds no states then.
        updater = getattr(trainer._kvstore, "_updater", None)
        updaters = [updater] if updater is not None else []
    for updater in updaters:
        # One copy per updater; each moves its copy to its device on first use.
        updater.states = {i: _decode_state(s, plan.arrays) for i, s in plan.states.items()}
        updater.states_synced = dict.fromkeys(updater.states, False)
    scaler = getattr(trainer, "_amp_loss_scaler", None)
    if scaler is not None and plan.scaler is not None:
        for key, value in plan.scaler.items():
            setattr(scaler, key, value)


# ---------------------------------------------------------------------- RNG

def _rng_section():
    """Python's and numpy's global RNG states as JSON and arrays."""
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    section = {"python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
               "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss),
                         "cached_gaussian": float(cached)}}
    return section, {"numpy_keys": np.asarray(keys, dtype=np.uint32)}


def _plan_rng(section, arrays, path):
    """The ``(python, numpy)`` RNG states, each tried on a private generator first."""
    try:
        py, npy = section["python"], section["numpy"]
        keys = arrays["numpy_keys"]
        if keys.dtype != np.uint32 or keys.shape != (624,):
            raise ValueError(f"numpy's key is {keys.dtype} {keys.shape}, not uint32 (624,)")
        py_state = (py["version"], tuple(py["state"]), py["gauss_next"])
        np_state = (npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
        random.Random().setstate(py_state)
        np.random.RandomState().set_state(np_state)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"checkpoint {path}: its RNG state is malformed ({exc}); resume "
                             f"from an earlier checkpoint") from exc
    return py_state, np_state
