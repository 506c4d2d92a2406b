"""Checkpoints: data-only members, validation before assignment, exact resume of fresh networks."""
import functools
import io
import json
import os
import pickle
import random
import tempfile
import zipfile

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl.data import ArrayLoader, to_model_input  # noqa: E402
from gluon_dl.errors import (ArgumentError, ModelFileError, NonFiniteError,  # noqa: E402
                             OutputExistsError)
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import (Callback, CallbackList, CSVLogger, EarlyStopping,  # noqa: E402
                               GradientClipping, LearningRateScheduler, ModelCheckpoint, Monitor,
                               fit, latest_checkpoint, load_checkpoint, save_checkpoint)
from gluon_dl.training.loop import FitState  # noqa: E402

MEMBERS = {"meta.json", "params.npz", "optimizer.json", "optimizer.npz", "rng.json", "rng.npz"}


# ------------------------------------------------------------------ helpers

class _Elementwise(gluon.HybridBlock):
    """Elementwise layers only: they run in float16 on CPU (float16 Dense needs cuDNN)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.scale = self.params.get("scale", shape=(5,))
            self.shift = self.params.get("shift", shape=(5,))

    def hybrid_forward(self, F, x, scale, shift):
        return F.broadcast_add(F.broadcast_mul(x, scale), shift)


def _mlp(seed=0, dtype="float32"):
    mx.random.seed(seed)
    if dtype == "float16":
        net = _Elementwise()
        net.initialize(mx.init.Uniform(0.5))
    else:
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(3))
        net.initialize(mx.init.Xavier())
        net(mx.nd.zeros((1, 5)))
    net.cast(dtype)
    return net


def _batches(n=3, dtype="float32"):
    rng = np.random.RandomState(0)
    targets = (lambda: rng.randn(4, 5)) if dtype == "float16" else (lambda: rng.randint(0, 3, 4))
    return [(mx.nd.array(rng.randn(4, 5), dtype=dtype), mx.nd.array(targets(), dtype=dtype))
            for _ in range(n)]


def _train(net, trainer, batches):
    fp16 = batches[0][0].dtype == np.float16
    loss = gluon.loss.L2Loss() if fp16 else gluon.loss.SoftmaxCrossEntropyLoss()
    for X, y in batches:
        with autograd.record():
            out = loss(net(X), y)
        out.backward()
        trainer.step(X.shape[0])


def _trained(optimizer="adam", params=None, dtype="float32", steps=3):
    net = _mlp(dtype=dtype)
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            dict({"learning_rate": 0.01}, **(params or {})))
    _train(net, trainer, _batches(steps, dtype))
    return net, trainer


def _params(net):
    return {k: p.list_data()[0].asnumpy() for k, p in net._collect_params_with_prefix().items()}


def _flat(state):
    if state is None:
        return [None]
    if isinstance(state, (tuple, list)):
        return [a for s in state for a in _flat(s)]
    return [state.asnumpy()]


def _states(trainer, net):
    """The optimizer states by structural parameter name.

    Trainer indices follow the parameters' sorted global names, so two networks
    built in one process ("dense9_", "dense10_") can number them differently.
    """
    updater = trainer._kvstore._updater if trainer._update_on_kvstore else trainer._updaters[0]
    index = {id(p): i for i, p in enumerate(trainer._params)}
    return {name: _flat(updater.states.get(index[id(p)]))
            for name, p in net._collect_params_with_prefix().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], list):
            assert len(a[k]) == len(b[k])
            for x, y in zip(a[k], b[k]):
                assert (x is None and y is None) or np.array_equal(x, y), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _save(path, net, trainer, step=3):
    return save_checkpoint(path, net, trainer, FitState(num_epochs=1, global_step=step, batch=2))


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(path, **replace):
    """Write ``path`` again with some members replaced (``params_npz=...`` for ``params.npz``)."""
    members = _members(path)
    for key, data in replace.items():
        name = key.replace("_", ".", 1) if "." not in key else key
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npz(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _read_npz(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# ------------------------------------------------------------- data only

def test_members_are_json_and_npz_without_pickle(tmp_path):
    net, trainer = _trained("adam")
    path = _save(tmp_path / "a.ckpt", net, trainer)
    members = _members(path)
    assert set(members) == MEMBERS
    meta = json.loads(members["meta.json"])
    assert meta["format"] == "gluon-dl-checkpoint-2"
    for name in ("params.npz", "optimizer.npz", "rng.npz"):
        assert all(a.dtype != object for a in _read_npz(members[name]).values())
    optimizer = json.loads(members["optimizer.json"])
    assert optimizer["optimizer"] == "adam"
    assert optimizer["settings"]["lr"] == 0.01 and optimizer["settings"]["beta1"] == 0.9
    assert optimizer["settings"]["num_update"] == 3
    # States and counts are keyed by structural name, not trainer index.
    assert set(optimizer["states"]) == set(net._collect_params_with_prefix())
    assert optimizer["update_counts"]["0"] == {k: 3 for k in optimizer["states"]}
    assert optimizer["states"]["0.weight"] == {"tuple": [
        {"array": "state:0.weight#0", "stype": "default"},
        {"array": "state:0.weight#1", "stype": "default"}]}


@pytest.mark.parametrize("optimizer, params, dtype", [
    ("sgd", {}, "float32"),
    ("sgd", {"momentum": 0.9, "wd": 1e-3}, "float32"),
    ("sgd", {"momentum": 0.9, "multi_precision": True}, "float16"),
    ("adam", {"clip_gradient": 0.5}, "float32"),
    ("adam", {"multi_precision": True}, "float16"),
    ("rmsprop", {"centered": True}, "float32"),
], ids=["sgd", "sgd-momentum", "sgd-fp16-master", "adam", "adam-fp16-master", "rmsprop"])
def test_loaded_optimizer_continues_bit_identically(tmp_path, optimizer, params, dtype):
    """States (None, arrays, nested master weights), counts and settings all come back."""
    net, trainer = _trained(optimizer, params, dtype)
    path = _save(tmp_path / "a.ckpt", net, trainer)
    other = _mlp(seed=5, dtype=dtype)
    other_trainer = gluon.Trainer(other.collect_params(), optimizer, {"learning_rate": 0.5})
    load_checkpoint(path, other, other_trainer)
    _assert_same(_states(other_trainer, other), _states(trainer, net))
    assert other_trainer.learning_rate == 0.01
    more = _batches(5, dtype)[3:]
    _train(net, trainer, more)
    _train(other, other_trainer, more)
    _assert_same(_params(other), _params(net))
    assert other_trainer.optimizer.num_update == trainer.optimizer.num_update == 5


def test_rng_states_come_back(tmp_path):
    net, trainer = _trained()
    random.seed(3)
    np.random.seed(4)
    path = _save(tmp_path / "a.ckpt", net, trainer)
    expected = (random.random(), np.random.rand(), np.random.randn())
    random.seed(99)
    np.random.seed(99)
    load_checkpoint(path, _mlp(), None)
    assert (random.random(), np.random.rand(), np.random.randn()) == expected


class _Marker:
    """Unpickling it would create a file: proof that a pickle was (not) read."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("fmt", ["gluon-dl-checkpoint-1", "gluon-dl-checkpoint-2"])
