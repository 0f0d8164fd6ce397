"""One Kafka connection setting, rendered for librdkafka and for Python's TLS, secrets
kept out of reprs and errors; the least-privilege grants of each role."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auditstream.devstack import certs
from auditstream.errors import ConfigError
from auditstream.security.kafka_acls import Grant, Roles, pipeline_grants
from auditstream.settings.config import Topics, kafka_environment, load_settings
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.secret import Secret

PASSWORD = "Zq7-s3cret-value"


def scram(tmp_path: Path) -> KafkaConnection:
    ca = certs.Authority(tmp_path / "ca").cert_file
    return KafkaConnection(
        "b1:9093,b2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="producer",
        password=Secret(PASSWORD),
        ca_file=ca,
    )


def test_plaintext_is_the_default_and_renders_two_settings() -> None:
    assert KafkaConnection("k:9092").librdkafka() == {
        "bootstrap.servers": "k:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_renders_for_librdkafka_and_python_tls(tmp_path: Path) -> None:
    connection = scram(tmp_path)
    config = connection.librdkafka()
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == PASSWORD
    assert config["ssl.ca.location"] == str(connection.ca_file)
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    context = connection.ssl_context()
    assert context is not None and context.check_hostname
    assert PASSWORD not in repr(connection) and PASSWORD not in str(connection)


def test_mutual_tls_needs_both_files(tmp_path: Path) -> None:
    authority = certs.Authority(tmp_path)
    client = authority.issue("client", "producer", client=True)
    mtls = KafkaConnection(
        "k:9093",
        security_protocol="SSL",
        ca_file=authority.cert_file,
        cert_file=client.cert,
        key_file=client.key,
    )
    assert mtls.librdkafka()["ssl.key.location"] == str(client.key)
    assert mtls.ssl_context() is not None
    with pytest.raises(ConfigError, match="both cert_file and key_file"):
        dataclasses.replace(mtls, key_file=None).check()


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"sasl_mechanism": ""}, "needs a SASL mechanism"),
        ({"password": Secret("")}, "needs a username and password"),
        ({"security_protocol": "PLAINTEXT"}, "use SASL_SSL"),
        ({"sasl_mechanism": "OAUTHBEARER"}, "needs a token provider"),
        ({"ca_file": Path("/nonexistent/ca.pem")}, "/nonexistent/ca.pem"),
        ({"bootstrap": " "}, "bootstrap servers are empty"),
    ],
)
def test_inconsistent_settings_are_named_without_the_password(
    tmp_path: Path, change: dict[str, object], names: str
) -> None:
    with pytest.raises(ConfigError, match=names) as raised:
        dataclasses.replace(scram(tmp_path), **change).check()  # type: ignore[arg-type]
    assert PASSWORD not in str(raised.value)


def test_the_environment_of_a_child_process_gives_the_same_connection(tmp_path: Path) -> None:
    connection = scram(tmp_path)
    assert load_settings(env=kafka_environment(connection)).kafka == connection


def test_an_oauth_token_provider_is_code_only(tmp_path: Path) -> None:
    connection = dataclasses.replace(
        scram(tmp_path),
        sasl_mechanism="OAUTHBEARER",
        username="",
        password=Secret(""),
        token_provider=lambda: ("token", 0.0),
    )
    assert connection.librdkafka()["oauth_cb"]("") == ("token", 0.0)
    toml = tmp_path / "a.toml"
    toml.write_text('[kafka]\ntoken_provider = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'token_provider'"):
        load_settings(env={}, config_file=toml)


def test_each_role_gets_only_its_own_grants() -> None:
    topics = Topics()
    grants = pipeline_grants(topics, Roles())
    by_user: dict[str, set[tuple[str, str, str]]] = {}
    for grant in grants:
        by_user.setdefault(grant.principal, set()).add(
            (grant.operation, grant.resource, grant.name)
        )
    assert by_user["User:producer"] == {
        ("WRITE", "topic", topics.raw),
        ("DESCRIBE", "topic", topics.raw),
        ("IDEMPOTENT_WRITE", "cluster", "kafka-cluster"),
    }
    for sink in ("User:sink-clickhouse", "User:sink-archive"):
        assert {op for op, kind, _ in by_user[sink] if kind == "topic"} == {"READ", "DESCRIBE"}
        assert {name for _, kind, name in by_user[sink] if kind == "topic"} == {
            topics.sealed,
            topics.checkpoints,
        }
    worker_writes = {name for op, kind, name in by_user["User:worker"] if op == "WRITE"}
    assert topics.raw not in worker_writes and topics.sealed in worker_writes
    assert not any(g.operation in ("CREATE",) and g.name == topics.sealed for g in grants)
    assert len(grants) == len(set(grants))
    assert Grant("User:x", "topic", "t", "READ", "prefixed").line().endswith("topic t*")
