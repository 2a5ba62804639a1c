"""Secured clusters: SASL (PLAIN, SCRAM) and TLS settings reach every client; secrets never come from
the YAML and never reach the output."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import monitor
from monitor.settings import ConfigError
from pipelines.broker import BrokerError, EmbeddedBroker, check_reachable, ensure_topics, free_port
from pipelines.config import config_from_dict
from pipelines.consumer import ScoringConsumer
from pipelines.kafka_clients import SecretError, consumer_settings, producer_settings, security_kwargs
from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
from tests.conftest import fresh_config
from tests.helpers import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-do-not-print"


def _cfg(**kafka):
    return config_from_dict({"kafka": {"bootstrap_servers": "127.0.0.1:1", **kafka}})


def test_sasl_ssl_settings_with_the_password_from_the_environment_reach_producer_and_consumer(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SIGNWATCH_TEST_PW", SECRET)
    cfg = _cfg(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="scorer",
        sasl_password_env="SIGNWATCH_TEST_PW",
        ssl_cafile=str(ca),
    )
    for settings in (producer_settings(cfg, "h:9093"), consumer_settings(cfg, "h:9093")):
        assert settings["security_protocol"] == "SASL_SSL"
        assert settings["sasl_mechanism"] == "SCRAM-SHA-512"
        assert settings["sasl_plain_username"] == "scorer" and settings["sasl_plain_password"] == SECRET
        assert settings["ssl_cafile"] == str(ca) and settings["ssl_check_hostname"] is True


def test_password_from_a_file_and_client_certificates(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("x")
    key.write_text("x")
    got = security_kwargs(
        _cfg(
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="u",
            sasl_password_file=str(pw),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            ssl_check_hostname=False,
        ).kafka
    )
    assert got["sasl_plain_password"] == SECRET and got["ssl_certfile"] == str(cert) and got["ssl_keyfile"] == str(key)
    assert got["ssl_check_hostname"] is False and got["ssl_password"] is None


def test_plaintext_clients_get_no_security_settings():
    assert security_kwargs(_cfg().kafka) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(
    "kafka, words",
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_env": "X"}, "kafka.sasl_mechanism"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI", "sasl_username": "u"},
            "kafka.sasl_mechanism",
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_password_env": "X"}, "kafka.sasl_username"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"}, "kafka.sasl_password_env"),
        ({"security_protocol": "SSL", "ssl_certfile": "c.pem"}, "kafka.ssl_keyfile"),
        ({"sasl_password": SECRET}, "unknown setting kafka.sasl_password"),
    ],
)
def test_incomplete_or_inline_secrets_are_refused_in_one_line(kafka, words):
    with pytest.raises(ConfigError) as e:
        _cfg(**kafka)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_missing_secret_names_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.delenv("SIGNWATCH_NOT_SET", raising=False)
    base = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u"}
    with pytest.raises(SecretError, match="environment variable SIGNWATCH_NOT_SET is not set"):
        security_kwargs(_cfg(**base, sasl_password_env="SIGNWATCH_NOT_SET").kafka)
    with pytest.raises(SecretError, match=f"file {tmp_path / 'nope'}: cannot be read"):
        security_kwargs(_cfg(**base, sasl_password_file=str(tmp_path / "nope")).kafka)
    with pytest.raises(SecretError, match="kafka.ssl_cafile: file .*missing.pem: not found"):
        security_kwargs(_cfg(security_protocol="SSL", ssl_cafile=str(tmp_path / "missing.pem")).kafka)


@pytest.mark.slow
def test_a_command_against_a_secured_cluster_never_prints_the_password(tmp_path):
    """produce with SASL settings against an address where nothing listens: one line, no secret in it."""
    cfg = tmp_path / "secured.yaml"
    cfg.write_text(
        "kafka:\n  bootstrap_servers: 127.0.0.1:1\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-256\n"
        "  sasl_username: cam\n  sasl_password_env: SIGNWATCH_TEST_PW\n  connect_timeout_s: 1\n"
    )
    env = {**__import__("os").environ, "SIGNWATCH_TEST_PW": SECRET}
    folder = ROOT.parent / "shared" / "data" / "belgiumtsc"
    r = subprocess.run(
        [sys.executable, str(ROOT / "run_monitor.py"), "--config", str(cfg), "produce", "folder", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert r.returncode != 0
    assert SECRET not in r.stdout + r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1, r.stderr


# ---- TLS against real listeners -------------------------------------------------------------------
# Tansu 0.6.0 (the embedded broker, build 510f3e2) cannot serve TLS: its `--cert` and `--key` options
# share one clap argument group, so giving both is refused, and its listener never uses the TLS acceptor
# it builds (tansu-broker/src/broker.rs: `let _acceptor = ...`). So a TLS round trip through the embedded
# broker is not possible here; these tests check what the product does against real listeners instead.


def _make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it (openssl CLI): (ca, cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not on PATH (needed to make test certificates)")
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr, ext = folder / "server.pem", folder / "server.key", folder / "server.csr", folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2"]
        + ["-subj", "/CN=signwatch test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2"]
        + ["-extfile", ext],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


@pytest.fixture
def tls_listener(tmp_path):
    """A real TLS server on a loopback port (Python's ssl with the test CA's server certificate) that
    completes handshakes and closes: (port, ca file)."""
    ca, cert, key = _make_ca_and_server_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed at teardown
            with contextlib.suppress(OSError):
                ctx.wrap_socket(conn, server_side=True).close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], ca
    server.close()


@pytest.mark.kafka
def test_the_embedded_broker_refuses_a_tls_certificate_with_its_key():
    """Documents why no TLS round trip runs against Tansu here; fails once a Tansu that accepts both comes."""
    binary = EmbeddedBroker()._resolve_binary()
    r = subprocess.run(
        [binary, "broker", "--cert", "c.pem", "--key", "k.pem"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode != 0 and "cannot be used with" in r.stderr, r.stderr


def test_tls_check_passes_with_the_right_ca_and_names_a_wrong_one(tls_listener):
    port, ca = tls_listener
    good = _cfg(bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SSL", ssl_cafile=str(ca)).kafka
    check_reachable(good.bootstrap_servers, 5, good)
    wrong = _cfg(bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SSL", ssl_cafile=certifi_or_system()).kafka
    with pytest.raises(BrokerError) as e:
        check_reachable(wrong.bootstrap_servers, 5, wrong)
    line = str(e.value)
    assert f"127.0.0.1:{port}" in line and "certificate was refused" in line and "kafka.ssl_cafile" in line
    assert "\n" not in line


def certifi_or_system() -> str:
    """A CA bundle that did not sign the test certificate: the system's."""
    path = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(path).is_file():
        pytest.skip("no system CA bundle file to use as the wrong CA")
    return path