def test_old_pickled_format_is_refused_unread(tmp_path, fmt):
    marker = tmp_path / "unpickled"
    path = tmp_path / "old.ckpt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": fmt, "epoch": 0, "batch": 0,
                                             "global_step": 1}))
        zf.writestr("params.npz", _npz({"param:0.weight": np.zeros((8, 5), "float32")}))
        zf.writestr("optimizer.states", pickle.dumps(_Marker(str(marker))))
        zf.writestr("rng.pickle", pickle.dumps(_Marker(str(marker))))
    net = _mlp()
    before = _params(net)
    with pytest.raises(ModelFileError, match="old-format checkpoint.*pickled.*re-train"):
        load_checkpoint(path, net)
    assert not marker.exists()
    _assert_same(_params(net), before)


def test_object_arrays_are_refused(tmp_path):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    params = _read_npz(_members(path)["params.npz"])
    params["param:0.bias"] = np.array([{"x": 1}] * 8, dtype=object)
    _rewrite(path, params_npz=_npz(params))
    with pytest.raises(ModelFileError, match="not a readable gluon-dl checkpoint.*allow_pickle"):
        load_checkpoint(path, _mlp())


# ------------------------------------------------- validate, then assign

def _break_shape(members):
    params = _read_npz(members["params.npz"])
    params["param:1.weight"] = np.zeros((3, 9), "float32")
    return {"params_npz": _npz(params)}


