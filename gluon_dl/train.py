"""``gluon-dl train``: train a registered model on a registered data set it fits.

One call, :func:`run_train`, does what the command does::

    gluon-dl train lenet5 --data digits --epochs 5 --out runs/lenet5-digits
    gluon-dl train gru_lm --data python-docs --epochs 10

Three kinds of pairs train (:func:`check_model_and_data` refuses the rest,
naming what pairs with what): image classifiers on labelled image sets;
the MLP family's classifiers (``softmax_regression``, ``mlp``, which flatten
whatever they get) on tabular sets (``iris``, ``wine``, ``breast-cancer``);
and language models (task ``language-model``) on text corpora, the sets
that load as one text (``python-docs`` offline, ``time-machine``,
``wikitext-2``).

A tabular model's config becomes the table's: input ``(features,)`` in
layout ``NC``, each feature standardized by the training split's mean and
standard deviation (``config.mean``/``config.std``, so exporters and the
edge runtime standardize the same way), the set's class names as labels.

A corpus is cleaned and tokenized into characters as the course's RNN
lessons do (:func:`gluon_dl.data.load_data_lm`); the vocabulary is built on the
training split and written as ``vocab.json`` (:meth:`gluon_dl.data.Vocab.to_dict`),
and the model's config gets it as its labels.  The model reads windows of
its configured length (``config.input_shape``), drawn at random offsets
every epoch, and is validated on the ``valid`` split when the set has one,
else on ``test``; ``--limit N`` keeps the first N tokens of each.  The logs
add ``perplexity`` and ``val_perplexity`` (``exp`` of the losses).

The data set's images reach the model through
:func:`gluon_dl.data.transforms.to_model_input`: scaled to the model's input
range, resized bilinearly when their size differs from the model's (digits
of 8x8 into LeNet-5's 28x28, say; the log says so) and normalized.  A
channel count that differs from the model's is refused unless
``convert_channels`` (``--convert-channels``) asks for the conversion
(gray repeated into RGB, RGB to gray by luminance): it changes what the
model sees, so it is never done silently.

The output folder (``runs/<model>-<data>`` by default) follows
:mod:`gluon_dl.utils.outdir`: it is built in a staging folder beside it and
published with a manifest, a folder gluon-dl did not write is refused and an
earlier run's folder is replaced only with ``overwrite``.  It holds:

``train.json``
    The settings, how many epochs are done, the best epoch and the model's
    configuration (``ModelConfig.to_dict()``, with the data set's labels).
``history.csv``, ``history.json``, ``curves.png``
    Loss and accuracy (or perplexity) per epoch, training and validation.
``vocab.json``
    Language models only: the vocabulary, token ids to tokens.
``checkpoints/``
    ``ckpt-<step>.ckpt`` after each of the last two epochs and ``best.ckpt``
    (lowest ``val_loss``), resumable by :func:`gluon_dl.training.fit`.
``<model>.params``
    The final parameters (``net.load_parameters``), once every epoch is done.

Resuming (``resume=True``) continues the run published in the folder: its
latest checkpoint is read from the published folder, its checkpoints and
history are copied into the new staging folder, and the folder published at
the end holds the whole, continued run.  Training is deterministic given
the seed (``fit(seed=...)`` and an :class:`~gluon_dl.data.ArrayLoader`
whose order is a function of seed and epoch), so a run stopped after epoch
1 of 2 and resumed ends with the parameters of an uninterrupted run,
bit for bit on the same CPU contexts.  An interrupted run (Ctrl-C, or
SIGTERM from a job scheduler or ``gluon-dl launch``) publishes the epochs it
finished before it stops, so there is something to resume; a run killed by
SIGKILL loses its staged work, and the next run sweeps it away.
"""
import contextlib
import dataclasses
import functools
import json
import math
import numbers
import os
import re
import shutil
import signal
import threading
from pathlib import Path
from typing import Optional

from .errors import ArgumentError, ModelFileError
from .utils import safejson
from .utils.io import atomic_output_path, atomic_write_text
from .utils.outdir import check_output_dir, read_manifest, staged_output

RECORD = "train.json"
RECORD_FORMAT = "gluon-dl-train/1"
CHECKPOINTS = "checkpoints"
KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync", "dist_async",
            "horovod")
#: Settings that change the numbers: a resumed run must use the earlier run's.
SAME_ON_RESUME = ("model", "data", "seed", "batch_size", "lr", "limit", "convert_channels",
                  "amp")
