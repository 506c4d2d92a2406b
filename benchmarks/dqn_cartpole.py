"""DQN on the numpy CartPole-v1 until solved, for a few seeds.

Solved means CartPole-v1's threshold, a mean return of at least 475 over
100 consecutive episodes, measured on 100 fresh greedy (epsilon = 0)
evaluation episodes every ``--eval-every`` training episodes: the training
episodes themselves explore, so their return understates the policy.  Each
seed trains until solved or for at most ``--episodes`` episodes, then the
table gives the episodes and environment steps it took, the wall time and
the final greedy 100-episode average (475 or more when solved).

Usage::

    python benchmarks/dqn_cartpole.py                 # seeds 0 1 2
    python benchmarks/dqn_cartpole.py --seeds 0 1 2 3 --episodes 1000
"""
import argparse

import numpy as np

import _host

DEFAULTS = dict(hidden=(256, 256), lr=2.3e-3, batch_size=64, buffer_size=50000, gamma=0.99,
                learning_starts=1000, train_every=2, target_update=128, double_dqn=True,
                epsilon=(1.0, 0.04, 8000))


def run(seed, episodes, eval_every, verbose):
    import mxnet as mx

    from gluon_dl.models import get_model
    from gluon_dl.rl import SOLVED_RETURN, CartPole, LinearDecay, VectorCartPole, train_dqn

    mx.random.seed(seed)
    cfg = dict(DEFAULTS)
    net = get_model("dqn_mlp", hidden=cfg.pop("hidden"))
    epsilon = LinearDecay(*cfg.pop("epsilon"))
    return train_dqn(CartPole(), net, episodes, epsilon=epsilon, seed=seed,
                     eval_env=VectorCartPole(100), eval_every=eval_every,
                     solved_return=SOLVED_RETURN, verbose=verbose, **cfg)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=800, help="cap per seed")
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    _host.print_header(1, peak_n=0, torch=False)  # one thread of numpy; no matrix products
    print(f"DQN on CartPole-v1 (numpy), solved = greedy mean >= 475 over 100 episodes; "
          f"cap {args.episodes} episodes\nconfig: {DEFAULTS}\n")
    print(f"{'seed':>4s} {'solved':>6s} {'episodes':>8s} {'env steps':>9s} {'updates':>7s} "
          f"{'wall s':>7s} {'final 100-ep avg':>16s} {'last 100 train avg':>18s}")
    rows = []
    for seed in args.seeds:
        h = run(seed, args.episodes, args.eval_every, args.verbose)
        final = h["eval"][-1][1] if h["eval"] else float("nan")
        rows.append(h)
        print(f"{seed:4d} {'yes' if h['solved_episode'] else 'no':>6s} "
              f"{len(h['returns']):8d} {h['steps']:9d} {h['updates']:7d} {h['wall_time']:7.1f} "
              f"{final:16.1f} {np.mean(h['returns'][-100:]):18.1f}", flush=True)
    solved = [h for h in rows if h["solved_episode"]]
    print(f"\nsolved {len(solved)}/{len(rows)} seeds"
          + (f"; median episodes to solve {np.median([h['solved_episode'] for h in solved]):.0f}"
             if solved else ""))
    return 0 if len(solved) == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
