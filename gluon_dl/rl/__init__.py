"""Reinforcement learning for the course: CartPole in numpy and deep Q-learning."""
from .cartpole import (SOLVED_RETURN, SOLVED_WINDOW, CartPole, CartPoleParams, VectorCartPole,
                       cartpole_step)
from .dqn_agent import (DQNAgent, LinearDecay, greedy_policy, make_target_network, sync_target,
                        td_targets, train_dqn)
from .replay import ReplayBuffer

__all__ = ["SOLVED_RETURN", "SOLVED_WINDOW", "CartPole", "CartPoleParams", "DQNAgent",
           "LinearDecay", "ReplayBuffer", "VectorCartPole", "cartpole_step", "greedy_policy",
           "make_target_network", "sync_target", "td_targets", "train_dqn"]