_CTX = re.compile(r"(cpu|gpu)(?::(\d+))?\Z")
LM_TASK = "language-model"
_CORPORA = ("text corpora, the text sets that load as one text (python-docs offline; "
            "time-machine and wikitext-2 from their files)")
VOCAB = "vocab.json"

__all__ = ["KVSTORES", "TrainResult", "TrainSettings", "check_model_and_data", "default_out",
           "image_classifiers", "language_models", "load_image_data", "load_tabular_data",
           "load_text_data", "parse_contexts", "plot_curves", "tabular_classifiers",
           "tabular_config",
           "prepare_images", "read_earlier_run", "resolve_settings", "run_train"]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What a ``gluon-dl train`` run trains, and how.

    Parameters
    ----------
    model : str
        A registered image classifier, MLP-family classifier or language model
        (:func:`gluon_dl.models.list_models`).
    data : str
        A registered data set the model trains on (:func:`gluon_dl.data.list_datasets`):
        a labelled image set, a tabular set, or a text corpus for a language model.
    epochs : int
        Epochs in all, >= 1 (a resumed run counts the earlier ones).
    batch_size : int
        Samples per step (over all devices and workers), >= 1.
    lr : float
        Adam's learning rate, positive and finite.
    seed : int
        Seeds the initial weights, the data order and MXNet's RNG, >= 0.
    limit : int, optional
        Train on the first ``limit`` samples of the training split and validate
        on ``limit`` samples of the test split (a fixed, stratified choice);
        for a language model, on the first ``limit`` tokens of each.
    convert_channels : bool
        Convert images whose channel count differs from the model's.
    amp : {None, "float16", "bfloat16"}
        Mixed precision (see :func:`gluon_dl.training.fit`).

    Raises
    ------
    ArgumentError
        A value out of range; the message names the option.
    """

    model: str
    data: str
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    limit: Optional[int] = None
    convert_channels: bool = False
    amp: Optional[str] = None

    def __post_init__(self):
        _whole("--epochs", self.epochs, 1)
        _whole("--batch-size", self.batch_size, 1)
        _whole("--seed", self.seed, 0, high=2 ** 32 - 1)
        if self.limit is not None:
            _whole("--limit", self.limit, 1)
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real) \
                or not math.isfinite(self.lr) or self.lr <= 0:
            raise ArgumentError(f"--lr must be a positive finite number, got {self.lr!r}; "
                                f"e.g. 1e-3 (Adam)")
        if self.amp not in (None, "float16", "bfloat16"):
            raise ArgumentError(f"--amp must be float16 or bfloat16, got {self.amp!r}")
        if not isinstance(self.convert_channels, bool):
            raise ArgumentError(f"convert_channels must be True or False, got "
                                f"{self.convert_channels!r}")


@dataclasses.dataclass
class TrainResult:
    """What :func:`run_train` did: where the files are and the best epochs."""

    out_dir: Optional[Path]
    settings: TrainSettings
    epochs_done: int
    history: dict
    best: dict
    files: dict
    interrupted: bool = False


def default_out(model, data):
    """The default output folder, ``runs/<model>-<data>``."""
    return Path("runs") / f"{model}-{data}"


def run_train(out, model, data, *, epochs=None, batch_size=None, lr=None, seed=None,
              limit=None, convert_channels=None, amp=None, ctx="cpu", kvstore="device",
              overwrite=False, resume=False, progress=True, log=print, callbacks=None):
    """Train ``model`` on ``data`` and publish the run in ``out``.

    Parameters
    ----------
    out : str or Path
        Output folder (see the module's description).
    model, data, epochs, batch_size, lr, seed, limit, convert_channels, amp :
        As in :class:`TrainSettings`; None takes the default, or with
        ``resume`` the earlier run's value.
    ctx : str
        Devices, ``"cpu"``, ``"cpu:0,cpu:1"`` or ``"gpu:0,gpu:1"`` (see
        :func:`parse_contexts`).
    kvstore : str
        One of :data:`KVSTORES`; ``dist_*`` stores run under ``gluon-dl launch``
        (every worker trains its shard of each batch, worker 0 writes ``out``),
        ``horovod`` under ``horovodrun``.
    overwrite : bool
        Replace an earlier gluon-dl run's results in ``out``.
    resume : bool
        Continue the ``train`` run published in ``out`` from its latest checkpoint.
    progress : bool
        Show a progress bar.
    log : callable
        Receives the lines to print.
    callbacks : list of Callback, optional
        More callbacks for :func:`gluon_dl.training.fit`.

    Returns
    -------
    TrainResult

    Raises
    ------
    UnknownNameError
        An unknown model or data set (with the close matches).
    ArgumentError
        A bad option, a model that is no image classifier, a data set that is
        no labelled image set, channels that differ without
        ``convert_channels``, or a resume that contradicts the earlier run.
    DataError
        The data set's files are missing or malformed.
    OutputExistsError
        ``out`` may not be written (see :mod:`gluon_dl.utils.outdir`).
    KeyboardInterrupt
        Interrupted (Ctrl-C or SIGTERM), after the finished epochs were published.
    """
    given = {"model": model, "data": data, "epochs": epochs, "batch_size": batch_size,
             "lr": lr, "seed": seed, "limit": limit, "convert_channels": convert_channels,
             "amp": amp}
    earlier = read_earlier_run(out) if resume else None
    settings = resolve_settings(given, earlier, out)
    config, info = check_model_and_data(settings.model, settings.data)
    if (config.task == LM_TASK or info.kind == "tabular") and settings.convert_channels:
        raise ArgumentError(f"--convert-channels converts images; '{settings.model}' trains "
                            f"on the {info.kind} set '{info.name}', drop the option")
    ctxs = parse_contexts(ctx)
    _check_devices(ctxs, kvstore, settings.amp)
    if earlier is None:
        check_output_dir(out, overwrite)  # before any slow work
    plan = _Plan(settings, ctxs, _workers(kvstore))
    load = load_text_data if config.task == LM_TASK else \
        load_tabular_data if info.kind == "tabular" else load_image_data
    data = load(settings, config, info, log if plan.rank == 0 else _quiet)
    if plan.rank != 0:  # other workers train their shards and write nothing
        _train(plan, data, None, earlier, progress=False, callbacks=callbacks)
        return TrainResult(None, settings, settings.epochs, {}, {}, {})
    details = {"settings": dataclasses.asdict(settings), "ctx": [str(c) for c in ctxs],
               "kvstore": kvstore}
    with _sigterm_as_interrupt(), \
            staged_output(out, "train", overwrite=overwrite or resume, details=details) as staged:
        result = _train(plan, data, staged.path, earlier, progress, callbacks)
    result.out_dir = staged.target
    result.files = {k: staged.published(v) for k, v in result.files.items()}
    if result.interrupted:
        log(f"interrupted after epoch {result.epochs_done} of {settings.epochs}: the finished "
            f"epochs are in {staged.target}; run the same command with --resume to continue")
        raise KeyboardInterrupt
    return result


def parse_contexts(text):
    """MXNet contexts of ``"cpu"``, ``"gpu:1"``, ``"cpu:0,cpu:1"`` or ``"gpu:0,gpu:1"``.

    Raises
    ------
    ArgumentError
        Bad syntax, repeated or mixed devices, or a GPU that this MXNet
        cannot see (a CPU build, or too few GPUs).
    """
    import mxnet as mx

    items = [t.strip() for t in str(text).split(",")]
    parsed = [_CTX.match(t) for t in items]
    if not items or not all(parsed):
        bad = next((t for t, m in zip(items, parsed) if not m), text)
        raise ArgumentError(f"--ctx {text}: '{bad}' is no device; write cpu, cpu:0, gpu:0 or "
                            f"a comma-separated list such as gpu:0,gpu:1")
    devices = [(m.group(1), int(m.group(2) or 0)) for m in parsed]
    if len(set(devices)) != len(devices) or len({kind for kind, _ in devices}) > 1:
        raise ArgumentError(f"--ctx {text}: list each device once and of one kind, e.g. "
                            f"cpu:0,cpu:1 or gpu:0,gpu:1")
    gpus = [i for kind, i in devices if kind == "gpu"]
    if gpus:
        _check_gpus(text, gpus)
    return [mx.gpu(i) if kind == "gpu" else mx.cpu(i) for kind, i in devices]


def read_earlier_run(out):
    """The record (``train.json``) of the ``train`` run published in ``out``, checked.

    Raises
    ------
    ArgumentError
        ``out`` holds no earlier train run, or no checkpoint to continue from.
    OutputExistsError
        ``out`` holds files gluon-dl did not write, or changed ones.
    ModelFileError
        Its ``train.json`` is not a record gluon-dl wrote.
    """
    from .training import latest_checkpoint

    target = check_output_dir(out, overwrite=True)
    manifest = read_manifest(target) if target.is_dir() else None
    if manifest is None:
        raise ArgumentError(f"--resume: nothing to resume in {out}, which holds no earlier "
                            f"gluon-dl train run; drop --resume to start one")
    if manifest["command"] != "train":
        raise ArgumentError(f"--resume: {out} holds a gluon-dl {manifest['command']} run, not "
                            f"a train run; drop --resume and choose another --out")
    record = _read_record(target / RECORD)
    record["checkpoint"] = latest_checkpoint(target / CHECKPOINTS)
    if record["checkpoint"] is None or record["epochs_done"] < 1:
        raise ArgumentError(f"--resume: the run in {out} finished no epoch, so there is no "
                            f"checkpoint to continue from; drop --resume and use --overwrite")
    record["folder"] = target
    return record


def resolve_settings(given, earlier, out):
    """:class:`TrainSettings` from the options given (None: not given) and an earlier run.

    Without an earlier run, options not given take their defaults.  When
    resuming, they take the earlier run's values, a value given that differs
    in :data:`SAME_ON_RESUME` is refused naming both, and ``epochs`` must
    exceed the epochs already done.
    """
    from .data import dataset_info

    given = dict(given, data=dataset_info(given["data"]).name)  # fashion_mnist: fashion-mnist
    if earlier is None:
        return TrainSettings(**{k: v for k, v in given.items() if v is not None})
    recorded = earlier["settings"]
    for key in SAME_ON_RESUME:
        if given.get(key) is not None and given[key] != recorded[key]:
            raise ArgumentError(f"--resume: the run in {out} used {_option(key)} "
                                f"{recorded[key]!r}, this command asks for {given[key]!r}; "
                                f"pass the same value, or drop --resume and choose another "
                                f"--out to start a new run")
    merged = {**recorded, **{k: v for k, v in given.items() if v is not None}}
    settings = TrainSettings(**merged)
    if settings.epochs <= earlier["epochs_done"]:
        raise ArgumentError(f"--resume: the run in {out} has done {earlier['epochs_done']} "
                            f"epoch(s) of {settings.epochs}; pass --epochs N with N > "
                            f"{earlier['epochs_done']} to train further")
    return settings


def check_model_and_data(model, data):
    """The model's config and the data set's info, refused unless they can train together.

    Image classifiers train on labelled image sets with a test split,
    language models on text sets (which must load as one text: checked when
    they are read, by :func:`load_text_data`).

    Raises
    ------
    UnknownNameError
        For an unknown model or data set.
    ArgumentError
        A model of another task, or a data set that does not pair with the
        model; the message names what pairs with what.
    """
    from .data import dataset_info
    from .models import get_config

    config = get_config(model)
    info = dataset_info(data)
    if info.kind == "tabular" and model in tabular_classifiers():
        return config, info
    if config is None or not (_is_image_classifier(config) or config.task == LM_TASK):
        what = (f"has task '{config.task}' and input layout {config.layout}"
                if config is not None else "has no config")
        raise ArgumentError(f"model '{model}' {what}; gluon-dl train trains {_pairs()} "
                            f"(`gluon-dl models` lists every model)")
    if config.task == LM_TASK:
        if info.kind != "text":
            raise ArgumentError(f"data set '{info.name}' is a{_an(info.kind)} {info.kind} set "
                                f"but '{model}' is a language model; it trains on "
                                f"{_CORPORA}")
    elif info.kind != "image" or not info.classes or "test" not in info.splits:
        what = f"a{_an(info.kind)} {info.kind} set" if info.kind != "image" else \
            "no labelled image set with a test split"
        tabular = (f"; tabular sets train {', '.join(tabular_classifiers())}"
                   if info.kind == "tabular" else "")
        raise ArgumentError(f"data set '{info.name}' is {what}; image classifiers such as "
                            f"'{model}' train on labelled image sets: "
                            f"{', '.join(_sets('image'))}{tabular} (gluon-dl train trains "
                            f"{_pairs()})")
    return config, info


def image_classifiers():
    """Names of the registered image classifiers, which ``gluon-dl train`` trains on images."""
    from .models import get_config, list_models
    return [n for n in list_models() if _is_image_classifier(get_config(n))]


def tabular_classifiers():
    """The MLP family's classifiers (they flatten any input), which train on tabular sets."""
    from .models import get_config
    from .models.basics import basics_spec
    return [n for n in basics_spec if get_config(n).task == "classification"]


def language_models():
    """Names of the registered language models, which ``gluon-dl train`` trains on text."""
    from .models import get_config, list_models
    return [n for n in list_models() if getattr(get_config(n), "task", None) == LM_TASK]


def load_tabular_data(settings, config, info, log=print):
    """``(X_train, y_train, X_test, y_test)`` of a tabular set, limited like images.

    Raises
    ------
    DataError
        The set's files are missing or malformed.
    """
    from .data import load_dataset, train_test_split

    X, y = load_dataset(info.name, "train")
    X_test, y_test = load_dataset(info.name, "test")
    if settings.limit is not None:
        X, y = X[:settings.limit], y[:settings.limit]
        if settings.limit < len(X_test):
            _, X_test, _, y_test = train_test_split(X_test, y_test, settings.limit, seed=0)
    log(f"data: {info.name}, {len(X)} training and {len(X_test)} test rows of {X.shape[1]} "
        f"features, standardized by the training rows, for {config.name}")
    return X, y, X_test, y_test


def tabular_config(config, X, classes):
    """``config`` made the table's: ``(features,)`` inputs, standardized, the set's labels."""
    std = X.std(axis=0)
    return config.replace(input_shape=(X.shape[1],), layout="NC",
                          mean=tuple(float(m) for m in X.mean(axis=0)),
                          std=tuple(float(v) if v > 0 else 1.0 for v in std),
                          input_range=(float(X.min()), float(X.max())), num_classes=len(classes),
                          labels=tuple(classes), reference_params=None)


def load_text_data(settings, config, info, log=print):
    """``(train_corpus, val_corpus, vocab)`` of a text corpus, tokenized as the course does.

    Characters, as in the course's RNN lessons; validated on the ``valid``
    split when the set has one (WikiText-2), else on ``test``.

    Raises
    ------
    DataError
        The set's files are missing or malformed.
    ArgumentError
        The set does not load as one text (sentence pairs, labelled reviews),
        or is too short for one batch of the model's windows.
    """
    from .data import load_dataset
    from .data.text import LMLoader, lm_corpus

    token, val_split = _text_plan(info)
    texts = [load_dataset(info.name, split) for split in ("train", val_split)]
    for text in texts:
        if not isinstance(text, str):
            raise ArgumentError(f"data set '{info.name}' loads as {type(text).__name__} (not "
                                f"one text), so language models cannot train on it; they "
                                f"train on {_CORPORA}")
    train, vocab = lm_corpus(texts[0], token, settings.limit)
    val, _ = lm_corpus(texts[1], token, settings.limit, vocab)
    num_steps = config.input_shape[0]
    for corpus in (train, val):  # refuse a corpus too short for one batch now, not mid-run
        LMLoader(corpus, settings.batch_size, num_steps, random=corpus is train,
                 offset=None if corpus is train else 0)
    log(f"data: {info.name}, {len(train)} training and {len(val)} {val_split} {token} tokens, "
        f"a vocabulary of {len(vocab)}, windows of {num_steps} for {config.name}")
    return train, val, vocab


def load_image_data(settings, config, info, log=print):
    """``(X_train, y_train, X_test, y_test)`` of the data set, limited and checked.

    Raises
    ------
    DataError
        The set's files are missing or malformed.
    ArgumentError
        Its channels differ from the model's and ``convert_channels`` is off.
    """
    from .data import load_dataset, train_test_split

    X, y = load_dataset(info.name, "train")
    X_test, y_test = load_dataset(info.name, "test")
    if settings.limit is not None:
        X, y = X[:settings.limit], y[:settings.limit]
        if settings.limit < len(X_test):
            # A stratified choice: test splits may be sorted by class (mnist-5k's is).
            _, X_test, _, y_test = train_test_split(X_test, y_test, settings.limit, seed=0)
    channels, height, width = _image_shape(X)
    want_c, want_h, want_w = _config_image_shape(config)
    note = ""
    if channels != want_c:
        if not settings.convert_channels:
            raise ArgumentError(
                f"data set '{info.name}' has {channels}-channel images but model "
                f"'{config.name}' takes {want_c}; pass --convert-channels to convert them "
                f"({_conversion(channels, want_c)}), or choose a {channels}-channel model")
        note += f", {_conversion(channels, want_c)}"
    if (height, width) != (want_h, want_w):
        note += f", resized to {want_h}x{want_w}"
    log(f"data: {info.name}, {len(X)} training and {len(X_test)} test images of "
        f"{height}x{width}x{channels}{note} for {config.name}")
    return X, y, X_test, y_test


def prepare_images(images, config, convert_channels=False):
    """One batch of raw images as ``config``'s input: channels converted, resized, normalized."""
    from .data.transforms import scale_to_range, to_channels, to_model_input

    if convert_channels:
        images = to_channels(scale_to_range(images, config), _config_image_shape(config)[0])
    return to_model_input(images, config, resize=True)


# ---------------------------------------------------------------- training

@dataclasses.dataclass(frozen=True)
class _Plan:
    settings: TrainSettings
    ctxs: list
    workers: tuple  # (kvstore for fit, number of workers, this worker's rank)

    @property
    def rank(self):
        return self.workers[2]


def _finished_epochs():
    """A callback recording each epoch once its checkpoint is written.

    It runs last, after :class:`ModelCheckpoint` (callbacks that run last keep
    their order), so an epoch it holds can be resumed after.
    """
    from .training.callbacks import Callback

    class FinishedEpochs(Callback):
        runs_last = True

        def __init__(self):
            self.history = {}
            self.epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v))
            self.epochs += 1

    return FinishedEpochs()


