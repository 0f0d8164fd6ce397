"""Settings come from defaults, a TOML file and the environment, secrets masked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from auditstream.errors import ConfigError
from auditstream.settings.config import (
    ENV_VARS,
    S3Settings,
    Secret,
    Settings,
    Topics,
    check_field_types,
    load_settings,
    parser_for,
)
from auditstream.settings.connection import KafkaConnection


def test_defaults() -> None:
    settings = load_settings(env={})
    assert settings.kafka == KafkaConnection("127.0.0.1:9092")
    assert settings.topics.raw == "audit.raw.v1"
    assert settings.effective_clickhouse_dsn.startswith("chdb:///")
    assert settings.effective_archive_url.startswith("file:///")


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "auditstream.toml"
    config.write_text(
        'metrics_port = 9100\n[kafka]\nbootstrap = "file:1"\nusername = "from-file"\n'
        '[topics]\npartitions = 8\nraw = "raw.from.file"\n'
        '[s3]\nendpoint = "http://s3.local"\nsecret_key = "from-file"\n'
    )
    env = {"AUDITSTREAM_KAFKA_BOOTSTRAP": "env:2", "AUDITSTREAM_TOPIC_PARTITIONS": "12"}
    settings = load_settings(env=env, config_file=config)
    assert settings.kafka.bootstrap == "env:2"
    assert settings.kafka.username == "from-file"
    assert settings.topics.partitions == 12
    assert settings.topics.raw == "raw.from.file"
    assert settings.metrics_port == 9100
    assert settings.s3.secret_key.reveal() == "from-file"


def test_secrets_never_print() -> None:
    settings = load_settings(env={"AUDITSTREAM_S3_SECRET_KEY": "hunter2-very-secret"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.s3)
    assert settings.s3.secret_key == Secret("hunter2-very-secret")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUDITSTREAM_TOPIC_PARTITIONS": "many"}, "AUDITSTREAM_TOPIC_PARTITIONS"),
        ({"AUDITSTREAM_CONFIG": "/nonexistent/auditstream.toml"}, "cannot read config file"),
    ],
)
def test_bad_settings_name_their_source(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_unknown_keys_in_the_file_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[topics]\nraww = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'raww'"):
        load_settings(env={}, config_file=config)


def test_every_env_var_maps_to_a_real_setting() -> None:
    settings = load_settings(env={})
    for section, name in ENV_VARS.values():
        target = getattr(settings, section) if section else settings
        assert hasattr(target, name)


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (bool, "true", True),
        (bool, "OFF", False),
        (bool, False, False),
        (float, "2.5", 2.5),
        (float, 3, 3.0),
        (int, "12", 12),
        (Path | None, "", None),
        (Path | None, "/var/audit", Path("/var/audit")),
        (Literal["always", "never"], "never", "never"),
        (Secret, "s3cr3t", Secret("s3cr3t")),
    ],
)
def test_every_setting_type_is_parsed(kind: Any, raw: Any, value: Any) -> None:
    parse = parser_for(kind)
    assert parse is not None
    assert parse(raw) == value


@pytest.mark.parametrize(
    ("kind", "raw"),
    [(bool, "maybe"), (int, True), (float, "fast"), (Literal["a", "b"], "c"), (str, 5)],
)
def test_values_of_the_wrong_type_are_refused(kind: Any, raw: Any) -> None:
    parse = parser_for(kind)
    assert parse is not None
    with pytest.raises(ValueError):
        parse(raw)


def test_a_setting_of_a_type_that_cannot_be_parsed_fails_at_import() -> None:
    @dataclass(frozen=True)
    class Odd:
        ports: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match=r"Odd\.ports"):
        check_field_types([Odd])
    check_field_types([Settings, Topics, S3Settings])  # the real ones all parse


def test_a_refused_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"AUDITSTREAM_METRICS_PORT": "hunter2-secret"})
    assert "hunter2" not in str(caught.value)
    assert "AUDITSTREAM_METRICS_PORT" in str(caught.value)


def test_clickhouse_credentials_come_apart_from_the_dsn(tmp_path: Path) -> None:
    config = tmp_path / "auditstream.toml"
    config.write_text('[clickhouse]\nusername = "reader"\nca_file = "/etc/ch-ca.pem"\n')
    env = {"AUDITSTREAM_CLICKHOUSE_PASSWORD": "ch-pass-9x7", "AUDITSTREAM_CLICKHOUSE_VERIFY": "no"}
    settings = load_settings(env=env, config_file=config)
    assert settings.clickhouse.client_settings() == {
        "username": "reader",
        "password": "ch-pass-9x7",
        "ca_cert": "/etc/ch-ca.pem",
        "verify": False,
    }
    assert "ch-pass-9x7" not in repr(settings)
    assert load_settings(env={}).clickhouse.client_settings() == {}


def test_clickhouse_credentials_for_an_embedded_store_are_refused_and_not_echoed(
    tmp_path: Path,
) -> None:
    from auditstream.clickhouse.client import connect  # noqa: PLC0415

    settings = load_settings(env={"AUDITSTREAM_CLICKHOUSE_PASSWORD": "ch-pass-9x7"})
    with pytest.raises(ConfigError, match="has no users") as caught:
        connect(f"chdb://{tmp_path}", auth=settings.clickhouse)
    assert "ch-pass-9x7" not in str(caught.value)
    # A server that is not there: the error names it, never the password.
    auth = load_settings(
        env={"AUDITSTREAM_CLICKHOUSE_USER": "u", "AUDITSTREAM_CLICKHOUSE_PASSWORD": "ch-pass-9x7"}
    ).clickhouse
    with pytest.raises(ConfigError, match="cannot open ClickHouse") as refused:
        connect("http://127.0.0.1:9/", auth=auth)
    assert "ch-pass-9x7" not in str(refused.value)
