"""Deep Q-learning: epsilon-greedy acting, replay, a target network, Huber TD loss.

Mnih et al., "Human-level control through deep reinforcement learning",
Nature 2015; Double DQN from van Hasselt, Guez & Silver, "Deep
reinforcement learning with double Q-learning", AAAI 2016.  Defined for the
lesson on deep Q-learning (CartPole).
"""
import dataclasses
import time

import numpy as np

from ..errors import ArgumentError
from .replay import ReplayBuffer


@dataclasses.dataclass(frozen=True)
class LinearDecay:
    """Epsilon that falls linearly from ``start`` to ``end`` over ``steps`` steps.

    ``schedule(step)`` is ``start`` at step 0 and stays at ``end`` from step
    ``steps`` on.
    """

    start: float = 1.0
    end: float = 0.05
    steps: int = 10000

    def __post_init__(self):
        for field in ("start", "end"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise ArgumentError(f"LinearDecay.{field} must lie in [0, 1], got {value}")
        if self.steps < 0:
            raise ArgumentError(f"LinearDecay.steps must be non-negative, got {self.steps}")

    def __call__(self, step):
        if step >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.steps


def make_target_network(net, input_name="data"):
    """A copy of ``net`` with its own parameters (same names), synced to ``net``.

    The copy is a :class:`mxnet.gluon.SymbolBlock` built from ``net``'s graph,
    so it works for any hybridizable Q-network.  ``net`` must be initialized
    with known shapes (run one forward pass after a deferred initialization).
    """
    import mxnet as mx

    online = net.collect_params()
    pending = [name for name, p in online.items() if p._data is None]
    if pending:
        raise ArgumentError(f"make_target_network: parameters {pending} of the online network are "
                         f"not initialized yet; initialize it and run one forward pass first")
    data = mx.sym.var(input_name, dtype="float32")
    target = mx.gluon.SymbolBlock(net(data), data)
    for name, param in target.collect_params().items():
        param.shape = online[name].shape
        param.grad_req = "null"
    target.initialize(mx.init.Zero(), ctx=list(online.values())[0].list_ctx())
    sync_target(net, target)
    return target


def sync_target(online, target, tau=1.0):
    """Copy ``online``'s weights into ``target`` (Polyak-average them when ``tau < 1``).

    Parameters are matched by name; the target must come from
    :func:`make_target_network`.
    """
    src = online.collect_params()
    for name, param in target.collect_params().items():
        if name not in src:
            raise ArgumentError(f"target parameter '{name}' has no counterpart in the online "
                             f"network; build the target with make_target_network(net)")
        new = src[name].data()
        if tau < 1.0:
            new = tau * new + (1.0 - tau) * param.data()
        param.set_data(new)


def td_targets(q_next_target, rewards, dones, gamma, q_next_online=None, F=None):
    """Bootstrapped targets ``r + gamma * (1 - done) * Q_target(s', a')``.

    ``a'`` maximizes the target network's Q-values (DQN) or, when
    ``q_next_online`` is given, the online network's (Double DQN, which
    keeps the max from overestimating).  No gradient flows into the targets.
    """
    if F is None:
        import mxnet as mx
        F = mx.nd
    if q_next_online is None:
        q_next = F.max(q_next_target, axis=1)
    else:
        q_next = F.pick(q_next_target, F.argmax(q_next_online, axis=1), axis=1)
    return F.stop_gradient(rewards + gamma * (1.0 - dones) * q_next)


def _q_loss_block(online, obs_dim, gamma, double_dqn):
    from mxnet import gluon

    class QLoss(gluon.HybridBlock):
        """Huber TD loss of one packed replay batch, in one cached graph.

        Rows of ``batch`` are ``[s (obs_dim), a, r, s' (obs_dim), done]``;
        ``q_next_target`` is the target network's output on ``s'``.
        """

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.online = online
            self.huber = gluon.loss.HuberLoss(rho=1.0)

        def hybrid_forward(self, F, batch, q_next_target):
            d = obs_dim
            s, s2 = F.slice_axis(batch, 1, 0, d), F.slice_axis(batch, 1, d + 2, 2 * d + 2)
            a, r, done = (F.reshape(F.slice_axis(batch, 1, i, i + 1), shape=(-1,))
                          for i in (d, d + 1, 2 * d + 2))
            q_next_online = F.stop_gradient(self.online(s2)) if double_dqn else None
            y = td_targets(q_next_target, r, done, gamma, q_next_online, F=F)
            return self.huber(F.pick(self.online(s), a, axis=1), y)

    return QLoss(prefix="qloss_")


class DQNAgent:
    """The online Q-network, its target copy, replay memory and optimizer.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Q-network; initialized with Xavier when it is not yet.
    observation_shape : tuple of int
    num_actions : int
    gamma, lr, batch_size, buffer_size : see :func:`train_dqn`
    double_dqn : bool
    seed : int
        Seeds exploration and replay sampling.
    """

    def __init__(self, net, observation_shape, num_actions, *, gamma=0.99, lr=1e-3,
                 batch_size=64, buffer_size=50000, double_dqn=True, seed=0):
        import mxnet as mx
        from mxnet import gluon

        if any(p._data is None and not p._deferred_init for p in net.collect_params().values()):
            net.initialize(mx.init.Xavier())
        net.hybridize(static_alloc=True, static_shape=True)
        net(mx.nd.zeros((1,) + tuple(observation_shape)))  # completes deferred initialization
        self.net, self.num_actions, self.batch_size = net, num_actions, batch_size
        self.obs_dim = int(np.prod(observation_shape))
        self.target = make_target_network(net)
        self.target.hybridize(static_alloc=True, static_shape=True)
        self.loss_fn = _q_loss_block(net, self.obs_dim, gamma, double_dqn)
        self.loss_fn.hybridize(static_alloc=True, static_shape=True)
        self.trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
        self.buffer = ReplayBuffer(buffer_size, observation_shape, seed=seed)
        self.rng = np.random.RandomState(seed)

    def act(self, obs, epsilon):
        """Epsilon-greedy action; the network runs only when it exploits."""
        import mxnet as mx

        if self.rng.rand() < epsilon:
            return int(self.rng.randint(self.num_actions))
        return int(self.net(mx.nd.array(obs[None])).asnumpy()[0].argmax())

    def update(self):
        """One Adam step on a replay minibatch; returns the loss NDArray (per sample)."""
        import mxnet as mx
        from mxnet import autograd

        s, a, r, s2, done = self.buffer.sample(self.batch_size)
        packed = mx.nd.array(np.concatenate(
            [s.reshape(len(s), -1), a[:, None], r[:, None], s2.reshape(len(s), -1),
             done[:, None]], axis=1))
        q_next_target = self.target(mx.nd.slice_axis(packed, 1, self.obs_dim + 2,
                                                     2 * self.obs_dim + 2))
        with autograd.record():
            loss = self.loss_fn(packed, q_next_target)
        loss.backward()
        self.trainer.step(self.batch_size)
        return loss

    def sync_target(self, tau=1.0):
        sync_target(self.net, self.target, tau)


def greedy_policy(net):
    """``obs (N, d) -> actions (N,)``: the argmax of ``net``'s Q-values."""
    import mxnet as mx

    def policy(obs):
        return net(mx.nd.array(obs)).asnumpy().argmax(axis=1)
    return policy


def train_dqn(env, net, episodes, *, gamma=0.99, lr=1e-3, batch_size=64, buffer_size=50000,
              learning_starts=1000, train_every=1, target_update=500, epsilon=LinearDecay(),
              double_dqn=True, seed=0, max_steps=None, eval_env=None, eval_every=10,
              solved_return=None, stop_when_solved=True, verbose=False):
    """Train the Q-network ``net`` on ``env`` with deep Q-learning.

    Defined for the lesson on deep Q-learning.

    Parameters
    ----------
    env :
        Gymnasium-style environment (``reset(seed)``, ``step(action)``,
        ``observation_shape``, ``num_actions``), e.g.
        :class:`gluon_dl.rl.CartPole`.
    net : mxnet.gluon.HybridBlock
        Q-network mapping states to ``num_actions`` Q-values; initialized
        with Xavier when it is not yet.
    episodes : int
        Maximum number of training episodes.
    gamma : float
        Discount factor.
    lr, batch_size : float, int
        Adam learning rate and replay minibatch size.
    buffer_size, learning_starts : int
        Replay capacity; environment steps before the first update.
    train_every : int
        Environment steps per gradient step.
    target_update : int
        Gradient steps between hard target-network syncs.
    epsilon : callable
        Exploration rate as a function of the environment step.
    double_dqn : bool
        Use the Double DQN target.
    seed : int
        Seeds the environment, exploration and replay sampling.
    max_steps : int, optional
        Stop after the episode in which this many environment steps are reached.
    eval_env : VectorCartPole, optional
        When given, every ``eval_every`` episodes the greedy policy plays one
        episode in each of its environments (``history["eval"]``).
    solved_return : float, optional
        Mean greedy evaluation return that counts as solved (CartPole-v1:
        475 over 100 episodes); training stops there when
        ``stop_when_solved``.
    verbose : bool
        Print each evaluation.

    Returns
    -------
    dict
        ``returns`` and ``losses`` (mean TD loss) per episode, ``epsilon`` at
        each episode's end, ``eval`` as ``(episode, mean return)`` pairs,
        ``solved_episode`` (episodes trained when first solved, or None),
        ``steps``, ``updates`` and ``wall_time``.
    """
    import mxnet as mx

    start = time.time()
    agent = DQNAgent(net, env.observation_shape, env.num_actions, gamma=gamma, lr=lr,
                     batch_size=batch_size, buffer_size=buffer_size, double_dqn=double_dqn,
                     seed=seed)
    history = {"returns": [], "losses": [], "epsilon": [], "eval": [], "solved_episode": None}
    step = updates = 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        total, losses, done = 0.0, [], False
        while not done:
            action = agent.act(obs, epsilon(step))
            nxt, reward, terminated, truncated, _ = env.step(action)
            # a time-limit truncation is not a terminal state: keep bootstrapping
            agent.buffer.add(obs, action, reward, nxt, terminated)
            obs, total, done, step = nxt, total + reward, terminated or truncated, step + 1
            if step >= learning_starts and step % train_every == 0:
                losses.append(agent.update())
                updates += 1
                if updates % target_update == 0:
                    agent.sync_target()
        history["returns"].append(total)
        history["losses"].append(float(mx.nd.concat(*losses, dim=0).mean().asscalar())
                                 if losses else float("nan"))
        history["epsilon"].append(epsilon(step))
        if eval_env is not None and (episode + 1) % eval_every == 0:
            score = float(eval_env.run_episodes(greedy_policy(net), seed=seed + episode).mean())
            history["eval"].append((episode + 1, score))
            if verbose:
                print(f"episode {episode + 1:4d}  step {step:6d}  eps {epsilon(step):.3f}  "
                      f"train return {np.mean(history['returns'][-10:]):6.1f}  "
                      f"greedy eval {score:6.1f}", flush=True)
            if solved_return is not None and score >= solved_return:
                history["solved_episode"] = episode + 1
                if stop_when_solved:
                    break
        if max_steps is not None and step >= max_steps:
            break
    history.update(steps=step, updates=updates, wall_time=time.time() - start)
    return history