def _train(plan, data, stage, earlier, progress, callbacks):
    """Build the model, fit it and (with a ``stage``) write the run's files there."""
    import mxnet as mx

    from .data import ArrayLoader, dataset_info
    from .models import get_config, get_model
    from .training import CSVLogger, GradientClipping, ModelCheckpoint, fit

    s = plan.settings
    info = dataset_info(s.data)
    mx.random.seed(s.seed)
    if get_config(s.model).task == LM_TASK:
        vocab = data[2]
        net = get_model(s.model, vocab_size=len(vocab))
        net.config = net.config.replace(labels=tuple(vocab.idx_to_token))
        train_iter, test_iter = _lm_loaders(data, net.config, plan)
        # the course clips an RNN's gradients to a norm of 1 (exploding gradients)
        task_callbacks = [_perplexity_logs(), GradientClipping(1.0)]
    else:
        net = get_model(s.model, num_classes=len(info.classes))
        net.config = net.config.replace(labels=tuple(info.classes))
        if info.kind == "tabular":
            net.config = tabular_config(net.config, data[0], info.classes)
        train_iter, test_iter = _loaders(ArrayLoader, data, net.config, plan)
        task_callbacks = []
    done_before = earlier["epochs_done"] if earlier else 0
    finished, extra, previous = _finished_epochs(), list(task_callbacks), {}
    if stage is not None:
        previous = _carry_over(earlier, stage, done_before)
        checkpoint = ModelCheckpoint(stage / CHECKPOINTS, keep_last=2)
        checkpoint.best = min(previous.get("val_loss", []), default=None)
        extra += [CSVLogger(stage / "history.csv"), checkpoint, finished]
        if len(data) == 3:
            atomic_write_text(stage / VOCAB, json.dumps(data[2].to_dict()) + "\n")
    kv, workers, _ = plan.workers
    interrupted = False
    try:
        fit(net, train_iter, s.epochs, lr=s.lr, ctx=plan.ctxs, kvstore=kv,
            update_on_kvstore=False if workers > 1 else None, val_iter=test_iter,
            callbacks=list(callbacks or []) + extra, progress=progress, seed=s.seed,
            resume_from=earlier["checkpoint"] if earlier else None, amp=s.amp)
    except KeyboardInterrupt:
        if stage is None or finished.epochs == 0:
            raise  # nothing new to publish: the earlier folder stays as it was
        interrupted = True
    if stage is None:
        return None
    history = _joined(previous, finished.history, done_before)
    return _write_results(stage, net, s, history, done_before + finished.epochs, interrupted)