def _drop_param(members):
    params = _read_npz(members["params.npz"])
    del params["param:1.bias"]
    return {"params_npz": _npz(params)}


def _nan_param(members):
    params = _read_npz(members["params.npz"])
    params["param:1.bias"][0] = np.nan
    return {"params_npz": _npz(params)}


def _break_state(members):
    states = _read_npz(members["optimizer.npz"])
    states["state:1.weight#1"] = np.zeros((3, 7), "float32")
    return {"optimizer_npz": _npz(states)}


def _foreign_count(members):
    section = json.loads(members["optimizer.json"])
    section["update_counts"]["0"]["9.weight"] = 1
    return {"optimizer_json": json.dumps(section)}


def _break_rng(members):
    section = json.loads(members["rng.json"])
    section["python"]["state"] = section["python"]["state"][:10]
    return {"rng_json": json.dumps(section)}


@pytest.mark.parametrize("damage, error, match", [
    (_break_shape, ModelFileError, r"parameter 1.weight has shape \(3, 9\), the network "
                                   r"expects \(3, 8\)"),
    (_drop_param, ModelFileError, r"lacks parameters \['1.bias'\]"),
    (_nan_param, NonFiniteError, "parameter 1.bias holds NaN or Inf"),
    (_break_state, ModelFileError, r"optimizer state of parameter 1.weight does not fit "
                                   r"optimizer 'adam'.*\(3, 7\)"),
    (_foreign_count, ModelFileError, "update counts"),
    (_break_rng, ModelFileError, "RNG state is malformed"),
], ids=["shape", "missing", "nan", "state-shape", "count-name", "rng"])
def test_a_failed_load_changes_nothing(tmp_path, damage, error, match):
    """Parameters, optimizer states and settings, learning rate and RNG stay bit-identical."""
    net, trainer = _trained("adam", steps=3)
    path = _save(tmp_path / "a.ckpt", net, trainer)
    _rewrite(path, **damage(_members(path)))
    other, other_trainer = _trained("adam", {"learning_rate": 0.2}, steps=2)
    other_trainer._optimizer.beta1 = 0.5
    params, states = _params(other), _states(other_trainer, other)
    counts = json.dumps(other_trainer.optimizer._all_index_update_counts)
    py_rng, np_rng = random.getstate(), np.random.get_state()
    with pytest.raises(error, match=match):
        load_checkpoint(path, other, other_trainer)
    _assert_same(_params(other), params)
    _assert_same(_states(other_trainer, other), states)
    assert json.dumps(other_trainer.optimizer._all_index_update_counts) == counts
    assert other_trainer.learning_rate == 0.2 and other_trainer.optimizer.beta1 == 0.5
    assert random.getstate() == py_rng
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_rng))


def test_missing_member_is_named(tmp_path):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    _rewrite(path, optimizer_npz=None)
    with pytest.raises(ModelFileError, match="not a readable gluon-dl checkpoint.*optimizer.npz"):
        load_checkpoint(path, _mlp(), None)


def _loader(n=128, batch=32):
    from gluon_dl.data import load_mnist, train_test_split

    X, y = load_mnist()
    X, _, y, _ = train_test_split(X, y, 1000, seed=0)
    tf = functools.partial(to_model_input, config=get_model("lenet5").config)
    return ArrayLoader(X[:n], y[:n], batch, shuffle=True, seed=1, transform=tf)


