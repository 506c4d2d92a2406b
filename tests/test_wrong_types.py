"""Public entry points given the wrong kind of value entirely raise the project's error."""
import numpy as np
import pytest

from gluon_dl.errors import ArgumentTypeError

pytest.importorskip("mxnet")


def _calls():
    from deploy.runtime import load
    from gluon_dl.data import list_datasets, load_dataset, load_mnist
    from gluon_dl.models import get_config, get_model, list_models
    from gluon_dl.training import load_checkpoint

    return [
        ("get_model(list)", lambda: get_model(["lenet5"]), "model name must be a str"),
        ("get_config(None)", lambda: get_config(None), "model name must be a str"),
        ("list_models(None)", lambda: list_models(None), "pattern must be a str"),
        ("list_datasets(3)", lambda: list_datasets(3), "pattern must be a str"),
        ("load_dataset(None)", lambda: load_dataset(None), "data set name must be a str"),
        ("load_mnist(5)", lambda: load_mnist(5), "MNIST file must be a file path"),
        ("load_checkpoint(None)", lambda: load_checkpoint(None, None),
         "checkpoint must be a file path"),
        ("runtime.load(None)", lambda: load(None), "model must be a file path"),
    ]


@pytest.mark.parametrize("index", range(len(_calls())), ids=[c[0] for c in _calls()])
def test_wrong_type_is_an_argument_type_error(index):
    _, call, match = _calls()[index]
    with pytest.raises(ArgumentTypeError, match=match):
        call()


def test_split_takes_python_lists():
    from gluon_dl.data import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split([[i, i] for i in range(10)], [0, 1] * 5, 2)
    assert X_tr.shape == (8, 2) and X_te.shape == (2, 2)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == [0] * 5 + [1] * 5