def _loaders(ArrayLoader, data, config, plan):
    X, y, X_test, y_test = data
    s = plan.settings
    transform = config.normalize if config.layout == "NC" else functools.partial(
        prepare_images, config=config, convert_channels=s.convert_channels)
    _, workers, rank = plan.workers
    train_iter = ArrayLoader(X, y, s.batch_size, shuffle=True, seed=s.seed, transform=transform,
                             num_shards=workers, shard=rank,
                             last_batch="discard" if workers > 1 else "keep")
    test_iter = ArrayLoader(X_test, y_test, max(s.batch_size, 256), transform=transform)
    return train_iter, test_iter


def _lm_loaders(data, config, plan):
    from .data import LMLoader

    train, val, _ = data
    s, (_, workers, rank) = plan.settings, plan.workers
    num_steps = config.input_shape[0]
    return (LMLoader(train, s.batch_size, num_steps, random=True, seed=s.seed,
                     num_shards=workers, shard=rank),
            LMLoader(val, s.batch_size, num_steps, random=False, offset=0))


def _perplexity_logs():
    """A callback logging ``perplexity`` and ``val_perplexity``, ``exp`` of the losses."""
    from .training.callbacks import Callback

    class PerplexityLogs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            for key in ("loss", "val_loss"):
                if logs is not None and key in logs:
                    logs[key.replace("loss", "perplexity")] = math.exp(min(logs[key], 700.0))

    return PerplexityLogs()


