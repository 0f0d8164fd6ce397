"""How every component reaches Kafka: one `KafkaConnection`, rendered for librdkafka
(producer, worker loop, sinks, admin) and as a TLS context for Python clients (the
worker's Faust app, `processors.app.faust_credentials`). No other code builds a
client's connection settings.

    KafkaConnection("broker:9093", security_protocol="SASL_SSL",
                    sasl_mechanism="SCRAM-SHA-512", username="producer",
                    password=Secret("..."), ca_file=Path("ca.crt"))

Secrets are held as `Secret`: the repr shows `****`, errors name the setting, never its
value.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from confluent_kafka import KafkaError

from auditstream.errors import ConfigError
from auditstream.settings.secret import Secret

log = logging.getLogger("auditstream.kafka")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
# An OAUTHBEARER token source: returns (token, expiry as seconds since the epoch).
TokenProvider = Callable[[], tuple[str, float]]

SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
# Field metadata: a setting only code can give (not a flag, variable or TOML key).
CODE_ONLY: Final = "code_only"


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to authenticate to it.

    bootstrap          host:port[,host:port...]
    security_protocol  PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism     PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (SASL only)
    username/password  for PLAIN and SCRAM
    ca_file            PEM bundle of the CAs to trust (default: the system's)
    cert_file/key_file a client certificate and its key, for mutual TLS
    key_password       the key file's passphrase, if it has one
    verify_hostname    check the broker's certificate names its host (default on)
    token_provider     OAUTHBEARER only: a callable giving (token, expiry epoch s)
    """

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = ""
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret = field(default_factory=lambda: Secret(""))
    verify_hostname: bool = True
    token_provider: TokenProvider | None = field(
        default=None, compare=False, repr=False, metadata={CODE_ONLY: True}
    )

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in SASL_PROTOCOLS

    def check(self) -> KafkaConnection:
        """Raise ConfigError naming what is inconsistent; returns self."""
        where = f"Kafka connection to {self.bootstrap}"
        if not self.bootstrap.strip():
            raise ConfigError("Kafka bootstrap servers are empty")
        if self.uses_sasl:
            if not self.sasl_mechanism:
                raise ConfigError(f"{where}: {self.security_protocol} needs a SASL mechanism")
            if self.sasl_mechanism == "OAUTHBEARER":
                if self.token_provider is None:
                    raise ConfigError(f"{where}: OAUTHBEARER needs a token provider")
            elif not self.username or not self.password:
                raise ConfigError(f"{where}: {self.sasl_mechanism} needs a username and password")
        elif self.sasl_mechanism or self.username or self.password:
            raise ConfigError(
                f"{where}: SASL settings are given but the security protocol is "
                f"{self.security_protocol}; use SASL_SSL (or SASL_PLAINTEXT)"
            )
        tls_files = {
            "ca_file": self.ca_file,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
        }
        if not self.uses_tls:
            given = [name for name, value in tls_files.items() if value is not None]
            if given:
                raise ConfigError(
                    f"{where}: {', '.join(given)} given but the security protocol is "
                    f"{self.security_protocol}; use SSL or SASL_SSL"
                )
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError(f"{where}: a client certificate needs both cert_file and key_file")
        for name, path in tls_files.items():
            if path is not None and not path.is_file():
                raise ConfigError(f"{where}: {name} {path} is not a readable file")
        return self

    def librdkafka(self, errors: ConnectionErrors | None = None) -> dict[str, Any]:
        """Settings for a confluent-kafka Producer, Consumer or AdminClient. A
        long-running client passes `errors` (a `ConnectionErrors`) to have the cause of
        client-wide errors logged; a one-shot command sees them as its exception."""
        self.check()
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if errors is not None:
            config["error_cb"] = errors.report
        if self.uses_sasl:
            config["sasl.mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                provider = self.token_provider
                assert provider is not None  # check() requires it
                config["oauth_cb"] = lambda _config: provider()
            else:
                config["sasl.username"] = self.username
                config["sasl.password"] = self.password.reveal()
        if self.uses_tls:
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.verify_hostname else "none"
            )
            if self.ca_file is not None:
                config["ssl.ca.location"] = str(self.ca_file)
            if self.cert_file is not None and self.key_file is not None:
                config["ssl.certificate.location"] = str(self.cert_file)
                config["ssl.key.location"] = str(self.key_file)
                if self.key_password:
                    config["ssl.key.password"] = self.key_password.reveal()
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for Python clients (aiokafka), or None without TLS."""
        self.check()
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )
        context.check_hostname = self.verify_hostname
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(
                str(self.cert_file),
                str(self.key_file),
                password=self.key_password.reveal() or None,
            )
        return context


AUTHORIZATION_CODES: Final = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)


_BROKER_PREFIX: Final = re.compile(r"^\w+://[^/\s]+/\w+: ")


def explain(error: KafkaError, kafka: KafkaConnection) -> str | None:
    """What a client error says about the connection settings, in one sentence; None
    for errors that are not about them (a broker restarting, a full queue)."""
    code, text = error.code(), error.str()
    where = f"Kafka at {kafka.bootstrap}"
    if code in AUTHORIZATION_CODES:
        return (
            f"{where}: user {kafka.username or '(anonymous)'} is not authorized "
            f"({error.name()}): grant it its role's ACLs (`auditstream kafka acls`)"
        )
    if code == KafkaError._AUTHENTICATION:
        if "SSL" in text or "certificate" in text:
            return f"{where}: TLS authentication failed: {_detail(text)}"
        return (
            f"{where} refused the credentials of user {kafka.username!r} "
            f"({kafka.sasl_mechanism}): wrong username or password, or no such user"
        )
    if code == KafkaError._SSL:
        if "certificate verify failed" in text or "could not be verified" in text:
            return (
                f"{where}: the broker's TLS certificate is not trusted; set ca_file "
                "(AUDITSTREAM_KAFKA_CA_FILE) to the CA that signed it"
            )
        if "wrong version number" in text or "packet length too long" in text:
            return (
                f"{where} does not speak TLS on this port; use the TLS listener's port "
                "or a security protocol without TLS"
            )
        return f"{where}: TLS handshake failed: {_detail(text)}"
    if code == KafkaError._ALL_BROKERS_DOWN:
        hint = (
            " or its listeners expect TLS or SASL (security_protocol)" if not kafka.uses_tls else ""
        )
        return (
            f"{where}: no broker answers a {kafka.security_protocol} connection; they are "
            f"down or unreachable{hint}"
        )
    return None


def _detail(text: str) -> str:
    """librdkafka's text without its broker prefix ("sasl_ssl://host:port/id: ")."""
    return _BROKER_PREFIX.sub("", text, count=1)


class ConnectionErrors:
    """A client's error callback: logs each distinct cause once per `every_s`
    (librdkafka repeats them on every reconnect) and keeps the latest one."""

    def __init__(self, kafka: KafkaConnection, every_s: float = 30.0) -> None:
        self._kafka = kafka
        self._every_s = every_s
        self._said: dict[str, float] = {}
        self._lock = threading.Lock()
        self.latest: str | None = None

    def report(self, error: KafkaError) -> None:
        cause = explain(error, self._kafka)
        if cause is None:  # transient: librdkafka's own log lines say what happens
            log.debug("Kafka client: %s", error.str())
            return
        if error.code() == KafkaError._ALL_BROKERS_DOWN and self.latest is not None:
            return  # the consequence of the cause already kept, not a new one
        self.note(cause)

    def note(self, cause: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.latest = cause
            if now - self._said.get(cause, -self._every_s) < self._every_s:
                return
            self._said[cause] = now
        log.error("%s", cause)

    def clear(self) -> None:
        self.latest = None