@pytest.mark.parametrize("member, text, match", [
    ("meta.json", "[" * 100000 + "]" * 100000, "not a readable gluon-dl checkpoint"),
    ("optimizer.json", "[" * 100000 + "]" * 100000, "not a readable gluon-dl checkpoint"),
    ("optimizer.json", {"lr": "fast"}, "optimizer setting 'lr' is 'fast'"),
    ("optimizer.json", {"lr": float("nan")}, "optimizer setting 'lr' is nan"),
    ("optimizer.json", {"beta1": True}, "optimizer setting 'beta1' is True"),
], ids=["deep-meta", "deep-optimizer", "lr-string", "lr-nan", "beta1-bool"])
def test_malformed_json_members_and_settings_are_refused(tmp_path, member, text, match):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    if isinstance(text, dict):  # settings merged into the stored optimizer section
        section = json.loads(_members(path)["optimizer.json"])
        section["settings"].update(text)
        text = json.dumps(section)
    _rewrite(path, **{member: text.encode()})
    other = _mlp(seed=5)
    other_trainer = gluon.Trainer(other.collect_params(), "adam", {"learning_rate": 0.5})
    before = other_trainer._optimizer.lr
    with pytest.raises(ModelFileError, match=match):
        load_checkpoint(path, other, other_trainer)
    assert other_trainer._optimizer.lr == before


def test_another_optimizer_than_the_checkpoints_is_named(tmp_path):
    loader = _loader(64)
    fit(get_model("lenet5"), loader, 1, optimizer="adam", progress=False,
        callbacks=[ModelCheckpoint(tmp_path)])
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    before = _params(net)
    with pytest.raises(ArgumentError, match=r"optimizer 'adam', but this trainer uses 'sgd'; "
                                            r"resume with optimizer='adam'.*without resume_from"):
        fit(net, loader, 2, optimizer="sgd", progress=False,
            resume_from=latest_checkpoint(tmp_path))
    _assert_same(_params(net), before)


def test_deferred_shape_that_does_not_fit_is_named(tmp_path):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    fresh = gluon.nn.HybridSequential()
    fresh.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(4))
    fresh.initialize()
    with pytest.raises(ModelFileError, match=r"1.weight has shape \(3, 8\), the network "
                                             r"expects \(4, 0\)"):
        load_checkpoint(path, fresh)
    assert all(layer.weight._data is None and layer.weight._deferred_init for layer in fresh)


# ------------------------------------------------- fresh networks resume

@pytest.mark.parametrize("init", ["deferred", "never"])
def test_load_into_a_network_without_shapes(tmp_path, init):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    fresh = gluon.nn.HybridSequential()
    fresh.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(3))
    if init == "deferred":
        fresh.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    load_checkpoint(path, fresh)
    _assert_same(_params(fresh), _params(net))
    X = _batches(1)[0][0]
    np.testing.assert_array_equal(fresh(X).asnumpy(), net(X).asnumpy())
    if init == "deferred":  # on every context it was deferred to
        assert fresh[0].weight.list_ctx() == [mx.cpu(0), mx.cpu(1)]
        np.testing.assert_array_equal(fresh[0].weight.data(mx.cpu(1)).asnumpy(),
                                      net[0].weight.data().asnumpy())


class _Stop(Callback):
    """Stops after global step ``at``; records where the trainer updates."""

    def __init__(self, at):
        self.at, self.on_kvstore = at, "unset"

    def on_batch_end(self, batch, logs=None):
        self.on_kvstore = self.trainer._update_on_kvstore
        if self.at and self.state.global_step == self.at:
            self.state.stop_training = True


