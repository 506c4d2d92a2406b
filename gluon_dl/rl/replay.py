"""Experience replay: a fixed-size ring buffer of transitions.

Mnih et al. 2015 ("Human-level control through deep reinforcement
learning") sample minibatches uniformly from the last N transitions, which
breaks the correlation between consecutive updates.  Defined for the lesson
on deep Q-networks.
"""
import numpy as np

from ..errors import ArgumentError


class ReplayBuffer:
    """Uniform replay over the most recent ``capacity`` transitions.

    Transitions are stored in preallocated numpy arrays; once full, each new
    transition overwrites the oldest one.

    Parameters
    ----------
    capacity : int
    observation_shape : tuple of int
    seed : int, optional
        Seeds :meth:`sample`.
    """

    def __init__(self, capacity, observation_shape, seed=None):
        if capacity < 1:
            raise ArgumentError(f"ReplayBuffer capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.states = np.zeros((capacity,) + tuple(observation_shape), dtype=np.float32)
        self.next_states = np.zeros_like(self.states)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)
        self._next = 0
        self._size = 0
        self._rng = np.random.RandomState(seed)

    def __len__(self):
        return self._size

    def add(self, state, action, reward, next_state, done):
        """Store one transition.

        ``done`` is true only when the episode *terminated*: a time-limit
        truncation still bootstraps from ``next_state``.
        """
        i = self._next
        self.states[i] = state
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_states[i] = next_state
        self.dones[i] = float(done)
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def sample(self, batch_size):
        """A uniform minibatch (with replacement) of stored transitions.

        Returns
        -------
        tuple of numpy.ndarray
            ``(states, actions, rewards, next_states, dones)``, each with
            ``batch_size`` rows.
        """
        if self._size == 0:
            raise ArgumentError("cannot sample from an empty ReplayBuffer; add transitions first")
        idx = self._rng.randint(0, self._size, size=batch_size)
        return (self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx],
                self.dones[idx])
