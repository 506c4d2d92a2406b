"""CartPole dynamics, replay, epsilon schedule, target sync and a short DQN run."""
import math

import numpy as np
import pytest

from gluon_dl.errors import ArgumentError
from gluon_dl.rl import (CartPole, CartPoleParams, LinearDecay, ReplayBuffer, VectorCartPole,
                         cartpole_step)


def _classic_step(state, action):
    """CartPole's equations written out once more, scalar by scalar (Barto et al. 1983)."""
    x, x_dot, theta, theta_dot = state
    g, mc, mp, half_len, tau = 9.8, 1.0, 0.1, 0.5, 0.02
    force = 10.0 if action == 1 else -10.0
    temp = (force + mp * half_len * theta_dot ** 2 * math.sin(theta)) / (mc + mp)
    theta_acc = (g * math.sin(theta) - math.cos(theta) * temp) / (
        half_len * (4.0 / 3.0 - mp * math.cos(theta) ** 2 / (mc + mp)))
    x_acc = temp - mp * half_len * theta_acc * math.cos(theta) / (mc + mp)
    return [x + tau * x_dot, x_dot + tau * x_acc, theta + tau * theta_dot,
            theta_dot + tau * theta_acc]


# ------------------------------------------------------------- dynamics


def test_first_steps_from_rest_match_hand_computation():
    # upright at rest, push right: temp = 10/1.1, theta_acc = -(10/1.1) / (0.5 * 41/33)
    # = -600/41, x_acc = 10/1.1 + 0.05 * (600/41) / 1.1 = 400/41
    s1, done = cartpole_step(np.zeros(4), 1)
    np.testing.assert_allclose(s1, [0.0, 0.02 * 400 / 41, 0.0, -0.02 * 600 / 41], atol=1e-12)
    assert not done
    # still upright (theta = 0), push left: the accelerations flip sign, the
    # Euler step moves x and theta with the velocities of step 1
    s2, done = cartpole_step(s1, 0)
    np.testing.assert_allclose(s2, [0.02 * 8 / 41, 0.0, -0.02 * 12 / 41, 0.0], atol=1e-12)
    assert not done


def test_steps_from_tilted_states_match_the_classic_equations():
    rng = np.random.RandomState(0)
    states = rng.uniform(-0.15, 0.15, size=(6, 4))
    actions = np.array([0, 1, 1, 0, 1, 0])
    batched, _ = cartpole_step(states, actions)
    for state, action, got in zip(states, actions, batched):
        np.testing.assert_allclose(got, _classic_step(state, action), rtol=1e-12)
        np.testing.assert_allclose(cartpole_step(state, action)[0], got, rtol=1e-12)


@pytest.mark.parametrize("state,terminated", [
    ([2.39, 0.0, 0.0, 0.0], False), ([2.41, 0.0, 0.0, 0.0], True), ([-2.41, 0.0, 0.0, 0.0], True),
    ([0.0, 0.0, 0.20, 0.0], False), ([0.0, 0.0, 0.21, 0.0], True), ([0.0, 0.0, -0.21, 0.0], True)])
def test_termination_bounds(state, terminated):
    # tau = 0: the state does not move, so the bound itself is tested
    params = CartPoleParams(tau=0.0)
    assert bool(cartpole_step(np.array(state), 1, params)[1]) == terminated
    assert math.isclose(params.theta_threshold_radians, 12 * math.pi / 180)


def test_episode_rewards_termination_and_reset():
    env = CartPole()
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and np.all(np.abs(obs) <= 0.05)
    np.testing.assert_array_equal(obs, CartPole().reset(seed=3)[0])
    total, steps, terminated, truncated = 0.0, 0, False, False
    while not (terminated or truncated):  # always pushing right topples the pole
        _, reward, terminated, truncated, _ = env.step(1)
        total, steps = total + reward, steps + 1
    assert terminated and not truncated and total == steps and 5 < steps < 50
    with pytest.raises(ArgumentError, match="reset"):
        env.step(0)
    with pytest.raises(ArgumentError, match="actions"):
        env.reset()
        env.step(2)


def test_time_limit_truncates_without_terminating():
    env = CartPole(CartPoleParams(max_episode_steps=6))
    env.reset(seed=0)
    flags = [env.step(a)[2:4] for a in (1, 0, 1, 0, 1, 0)]
    assert flags[:-1] == [(False, False)] * 5 and flags[-1] == (False, True)
    assert CartPoleParams().max_episode_steps == 500


def test_vector_cartpole_matches_single_episodes():
    starts = np.random.RandomState(1).uniform(-0.05, 0.05, size=(5, 4))

    def lean_policy(obs):  # push towards the side the pole is falling to
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(int)

    returns = VectorCartPole(5).run_episodes(lean_policy, initial_states=starts)
    for start, got in zip(starts, returns):
        env = CartPole()
        env.reset()
        env.state = start.copy()
        obs, total, done = start.astype(np.float32), 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(lean_policy(obs[None])[0]))
            total, done = total + reward, terminated or truncated
        assert got == total
    assert returns.mean() > 100  # the lean policy balances far longer than random play


# --------------------------------------------------- replay, epsilon


