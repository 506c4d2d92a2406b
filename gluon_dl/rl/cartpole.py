"""CartPole-v1 in pure numpy: the classic control task, no gym needed.

The dynamics, constants, initial-state distribution, reward and termination
are those of OpenAI Gym's ``CartPole-v1`` (Barto, Sutton & Anderson 1983,
"Neuronlike adaptive elements that can solve difficult learning control
problems"), integrated with Gym's default explicit Euler scheme:

* state ``(x, x_dot, theta, theta_dot)``, reset uniformly in ``[-0.05, 0.05]``;
* action 0 pushes the cart left with 10 N, action 1 pushes it right;
* reward 1 for every step, the terminating step included;
* *terminated* when ``|x| > 2.4`` or ``|theta| > 12 degrees``;
* *truncated* after 500 steps (v1's time limit).

Gym calls v1 solved at an average return of at least :data:`SOLVED_RETURN`
(475) over 100 consecutive episodes; v0 used 195 with a 200-step cap.

Defined for the lesson on deep Q-networks.
"""
import dataclasses
import math

import numpy as np

from ..errors import ArgumentError

SOLVED_RETURN = 475.0
"""CartPole-v1's solved threshold: mean return over 100 consecutive episodes."""
SOLVED_WINDOW = 100


@dataclasses.dataclass(frozen=True)
class CartPoleParams:
    """Physical constants of CartPole-v1 (Gym's names and values)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds between state updates
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_episode_steps: int = 500

    @property
    def total_mass(self):
        return self.masspole + self.masscart

    @property
    def polemass_length(self):
        return self.masspole * self.length


def cartpole_step(state, action, params=CartPoleParams()):
    """One Euler step of the cart-pole equations of motion.

    Works on one state of shape ``(4,)`` or a batch ``(N, 4)`` with actions
    of shape ``(N,)``.

    Returns
    -------
    next_state : numpy.ndarray, float64, same shape as ``state``
    terminated : bool or numpy.ndarray of bool
        The cart left the track or the pole fell past 12 degrees.
    """
    state = np.asarray(state, dtype=np.float64)
    x, x_dot, theta, theta_dot = np.moveaxis(state, -1, 0)
    force = np.where(np.asarray(action) == 1, params.force_mag, -params.force_mag)
    costheta, sintheta = np.cos(theta), np.sin(theta)
    temp = (force + params.polemass_length * theta_dot ** 2 * sintheta) / params.total_mass
    thetaacc = (params.gravity * sintheta - costheta * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * costheta ** 2 / params.total_mass))
    xacc = temp - params.polemass_length * thetaacc * costheta / params.total_mass
    nxt = np.stack([x + params.tau * x_dot, x_dot + params.tau * xacc,
                    theta + params.tau * theta_dot, theta_dot + params.tau * thetaacc], axis=-1)
    terminated = ((np.abs(nxt[..., 0]) > params.x_threshold)
                  | (np.abs(nxt[..., 2]) > params.theta_threshold_radians))
    return nxt, terminated


class CartPole:
    """One CartPole-v1 episode at a time, with Gymnasium's API.

    ``reset(seed) -> (obs, info)`` and
    ``step(action) -> (obs, reward, terminated, truncated, info)``.
    Observations are float32 ``(x, x_dot, theta, theta_dot)``.

    Parameters
    ----------
    params : CartPoleParams
    seed : int, optional
        Seeds the initial-state generator; ``reset(seed=...)`` reseeds it.
    """

    observation_shape = (4,)
    num_actions = 2

    def __init__(self, params=CartPoleParams(), seed=None):
        self.params = params
        self._rng = np.random.RandomState(seed)
        self.state = None
        self.steps = 0
        self._done = True

    def reset(self, seed=None):
        if seed is not None:
            self._rng = np.random.RandomState(seed)
        self.state = self._rng.uniform(-0.05, 0.05, size=4)
        self.steps = 0
        self._done = False
        return self.state.astype(np.float32), {}

    def step(self, action):
        if self._done:
            raise ArgumentError("CartPole.step() called on a finished episode; call reset() first")
        if action not in (0, 1):
            raise ArgumentError(f"CartPole actions are 0 (left) and 1 (right), got {action!r}")
        self.state, terminated = cartpole_step(self.state, action, self.params)
        self.steps += 1
        terminated = bool(terminated)
        truncated = not terminated and self.steps >= self.params.max_episode_steps
        self._done = terminated or truncated
        return self.state.astype(np.float32), 1.0, terminated, truncated, {}


class VectorCartPole:
    """``num_envs`` CartPoles run side by side, each for exactly one episode.

    Used to evaluate a policy over many episodes with one batched forward
    pass per time step instead of one per environment.

    Parameters
    ----------
    num_envs : int
    params : CartPoleParams
    """

    observation_shape = (4,)
    num_actions = 2

    def __init__(self, num_envs, params=CartPoleParams()):
        self.num_envs = num_envs
        self.params = params

    def run_episodes(self, policy, seed=0, initial_states=None):
        """Play one episode in every environment.

        Parameters
        ----------
        policy : callable
            Maps observations ``(N, 4)`` float32 to actions ``(N,)``.
        seed : int
            Seeds the initial states.
        initial_states : numpy.ndarray, optional
            ``(num_envs, 4)`` states to start from instead of random ones.

        Returns
        -------
        numpy.ndarray of float, shape (num_envs,)
            The return of each episode.
        """
        if initial_states is None:
            state = np.random.RandomState(seed).uniform(-0.05, 0.05, size=(self.num_envs, 4))
        else:
            state = np.array(initial_states, dtype=np.float64).reshape(self.num_envs, 4)
        alive = np.ones(self.num_envs, dtype=bool)
        returns = np.zeros(self.num_envs)
        for _ in range(self.params.max_episode_steps):
            actions = np.asarray(policy(state.astype(np.float32)))
            nxt, terminated = cartpole_step(state, actions, self.params)
            returns += alive
            state = np.where(alive[:, None], nxt, state)
            alive &= ~terminated
            if not alive.any():
                break
        return returns