def _carry_over(earlier, stage, done_before):
    """Copy an earlier run's checkpoints and CSV log into ``stage``; returns its history."""
    if earlier is None:
        return {}
    from .training import ModelCheckpoint

    folder = earlier["folder"]
    (stage / CHECKPOINTS).mkdir()
    for path in sorted((folder / CHECKPOINTS).iterdir()):
        if (ModelCheckpoint.PATTERN.match(path.name) or path.name == "best.ckpt") \
                and path.is_file() and not path.is_symlink():
            shutil.copyfile(path, stage / CHECKPOINTS / path.name)
    if (folder / "history.csv").is_file():
        shutil.copyfile(folder / "history.csv", stage / "history.csv")
    return {k: v[:done_before] for k, v in earlier["history"].items()}


def _joined(previous, new, done_before):
    keys = list(dict.fromkeys(list(previous) + list(new)))
    return {k: previous.get(k, [math.nan] * done_before) + new.get(k, []) for k in keys}


def _write_results(stage, net, settings, history, epochs_done, interrupted):
    """Write history, curves, final parameters and ``train.json`` into ``stage``."""
    files = {"checkpoints": stage / CHECKPOINTS, "history_csv": stage / "history.csv"}
    payload = {"epoch": list(range(len(history.get("loss", []))))}
    payload.update(history)
    files["history_json"] = atomic_write_text(
        stage / "history.json", json.dumps(_finite(payload), indent=1) + "\n")
    if (stage / VOCAB).is_file():
        files["vocab"] = stage / VOCAB
    files["curves"] = plot_curves(history, stage / "curves.png",
                                  f"{settings.model} on {settings.data}")
    if not interrupted:
        files["params"] = stage / f"{settings.model}.params"
        with atomic_output_path(files["params"]) as tmp:
            net.save_parameters(str(tmp))
    best = best_epochs(history)
    record = {"format": RECORD_FORMAT, "settings": dataclasses.asdict(settings),
              "epochs_done": epochs_done,
              "status": "interrupted" if interrupted else "complete", "best": best,
              "config": net.config.to_dict(),
              "files": {k: str(Path(v).relative_to(stage)) for k, v in files.items()}}
    files["record"] = atomic_write_text(stage / RECORD, json.dumps(_finite(record), indent=1)
                                        + "\n")
    return TrainResult(stage, settings, epochs_done, history, best, files, interrupted)


