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
import ipaddress
import numbers
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import LaunchError

SERVER_CMD = [sys.executable, "-c", "import mxnet"]
LAUNCHERS = ("local", "ssh")
# ssh's StrictHostKeyChecking: "accept-new" trusts a host the first time and
# refuses a changed key afterwards; "no" would accept any key, a man in the middle too.
HOST_KEY_CHECKING = ("accept-new", "yes", "no")
MAX_THREADS = 4096  # OpenMP threads per worker
MAX_LOCAL_PROCESSES = 256  # scheduler, servers and workers of one local job


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
    """Hosts, one per line; blank lines and ``#`` comments are skipped.

    A host is a host name, an IPv4 address or an IPv6 address (bracketed or
    not), with an optional ``user@`` in front.  Lines are handed to ssh, so
    anything else (a line starting with ``-`` would be read as an option)
    is refused with its line number.

    Returns
    -------
    list of str
        ``host`` or ``user@host``, IPv6 addresses without brackets.
    """
    path = Path(path)
    if not path.is_file():
        raise LaunchError(f"hostfile {path} does not exist or is not a file; pass a file "
                          f"listing one host per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchError(f"cannot read hostfile {path} ({exc}); pass a UTF-8 text file "
                          f"listing one host per line") from exc
    hosts = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            hosts.append(parse_host(entry, f"hostfile {path} line {number}"))
    if not hosts:
        raise LaunchError(f"hostfile {path} names no hosts")
    return hosts