@pytest.mark.parametrize("ctx, update_on_kvstore", [
    ([mx.cpu(0)], None),
    ([mx.cpu(0), mx.cpu(1)], True),
    ([mx.cpu(0), mx.cpu(1)], False),
], ids=["one-context", "two-contexts-kvstore-updates", "two-contexts-local-updates"])
def test_readme_resume_flow_on_a_fresh_network(tmp_path, ctx, update_on_kvstore):
    """``fit(get_model(...), ..., resume_from=latest_checkpoint(...))`` ends as if never stopped."""
    loader = _loader()

    def run(ckdir, stop_at=None):
        net = get_model("lenet5")  # deferred shapes: known after the first forward
        stop = _Stop(stop_at)
        fit(net, loader, 2, lr=1e-3, ctx=ctx, kvstore="device", seed=0, progress=False,
            update_on_kvstore=update_on_kvstore,
            callbacks=[ModelCheckpoint(ckdir, every_n_steps=3), stop],
            resume_from=latest_checkpoint(ckdir))
        assert stop.on_kvstore == update_on_kvstore
        return _params(net)

    full = run(tmp_path / "a")
    run(tmp_path / "b", stop_at=5)
    assert latest_checkpoint(tmp_path / "b").name == "ckpt-000000005.ckpt"  # saved on stopping
    _assert_same(run(tmp_path / "b"), full)


def test_resume_with_an_optimizer_lr_scheduler(tmp_path):
    """The trainer's own scheduler continues from the restored num_update."""
    loader = _loader(96)

    def run(ckdir, stop_at=None):
        sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.01)
        net = get_model("lenet5")
        fit(net, loader, 3, optimizer="sgd", seed=0, progress=False,
            optimizer_params={"learning_rate": 0.01, "lr_scheduler": sched, "momentum": 0.9},
            callbacks=[ModelCheckpoint(ckdir), _Stop(stop_at)],
            resume_from=latest_checkpoint(ckdir))
        return _params(net)

    full = run(tmp_path / "a")
    run(tmp_path / "b", stop_at=4)
    _assert_same(run(tmp_path / "b"), full)


# ------------------------------------------------------- distributed stores

def test_dist_kvstore_updates_cannot_be_checkpointed(tmp_path):
    from gluon_dl.training.checkpoint import check_trainer

    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    other = _mlp(seed=2)
    dist = gluon.Trainer(other.collect_params(), "adam", kvstore="dist_sync")
    before = _params(other)
    with pytest.raises(ArgumentError, match="update_on_kvstore=False"):
        check_trainer(dist)
    with pytest.raises(ArgumentError, match="lives on its servers.*update_on_kvstore=False"):
        load_checkpoint(path, other, dist)
    _assert_same(_params(other), before)
    assert not dist._kv_initialized
    local = gluon.Trainer(other.collect_params(), "adam", kvstore="dist_sync",
                          update_on_kvstore=False)
    check_trainer(local)


# ---------------------------------------------------------------- callbacks

