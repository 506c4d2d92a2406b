"""MXNet int8 refuses, in one clear message, the models oneDNN cannot quantize."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

from deploy.export._common import sample_inputs  # noqa: E402
from deploy.quantize import quantize_mxnet  # noqa: E402
from gluon_dl.errors import ConversionError  # noqa: E402
from gluon_dl.models import get_config, get_model, list_models  # noqa: E402

UNCALIBRATABLE = [n for n in list_models()
                  if len(get_config(n).inputs) > 1 or not get_config(n).takes_floats]


@pytest.mark.parametrize("name", UNCALIBRATABLE)
def test_several_inputs_or_token_ids_are_refused(name):
    net = get_model(name)
    net.initialize()
    with pytest.raises(ConversionError, match="dynamic-range int8") as info:
        quantize_mxnet(net, np.zeros((2,) + tuple(net.config.input_shape), np.float32))
    assert name in str(info.value)


def test_recurrent_layer_is_refused_by_name():
    net = get_model("crnn")
    net.initialize()
    calib = sample_inputs(net.config.replace(input_shape=net.config.test_input_shape), n=2)[0]
    with pytest.raises(ConversionError, match=r"recurrent layer '\w+' \(operator RNN\)"):
        quantize_mxnet(net, calib)