_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,31}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def parse_host(text, where="host"):
    """``text`` as an ssh destination (``host`` or ``user@host``), or a LaunchError.

    Parameters
    ----------
    text : str
    where : str
        Where ``text`` came from, for the error message (a hostfile line).
    """
    user, at, host = text.rpartition("@")
    if (at and not _USER.fullmatch(user)) or not host:
        raise LaunchError(f"{where}: {text!r} is not a host; write a host name, an IP "
                          f"address or user@host (no spaces, options or shell characters)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid = _is_ipv6(host)
    else:
        valid = _is_ipv6(host) or _is_hostname(host)
    if not valid:
        raise LaunchError(f"{where}: {text!r} is not a host; write a host name, an IP "
                          f"address or user@host (no spaces, options or shell characters)")
    return f"{user}@{host}" if at else host


def _is_hostname(host):
    # Covers IPv4 addresses too: they are dotted labels of digits.
    labels = host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _is_ipv6(host):
    try:
        ipaddress.IPv6Address(host)  # a %zone suffix is accepted and checked too
    except ValueError:
        return False
    return re.fullmatch(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?", host) is not None


def plan_roles(num_workers, num_servers, hosts=None):
    """Scheduler on the first host; servers and workers round-robin over the hosts."""
    if not (_is_count(num_workers) and _is_count(num_servers)):
        raise LaunchError(f"a job needs at least one worker and one server (-n and -s of 1 "
                          f"or more), got {num_workers!r} workers and {num_servers!r} servers")
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
        try:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_launcher)
        except OSError as exc:  # not found, not executable: the caller stops the job
            raise LaunchError(f"cannot start {role.label}: {argv[0]} "
                              f"({exc.strerror or exc}); check the command") from exc
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


def _die_with_launcher():
    """In the child before exec: on Linux, get SIGTERM when the launcher dies.

    The processes run in sessions of their own (so a job is stopped as one
    group), which also shields them from the terminal's signals: without this,
    a launcher killed by SIGKILL would leave its scheduler and servers waiting
    for their peers forever.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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


def ssh_argv(role, command, env, cwd, host_key_checking="accept-new"):
    """The ssh command that starts ``command`` with ``env`` on ``role.host``.

    ``--`` ends ssh's options, so the host can never be read as one.
    """
    _check_choice("host_key_checking", host_key_checking, HOST_KEY_CHECKING)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    remote = f"cd {shlex.quote(str(cwd))} && env {exports} {shlex.join(command)}"
    return ["ssh", "-o", f"StrictHostKeyChecking={host_key_checking}", "-o", "BatchMode=yes",
            "--", role.host, remote]


def launch(command, num_workers, num_servers=1, hostfile=None, launcher="local",
           threads=None, out=None, host_key_checking="accept-new"):
    """Run ``command`` as ``num_workers`` workers of a parameter-server job.

    Parameters
    ----------
    command : list of str
        The worker command, e.g. ``["python", "train.py"]``.
    num_workers, num_servers : int
        At least 1 each.
    hostfile : str or Path, optional
        Hosts, one per line (see :func:`read_hostfile`); needed by ``"ssh"``.
    launcher : {"local", "ssh"}
    threads : int, optional
        OpenMP threads per worker, at least 1 (default: cores / local workers).
    out : file object, optional
        Where the prefixed output lines go (default: stdout).
    host_key_checking : {"accept-new", "yes", "no"}
        ssh's ``StrictHostKeyChecking`` for the ssh launcher.

    Returns
    -------
    int
        0 when every worker succeeded, 1 when a process failed (the job is
        then stopped within seconds).

    Raises
    ------
    LaunchError
        A bad host list, count, launcher or command; nothing is started.
    """
    if not command:
        raise LaunchError("no command to launch: put it after '--', e.g. "
                          "gluon-dl launch -n 2 -s 1 -- python train.py")
    _check_choice("launcher", launcher, LAUNCHERS)
    _check_choice("host_key_checking", host_key_checking, HOST_KEY_CHECKING)
    if threads is not None and not _is_count(threads):
        raise LaunchError(f"--threads must be a whole number of at least 1, got {threads!r}")
    if threads is not None and threads > MAX_THREADS:  # MXNet aborts on OMP_NUM_THREADS past int
        raise LaunchError(f"--threads {threads} is more OpenMP threads per worker than the "
                          f"{MAX_THREADS} gluon-dl starts; pass at most the cores of a host")
    if hostfile and launcher == "local":  # it would run everything here without a word
        raise LaunchError(f"--hostfile {hostfile} lists hosts for --launcher ssh, but the local "
                          f"launcher runs every process on this machine; add --launcher ssh "
                          f"or drop --hostfile")
    hosts = read_hostfile(hostfile) if hostfile else None
    if launcher == "ssh" and not hosts:
        raise LaunchError("--launcher ssh needs --hostfile FILE listing the hosts")
    local = launcher == "local"
    roles = plan_roles(num_workers, num_servers, None if local else hosts)
    if local and len(roles) > MAX_LOCAL_PROCESSES:  # each is a Python process with MXNet
        raise LaunchError(f"-n {num_workers} -s {num_servers} would start {len(roles)} processes "
                          f"on this machine (at most {MAX_LOCAL_PROCESSES}); spread a job that "
                          f"large over hosts with --launcher ssh --hostfile FILE")
    # Remote workers run the command on their own hosts: only ssh itself is checked here.
    _check_program(command[0] if local else "ssh")
    root_uri = "127.0.0.1" if local else roles[0].host.rpartition("@")[2]
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
                job.start(role, ssh_argv(role, argv, env, os.getcwd(), host_key_checking),
                          dict(os.environ))
        code, message = job.wait()
    except BaseException:
        job.stop(grace=1.0)
        raise
    if message:
        print(f"gluon-dl launch: {message}", file=sys.stderr)
    return code


def _is_count(value):
    """An integer of at least 1 (a bool is not one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _check_choice(name, value, choices):
    if value not in choices:
        raise LaunchError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_program(program):
    """Raise LaunchError unless ``program`` names an executable, before anything starts."""
    program = str(program)
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.isfile(program):
            raise LaunchError(f"the command {program} does not exist; check the path")
        if not os.access(program, os.X_OK):
            raise LaunchError(f"the command {program} is not executable; run it through its "
                              f"interpreter (python {program}) or chmod +x it")
    elif shutil.which(program) is None:
        raise LaunchError(f"the command {program!r} was not found on PATH; check the spelling "
                          f"or give its full path")


def worker_rank():
    """This worker's launch rank (0 when not launched by ``gluon-dl launch``)."""
    return int(os.environ.get("GLUON_DL_WORKER_RANK", "0"))