def test_stale_temp_files_of_a_killed_save_are_removed(tmp_path):
    # What atomic_write leaves when a save is killed: ".<name>.<random>.tmp".
    fd, staged = tempfile.mkstemp(prefix=".ckpt-000000100.ckpt.", suffix=".tmp", dir=tmp_path)
    os.close(fd)
    fd, best = tempfile.mkstemp(prefix=".best.ckpt.", suffix=".tmp", dir=tmp_path)
    os.close(fd)
    kept = [".other.ckpt.abc123.tmp", "ckpt-000000100.ckpt.abc123.tmp", ".ckpt-1.ckpt.tmp",
            ".ckpt-000000100.ckpt.abc123.tmp.bak", "notes.tmp", ".best.ckpt"]
    for name in kept:
        (tmp_path / name).write_text("not ours")
    (tmp_path / ".ckpt-000000005.ckpt.dir.tmp").mkdir()
    fit(get_model("lenet5"), _loader(32), 1, progress=False,
        callbacks=[ModelCheckpoint(tmp_path, monitor="loss")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert os.path.basename(staged) not in names and os.path.basename(best) not in names
    assert names == sorted(kept + [".ckpt-000000005.ckpt.dir.tmp", "best.ckpt",
                                   "ckpt-000000001.ckpt"])


def test_a_new_run_leaves_another_runs_checkpoints_alone(tmp_path):
    """Rotation would delete the new run's own checkpoints; best.ckpt would be replaced."""
    def run(resume_from=None):
        fit(get_model("lenet5"), _loader(64), 1, progress=False, resume_from=resume_from,
            callbacks=[ModelCheckpoint(tmp_path, keep_last=1, monitor="loss")])

    run()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["best.ckpt", "ckpt-000000002.ckpt"]
    with pytest.raises(OutputExistsError, match="ckpt-000000002.ckpt of another run"):
        run()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (tmp_path / "ckpt-000000002.ckpt").unlink()  # best.ckpt alone is another run's too
    with pytest.raises(OutputExistsError, match="best.ckpt of another run"):
        run()
    assert (tmp_path / "best.ckpt").read_bytes() == before["best.ckpt"]


def test_the_run_a_folder_belongs_to_resumes_in_it(tmp_path):
    fit(get_model("lenet5"), _loader(64), 1, progress=False,
        callbacks=[ModelCheckpoint(tmp_path, monitor="loss")])
    fit(get_model("lenet5"), _loader(64), 2, progress=False,
        resume_from=latest_checkpoint(tmp_path),
        callbacks=[ModelCheckpoint(tmp_path, monitor="loss")])
    assert latest_checkpoint(tmp_path).name == "ckpt-000000004.ckpt"


def test_monitors_default_to_val_loss():
    for monitor in (Monitor(), EarlyStopping(), ModelCheckpoint("unused")):
        assert monitor.monitor == "val_loss" and monitor.mode == "min"


def test_early_stopping_waits_while_val_loss_falls():
    class FakeVal(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"], logs["val_acc"] = 1.0 / (epoch + 1), 0.5

    stop = EarlyStopping(patience=1)
    hist = fit(get_model("lenet5"), _loader(32), 4, callbacks=[FakeVal(), stop], progress=False)
    assert len(hist.history["loss"]) == 4 and stop.stopped_epoch is None


@pytest.mark.parametrize("build, match", [
    (lambda: Monitor(mode="up"), "mode must be 'auto', 'min' or 'max'"),
    (lambda: Monitor(monitor=None), "monitor must be the name"),
    (lambda: EarlyStopping(patience=-1), "patience must be an integer >= 0"),
    (lambda: ModelCheckpoint("d", keep_last=0), "keep_last must be an integer >= 1"),
    (lambda: ModelCheckpoint("d", every_n_steps=0), "every_n_steps must be an integer >= 1"),
    (lambda: GradientClipping(0), "max_norm must be a positive number"),
    (lambda: GradientClipping("1"), "max_norm must be a positive number"),
    (lambda: LearningRateScheduler(0.1), "schedule must be callable"),
])
def test_callback_arguments_raise_argument_errors(build, match):
    with pytest.raises(ArgumentError, match=match):
        build()


def test_checkpoints_run_after_the_other_callbacks():
    ckpt, other = ModelCheckpoint("unused"), Callback()
    assert list(CallbackList([ckpt, None, other])) == [other, ckpt]


def test_csv_logger_does_not_overwrite_a_foreign_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,age\nada,36\n")
    with pytest.raises(OutputExistsError, match="people.csv exists and is not a log"):
        fit(get_model("lenet5"), _loader(32), 1, callbacks=[CSVLogger(path)], progress=False)
    assert path.read_text() == "name,age\nada,36\n"


def test_a_zip_bomb_is_refused_before_it_unpacks(tmp_path):
    net, trainer = _trained()
    path = _save(tmp_path / "a.ckpt", net, trainer)
    members = _members(path)
    members["params.npz"] = b"\0" * (64 << 20)  # deflates to ~64 KB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert path.stat().st_size < (1 << 20)
    with pytest.raises(ModelFileError, match=r"params\.npz would unpack to 67,108,864 bytes"):
        load_checkpoint(path, _mlp(), None)


def test_checkpoint_folder_that_cannot_be_made_fails_before_training(tmp_path):
    (tmp_path / "a_file").write_text("x")
    class CountSteps(Callback):
        steps = 0

        def on_batch_begin(self, batch, logs=None):
            CountSteps.steps += 1

    with pytest.raises(OutputExistsError, match="a_file"):
        fit(get_model("lenet5"), _loader(32), 1, progress=False,
            callbacks=[CountSteps(), ModelCheckpoint(tmp_path / "a_file" / "ckpt")])
    assert CountSteps.steps == 0
