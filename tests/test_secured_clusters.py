"""Secured clusters: SASL (PLAIN, SCRAM) and TLS settings reach every client; secrets never come from
the YAML and never reach the output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.settings import ConfigError
from pipelines.config import config_from_dict
from pipelines.kafka_clients import SecretError, consumer_settings, producer_settings, security_kwargs

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
