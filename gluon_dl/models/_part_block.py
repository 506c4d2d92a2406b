"""The block a model part is returned as (:func:`gluon_dl.models.get_part`)."""
from mxnet.gluon import nn


class ModelPart(nn.HybridBlock):
    """A registered part: ``body`` (blocks of the whole model) behind its own config.

    Parameters
    ----------
    body : mxnet.gluon.HybridBlock
        The computation; its parameters are the model's own.
    config : ModelConfig
        What the part takes (``config.inputs``) and its name ``"<model>.<part>"``.
    """

    def __init__(self, body, config):
        super().__init__(prefix="")
        self.body = body
        self.config = config

    def hybrid_forward(self, F, *inputs):
        return self.body(*inputs)