def test_replay_buffer_overwrites_the_oldest_and_samples_stored_rows():
    buf = ReplayBuffer(4, (2,), seed=0)
    with pytest.raises(ArgumentError, match="empty"):
        buf.sample(1)
    for i in range(6):
        buf.add([i, -i], i % 2, float(i), [i + 1, 0], i == 5)
    assert len(buf) == 4
    np.testing.assert_array_equal(sorted(buf.rewards), [2, 3, 4, 5])  # 0 and 1 overwritten
    s, a, r, s2, d = buf.sample(64)
    assert s.shape == (64, 2) and a.shape == r.shape == d.shape == (64,)
    assert set(r) == {2.0, 3.0, 4.0, 5.0}
    np.testing.assert_array_equal(s[:, 0], r)
    np.testing.assert_array_equal(s2[:, 0], r + 1)
    np.testing.assert_array_equal(a, r % 2)
    np.testing.assert_array_equal(d, r == 5)
    again = ReplayBuffer(4, (2,), seed=0)
    for i in range(6):
        again.add([i, -i], i % 2, float(i), [i + 1, 0], i == 5)
    np.testing.assert_array_equal(again.sample(64)[2], r)


def test_linear_epsilon_schedule():
    eps = LinearDecay(1.0, 0.1, 100)
    assert [eps(0), eps(50), eps(100), eps(10 ** 6)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert all(eps(t) >= eps(t + 1) for t in range(120))
    with pytest.raises(ArgumentError, match="end"):
        LinearDecay(1.0, 1.5, 10)
    with pytest.raises(ArgumentError, match="steps"):
        LinearDecay(1.0, 0.1, -1)


# ------------------------------------------------------- DQN machinery


mx = pytest.importorskip("mxnet")


def _agent(seed=0, **kwargs):
    from gluon_dl.models import get_model
    from gluon_dl.rl import DQNAgent

    mx.random.seed(seed)
    return DQNAgent(get_model("dqn_mlp", hidden=(16,)), (4,), 2, seed=seed, **kwargs)


def _weights(block):
    return [p.data().asnumpy().copy() for p in block.collect_params().values()]


def test_target_sync_copies_the_online_weights():
    agent = _agent(batch_size=8)
    for online, target in zip(_weights(agent.net), _weights(agent.target)):
        np.testing.assert_array_equal(online, target)
    rng = np.random.RandomState(0)
    for _ in range(20):
        agent.buffer.add(rng.randn(4), rng.randint(2), 1.0, rng.randn(4), False)
    before = _weights(agent.target)
    agent.update()
    after_online = _weights(agent.net)
    for b, t, o in zip(before, _weights(agent.target), after_online):
        np.testing.assert_array_equal(b, t)  # the target stays put while training
    assert any(not np.array_equal(b, o) for b, o in zip(before, after_online))
    agent.sync_target(tau=0.5)
    for b, t, o in zip(before, _weights(agent.target), after_online):
        np.testing.assert_allclose(t, 0.5 * (b + o), rtol=1e-6, atol=1e-7)
    agent.sync_target()
    for t, o in zip(_weights(agent.target), after_online):
        np.testing.assert_array_equal(t, o)


def test_td_targets_dqn_and_double_dqn():
    from gluon_dl.rl import td_targets

    q_target = mx.nd.array([[1.0, 3.0], [2.0, 0.5]])
    q_online = mx.nd.array([[5.0, 0.0], [0.0, 5.0]])  # online prefers the other action
    r, done = mx.nd.array([1.0, 1.0]), mx.nd.array([0.0, 1.0])
    np.testing.assert_allclose(td_targets(q_target, r, done, 0.9).asnumpy(), [1 + 0.9 * 3, 1])
    np.testing.assert_allclose(td_targets(q_target, r, done, 0.9, q_online).asnumpy(),
                               [1 + 0.9 * 1, 1])


def test_epsilon_greedy_acting():
    agent = _agent()
    obs = np.zeros(4, np.float32)
    greedy = int(agent.net(mx.nd.array(obs[None])).asnumpy().argmax())
    assert {agent.act(obs, 0.0) for _ in range(20)} == {greedy}
    assert {agent.act(obs, 1.0) for _ in range(50)} == {0, 1}


def test_short_dqn_run_beats_the_random_policy():
    from gluon_dl.models import get_model
    from gluon_dl.rl import greedy_policy, train_dqn

    mx.random.seed(0)
    net = get_model("dqn_mlp")
    history = train_dqn(CartPole(), net, 1000, lr=1e-3, learning_starts=200, train_every=1,
                        target_update=100, epsilon=LinearDecay(1.0, 0.05, 1000), seed=0,
                        max_steps=2000)
    evaluator = VectorCartPole(50)
    rng = np.random.RandomState(0)
    random_return = evaluator.run_episodes(lambda o: rng.randint(2, size=len(o)), seed=7).mean()
    trained_return = evaluator.run_episodes(greedy_policy(net), seed=7).mean()
    assert 2000 <= history["steps"] < 2500 and history["updates"] == history["steps"] - 199
    assert len(history["returns"]) < 1000
    assert 15 < random_return < 35
    assert trained_return > 3 * random_return, (trained_return, random_return)
