"""Deep Q-learning: a DQN learns to balance CartPole from rewards alone.

get_model("dqn_mlp") maps CartPole's 4-number state to a Q-value per action; the agent
of gluon_dl.rl acts epsilon-greedily, learns from a replay buffer against a target
network (Double DQN, Huber TD loss) and is evaluated greedily on 100 fresh episodes.
CartPole-v1 is simulated in numpy (gluon_dl.rl.CartPole): no gym, no data to download.
Quick run: python examples/27_dqn.py --quick --out /tmp/dqn

Lesson: 27. Deep Q-learning
"""
import numpy as np
from matplotlib.figure import Figure

from gluon_dl import get_model
from gluon_dl.lesson import Lesson, run
from gluon_dl.rl import (SOLVED_RETURN, CartPole, LinearDecay, VectorCartPole, greedy_policy,
                         train_dqn)


def returns_plot(history, random_return):
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(history["returns"]) + 1), history["returns"], alpha=0.4,
            label="training episode (explores)")
    if history["eval"]:
        ax.plot(*zip(*history["eval"]), "o-", label="greedy policy, mean of 100 episodes")
    ax.axhline(random_return, color="gray", ls="--", label="random policy")
    ax.axhline(SOLVED_RETURN, color="green", ls=":", label="CartPole-v1 solved (475)")
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    ax.legend(fontsize=8)
    return fig


def main():
    lesson = Lesson(__doc__)
    seed = lesson.args.seed
    net = get_model("dqn_mlp", hidden=(256, 256))
    lesson.note("model", "dqn_mlp")
    lesson.note("data", "CartPole-v1 simulated in numpy")
    evaluator = VectorCartPole(100)
    rng = np.random.RandomState(seed)
    random_return = evaluator.run_episodes(lambda obs: rng.randint(2, size=len(obs)),
                                           seed=seed).mean()
    lesson.note("random policy's mean return", f"{random_return:.1f}")
    max_steps = lesson.pick(full=200_000, quick=25_000, smoke=300)
    # the quick run stops at CartPole-v0's bar (195), the full run at v1's (475)
    target = lesson.pick(full=SOLVED_RETURN, quick=195.0)
    history = train_dqn(
        CartPole(), net, episodes=lesson.pick(full=800, quick=400, smoke=20), lr=2.3e-3,
        learning_starts=lesson.pick(full=1000, quick=1000, smoke=100), train_every=2,
        target_update=128, epsilon=LinearDecay(1.0, 0.04, min(8000, max_steps // 2)),
        seed=seed, max_steps=max_steps, eval_env=evaluator, eval_every=10,
        solved_return=target, verbose=True)
    greedy = evaluator.run_episodes(greedy_policy(net), seed=seed + 10_000).mean()  # fresh starts
    lesson.check("greedy mean return (100 episodes)", greedy,
                 above=max(100.0, 5 * random_return))
    lesson.note("episodes / environment steps", f"{len(history['returns'])} / {history['steps']}")
    lesson.note(f"greedy mean >= {target:g} at episode", history["solved_episode"])
    lesson.save_plot(returns_plot(history, random_return), "returns.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
