"""Deep Q-network: an MLP that maps a state to one Q-value per action.

Mnih et al., "Human-level control through deep reinforcement learning",
Nature 2015.  The Atari network reads pixels with three convolutions; on
CartPole's four-number state a two-layer MLP plays the same role.  The
agent that trains it (replay, target network, epsilon-greedy) lives in
:mod:`gluon_dl.rl.dqn_agent`.  Lesson: deep Q-learning on CartPole.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model

CARTPOLE_CONFIG = ModelConfig(
    name="dqn_mlp",
    input_shape=(4,),
    layout="NC",
    input_range=(-2.4, 2.4),  # the cart's track; velocities are unbounded
    num_classes=2,
    labels=("push-left", "push-right"),
    task="reinforcement-learning",
    paper="Mnih et al. 2015, Human-level control through deep reinforcement learning",
    lesson="Deep Q-learning: DQN on CartPole",
)


class DQNMLP(nn.HybridBlock):
    """Q-network: ``hidden`` ReLU layers, then a linear layer of Q-values.

    Parameters
    ----------
    num_actions : int
        Number of discrete actions (one output each).
    hidden : tuple of int
        Widths of the hidden layers.
    """

    def __init__(self, num_actions=2, hidden=(128, 128), **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            for width in hidden:
                self.body.add(nn.Dense(width, activation="relu"))
            self.q_values = nn.Dense(num_actions)

    def hybrid_forward(self, F, x):
        return self.q_values(self.body(x))


@register_model(config=CARTPOLE_CONFIG)
def dqn_mlp(num_classes=2, hidden=(128, 128), config=None, **kwargs):
    """DQN for CartPole's 4-number state; ``num_classes`` is the number of actions."""
    return DQNMLP(num_actions=num_classes, hidden=hidden, **kwargs)
