"""``gluon-dl launch``: start an MXNet parameter-server job.

Starts the scheduler, the servers and the workers with the ``DMLC_*``
environment of MXNet's ``tools/launch.py`` (the ps-lite contract), prefixes
every output line with the process's role and rank, and stops the whole job
as soon as one process fails — ps-lite alone would leave the others waiting
forever for a peer that is gone.

Scheduler and servers run ``python -c "import mxnet"``: importing MXNet with
``DMLC_ROLE`` set to ``server``/``scheduler`` runs that role's loop.  Workers
run the user's command, which builds its Trainer with ``kvstore="dist_sync"``
(or ``dist_device_sync``, ``dist_async``).
"""
import dataclasses
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import GluonDLError

SERVER_CMD = [sys.executable, "-c", "import mxnet"]


@dataclasses.dataclass
class Role:
    """One process of the job."""

    name: str  # "scheduler", "server", "worker"
    rank: int
    host: str = "127.0.0.1"

    @property
    def label(self):
        return self.name if self.name == "scheduler" else f"{self.name} {self.rank}"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def read_hostfile(path):
    """Host names, one per line; blank lines and ``#`` comments are skipped."""
    path = Path(path)
    if not path.is_file():
        raise GluonDLError(f"hostfile {path} does not exist")
    hosts = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise GluonDLError(f"hostfile {path} names no hosts")
    return hosts


def plan_roles(num_workers, num_servers, hosts=None):
    """Scheduler on the first host; servers and workers round-robin over the hosts."""
    if num_workers < 1 or num_servers < 1:
        raise GluonDLError(f"a job needs at least one worker and one server, got "
                           f"{num_workers} workers and {num_servers} servers")
    hosts = hosts or ["127.0.0.1"]
    roles = [Role("scheduler", 0, hosts[0])]
    roles += [Role("server", i, hosts[i % len(hosts)]) for i in range(num_servers)]
    roles += [Role("worker", i, hosts[i % len(hosts)]) for i in range(num_workers)]
    return roles


def role_env(role, num_workers, num_servers, root_uri, root_port, threads, local):
    """The environment ps-lite reads, plus sane thread settings."""
    env = {
        "DMLC_ROLE": role.name,
        "DMLC_PS_ROOT_URI": root_uri,
        "DMLC_PS_ROOT_PORT": str(root_port),
        "DMLC_NUM_WORKER": str(num_workers),
        "DMLC_NUM_SERVER": str(num_servers),
        # OpenMP threads spin-wait by default: several processes sharing a few
        # cores then starve each other (throughput fell to ~5% measured here).
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(threads if role.name == "worker" else 1),
        "MXNET_CPU_WORKER_NTHREADS": "1",
    }
    if role.name == "worker":
        env["GLUON_DL_WORKER_RANK"] = str(role.rank)
    if local:
        env["DMLC_NODE_HOST"] = "127.0.0.1"  # keep every connection on loopback
        env["DMLC_INTERFACE"] = "lo"
    return env


def default_threads(num_workers):
    return max(1, (os.cpu_count() or 1) // num_workers)


class Job:
    """A running job: its processes and the threads relaying their output."""

    def __init__(self, out=None):
        self.procs = []  # (role, Popen)
        self.out = out or sys.stdout
        self._lock = threading.Lock()
        self._threads = []

    def start(self, role, argv, env):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((role, proc))
        t = threading.Thread(target=self._relay, args=(role, proc), daemon=True)
        t.start()
        self._threads.append(t)

    def _relay(self, role, proc):
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                print(f"[{role.label}] {line}", file=self.out, flush=True)
        proc.stdout.close()

    def stop(self, grace=5.0):
        """SIGTERM every live process group, SIGKILL what is left after ``grace``."""
        for _, proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.time() + grace
        for _, proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()

    def wait(self, poll=0.1, finish_timeout=60.0):
        """Wait for the workers; returns (exit code, message)."""
        workers = [(r, p) for r, p in self.procs if r.name == "worker"]
        while True:
            for role, proc in self.procs:
                code = proc.poll()
                if code is not None and code != 0:
                    self.stop()
                    return 1, f"{role.label} (pid {proc.pid}) {_describe(code)}; stopped the job"
            if all(p.poll() == 0 for _, p in workers):
                break
            time.sleep(poll)
        # Workers are done: servers and scheduler leave once ps-lite finalizes.
        deadline = time.time() + finish_timeout
        while time.time() < deadline and any(p.poll() is None for _, p in self.procs):
            time.sleep(poll)
        lingering = [r.label for r, p in self.procs if p.poll() is None]
        self.stop()
        for t in self._threads:
            t.join(timeout=2)
        if lingering:
            return 0, f"workers finished; stopped {', '.join(lingering)} that did not exit"
        return 0, None


def _signal_group(proc, sig):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def _describe(code):
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def ssh_argv(role, command, env, cwd):
    """The ssh command that starts ``command`` with ``env`` on ``role.host``."""
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    remote = f"cd {shlex.quote(str(cwd))} && env {exports} {shlex.join(command)}"
    return ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", role.host, remote]


def launch(command, num_workers, num_servers=1, hostfile=None, launcher="local",
           threads=None, out=None):
    """Run ``command`` as ``num_workers`` workers of a parameter-server job.

    Returns
    -------
    int
        0 when every worker succeeded, 1 when a process failed (the job is
        then stopped within seconds).
    """
    if not command:
        raise GluonDLError("no command to launch: put it after '--', e.g. "
                           "gluon-dl launch -n 2 -s 1 -- python train.py")
    if launcher not in ("local", "ssh"):
        raise GluonDLError(f"launcher must be 'local' or 'ssh', got {launcher!r}")
    hosts = read_hostfile(hostfile) if hostfile else None
    if launcher == "ssh" and not hosts:
        raise GluonDLError("--launcher ssh needs --hostfile FILE listing the hosts")
    local = launcher == "local"
    roles = plan_roles(num_workers, num_servers, None if local else hosts)
    root_uri = "127.0.0.1" if local else roles[0].host
    root_port = free_port() if local else 9091
    threads = threads or default_threads(num_workers if local else 1)
    job = Job(out)
    try:
        for role in roles:
            env = role_env(role, num_workers, num_servers, root_uri, root_port, threads, local)
            argv = command if role.name == "worker" else SERVER_CMD
            if local:
                job.start(role, argv, {**os.environ, **env})
            else:
                job.start(role, ssh_argv(role, argv, env, os.getcwd()), dict(os.environ))
        code, message = job.wait()
    except BaseException:
        job.stop(grace=1.0)
        raise
    if message:
        print(f"gluon-dl launch: {message}", file=sys.stderr)
    return code


def worker_rank():
    """This worker's launch rank (0 when not launched by ``gluon-dl launch``)."""
    return int(os.environ.get("GLUON_DL_WORKER_RANK", "0"))