@pytest.mark.kafka
@pytest.mark.slow
def test_a_tls_client_against_a_listener_without_tls_fails_in_one_line(kafka_broker, tmp_path):
    """What Tansu gives with --cert: a plaintext listener. kafka-python alone hung there (>10 min)."""
    ca, _cert, _key = _make_ca_and_server_cert(tmp_path)
    cfg = tmp_path / "tls.yaml"
    cfg.write_text(
        f"kafka:\n  bootstrap_servers: {kafka_broker.bootstrap}\n  security_protocol: SSL\n"
        f"  ssl_cafile: {ca}\n  connect_timeout_s: 2\n"
    )
    folder = ROOT.parent / "shared" / "data" / "belgiumtsc"
    r = subprocess.run(
        [sys.executable, str(ROOT / "run_monitor.py"), "--config", str(cfg), "produce", "folder", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert kafka_broker.bootstrap in lines[0] and "may not speak TLS" in lines[0]


class _TlsTerminator:
    """A TLS-terminating proxy (asyncio with Python's ssl, as stunnel or a load balancer would be) on a
    loopback port in front of a plaintext broker: the clients speak real TLS, the broker stays plaintext."""

    def __init__(self, cert: Path, key: Path, upstream_port: int) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.upstream_port = upstream_port
        self.port = free_port()
        self.connections = 0  # TLS connections accepted: the clients did come through TLS
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        assert ready.wait(10), "TLS proxy did not start"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.ctx))
        ready.set()
        with contextlib.suppress(RuntimeError):
            self.loop.run_until_complete(server.serve_forever())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.mark.kafka
@pytest.mark.slow
def test_frames_are_produced_and_scored_over_tls(tmp_path, untrained_checkpoint):
    """FrameProducer, admin and ScoringConsumer with security_protocol SSL + ssl_cafile, through a TLS
    terminator in front of an embedded Tansu that advertises the terminator's address."""
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    ca, cert, key = _make_ca_and_server_cert(tmp_path)
    broker_port = free_port()
    proxy = _TlsTerminator(cert, key, broker_port)
    url, advertised = f"tcp://127.0.0.1:{broker_port}", f"tcp://127.0.0.1:{proxy.port}"
    binary = EmbeddedBroker()._resolve_binary()
    tansu = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        + ["--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bootstrap = f"127.0.0.1:{proxy.port}"
        cfg = fresh_config(bootstrap)
        cfg.kafka = dataclasses.replace(cfg.kafka, security_protocol="SSL", ssl_cafile=str(ca))
        deadline = time.monotonic() + 15
        while True:  # the broker binds its port a moment after it starts
            try:
                check_reachable(bootstrap, 2, cfg.kafka)
                with socket.create_connection(("127.0.0.1", broker_port), timeout=1):
                    break
            except (BrokerError, OSError):
                assert time.monotonic() < deadline, "broker behind the TLS proxy did not start"
                time.sleep(0.1)
        ensure_topics(bootstrap, cfg)
        producer = FrameProducer(cfg, bootstrap)
        frames = replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 2, prefix="tls")
        produce(frames, producer, cfg, "folder", threading.Event(), fps=0, max_frames=20)
        assert producer.close().undelivered == 0
        scorer = monitor.load_model(untrained_checkpoint, device="cpu")
        summary = ScoringConsumer(cfg, bootstrap, scorer, name="tls", out=sys.stderr).run(max_records=20)
        assert summary.scored == 20, summary.line()
        assert proxy.connections >= 3  # admin, producer, consumer (each at least one)
    finally:
        tansu.terminate()
        tansu.wait(10)
        proxy.close()
