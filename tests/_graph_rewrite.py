"""Shared by the tests of fit's training-graph rewrites (channel padding, pooling as mean)."""
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon


def build(make, shape):
    """An initialized ``make()`` and one seeded input of ``shape``, run once."""
    mx.random.seed(0)
    net = make()
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(0).randn(*shape))
    net(x)
    return net, x


def run(sym, net, x):
    """Outputs and gradients of ``sym`` (a graph of ``net``) on ``x``, with net's parameters."""
    block = gluon.SymbolBlock(sym, mx.sym.var("data"), params=net.collect_params())
    block.hybridize(static_alloc=True, static_shape=True)
    with autograd.record():
        out = block(x)
        loss = (out * out).sum()
    loss.backward()
    grads = {k: p.grad().asnumpy().copy() for k, p in net.collect_params().items()
             if p.grad_req != "null"}
    return out.asnumpy(), grads


def assert_same(sym, rewritten, net, x, rtol, atol, out_tol=None):
    """``rewritten`` computes ``sym``'s outputs and gradients on ``x`` (within tolerance)."""
    out, grads = run(sym, net, x)
    out_r, grads_r = run(rewritten, net, x)
    o_rtol, o_atol = out_tol or (rtol, atol)
    np.testing.assert_allclose(out_r, out, rtol=o_rtol, atol=o_atol)
    assert grads.keys() == grads_r.keys()
    for name in grads:
        np.testing.assert_allclose(grads_r[name], grads[name], rtol=rtol, atol=atol,
                                   err_msg=name)