def best_epochs(history):
    """``{"val_acc": (value, epoch), "val_loss": (value, epoch)}`` of the best epochs (1-based)."""
    best = {}
    for key, pick in (("val_acc", max), ("val_loss", min), ("val_perplexity", min),
                      ("acc", max), ("loss", min), ("perplexity", min)):
        values = [(v, i + 1) for i, v in enumerate(history.get(key, [])) if math.isfinite(v)]
        if values:
            value = pick(v for v, _ in values)
            best[key] = {"value": value, "epoch": next(i for v, i in values if v == value)}
    return best


def plot_curves(history, path, title):
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    from .plot import plot_history

    return plot_history(history, path, title=title)


# ---------------------------------------------------------------- checks

def _whole(option, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ArgumentError(f"{option} must be a whole number {bound}, got {value!r}")


def _option(key):
    return {"convert_channels": "--convert-channels", "model": "model",
            "data": "--data"}.get(key, "--" + key.replace("_", "-"))


def _pairs():
    """What trains on what, for error messages."""
    return (f"image classifiers (such as {', '.join(image_classifiers()[:3])}) on labelled "
            f"image sets ({', '.join(_sets('image'))}), {', '.join(tabular_classifiers())} "
            f"also on tabular sets ({', '.join(_sets('tabular'))}), and language models "
            f"({', '.join(language_models()[:3])}...) on {_CORPORA}")


def _sets(kind):
    """Registered sets of ``kind``."""
    from .data import dataset_info, list_datasets
    return [n for n in list_datasets() if dataset_info(n).kind == kind]


def _an(word):
    return "n" if word[:1] in "aeiou" else ""


def _text_plan(info):
    """``(token, validation split)`` of a corpus: characters, as the course's RNN lessons."""
    return "char", "valid" if "valid" in info.splits else "test"


def _is_image_classifier(config):
    return (config is not None and config.task == "classification" and config.takes_floats
            and len(config.layout) == 4 and set(config.layout) == set("NCHW")
            and not config.extra_inputs)


def _config_image_shape(config):
    sample = dict(zip(config.layout[1:], config.input_shape))
    return sample["C"], sample["H"], sample["W"]


def _image_shape(X):
    """``(channels, height, width)`` of a data set's (N, H, W[, C]) images."""
    return (X.shape[3] if X.ndim == 4 else 1), X.shape[1], X.shape[2]


def _conversion(have, want):
    if have == 1:
        return f"gray repeated into {want} channels"
    return "RGB to gray by luminance" if (have, want) == (3, 1) else f"{have} to {want} channels"


def _check_gpus(text, gpus):
    from .devices import num_gpus

    available = num_gpus()
    if available == 0:
        raise ArgumentError(f"--ctx {text}: this MXNet sees no GPU (a CPU build, or no CUDA "
                            f"device); install the 'gpu' extra (mxnet-cu112) on a machine "
                            f"with a GPU, or train with --ctx cpu")
    if max(gpus) >= available:
        raise ArgumentError(f"--ctx {text}: gpu:{max(gpus)} does not exist, this machine has "
                            f"{available} GPU(s): gpu:0..gpu:{available - 1}")


def _check_devices(ctxs, kvstore, amp):
    from .training.amp import check_amp

    if kvstore not in KVSTORES:
        raise ArgumentError(f"--kvstore {kvstore!r} is not one of {', '.join(KVSTORES)}")
    if kvstore == "nccl" and any(c.device_type != "gpu" for c in ctxs):
        raise ArgumentError("--kvstore nccl reduces gradients between GPUs; pass --ctx "
                            "gpu:0,gpu:1 or use --kvstore device")
    check_amp(amp, ctxs)


def _workers(kvstore):
    """``(kvstore for fit, number of workers, this worker's rank)``."""
    if kvstore.startswith("dist_"):
        if os.environ.get("DMLC_ROLE") != "worker":
            raise ArgumentError(f"--kvstore {kvstore} trains on a parameter-server job; start "
                                f"it with gluon-dl launch -n WORKERS -- gluon-dl train ...")
        import mxnet as mx
        kv = mx.kv.create(kvstore)
        return kv, kv.num_workers, kv.rank
    if kvstore == "horovod":
        from .training._distributed import HOROVOD_INSTALL
        from .utils.deps import require
        hvd = require("horovod.mxnet", "horovod", "--kvstore horovod", install=HOROVOD_INSTALL)
        hvd.init()
        return "horovod", hvd.size(), hvd.rank()
    return kvstore, 1, 0


def _read_record(path):
    """The ``train.json`` of an earlier run, with its history, checked field by field."""
    try:
        record = safejson.loads(path.read_text(encoding="utf-8"))
        history = safejson.loads((path.parent / "history.json").read_text(encoding="utf-8"))
        settings = TrainSettings(**record["settings"])
        done = record["epochs_done"]
        ok = (record["format"] == RECORD_FORMAT and type(done) is int and done >= 0
              and isinstance(history, dict)
              and all(isinstance(v, list) and all(isinstance(x, (int, float)) or x is None
                                                  for x in v) for v in history.values()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"--resume: {path} is not the record of a gluon-dl train run "
                             f"({exc}); drop --resume and choose another --out") from exc
    if not ok:
        raise ModelFileError(f"--resume: {path} is not the record of a gluon-dl train run; "
                             f"drop --resume and choose another --out")
    history.pop("epoch", None)
    history = {k: [math.nan if x is None else float(x) for x in v] for k, v in history.items()}
    return {"settings": dataclasses.asdict(settings), "epochs_done": done, "history": history}


def _finite(value):
    """``value`` with NaN and Inf as None, so the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _quiet(*args, **kwargs):
    pass


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt while training, so the finished epochs are published."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
