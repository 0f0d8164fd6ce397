"""docker-compose.yml, the Dockerfile and .dockerignore stay in step with the CLI, the
settings, the pinned Kafka version and the images the container tests use.

No Docker engine is needed: the files are parsed, every `auditstream` command in them
goes through the real argparse parser, and every AUDITSTREAM_* variable through
`load_settings`. Each check returns a list of problems, and `test_checks_catch_*`
feeds them broken copies to show that they can fail.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import re
import shlex
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from auditstream.cli import build_parser
from auditstream.devstack.build import KAFKA_VERSION
from auditstream.devstack.paths import resource
from auditstream.errors import ConfigError
from auditstream.settings.config import CONFIG_ENV, ENV_VARS, SECRET_ENV_VARS, load_settings
from tests.support.infra import CLICKHOUSE_IMAGE, MINIO_IMAGE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CLUSTER_COMPOSE = ROOT / "docker-compose.cluster.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}

KNOWN_ENV = set(ENV_VARS) | set(SECRET_ENV_VARS) | {CONFIG_ENV}
FILE_SETTINGS = (
    "AUDITSTREAM_HMAC_KEYS_FILE",
    "AUDITSTREAM_CHECKPOINT_KEY_FILE",
    "AUDITSTREAM_CONTENT_KEYS_FILE",
    "AUDITSTREAM_PUBLIC_KEYS_FILE",
    "AUDITSTREAM_DEAD_LETTER_KEY_FILE",
    "AUDITSTREAM_POLICY_FILE",
    "AUDITSTREAM_CONFIG",
)
# What `auditstream worker` loads (auditstream.cli.common): file setting or secret variable,
# the `keys generate` flag that writes it, and what that flag appends to the path.
WORKER_KEYS = (
    ("AUDITSTREAM_HMAC_KEYS_FILE", "AUDITSTREAM_HMAC_KEYS", "--hmac", ""),
    ("AUDITSTREAM_CHECKPOINT_KEY_FILE", "AUDITSTREAM_CHECKPOINT_KEY", "--signer", ""),
    ("AUDITSTREAM_CONTENT_KEYS_FILE", "AUDITSTREAM_CONTENT_KEYS", "--content", ""),
    ("AUDITSTREAM_DEAD_LETTER_KEY_FILE", "AUDITSTREAM_DEAD_LETTER_KEY", "--dead-letter", ".pub"),
)
PIPELINE = {"keys generate", "migrate", "archive init", "worker", "sink clickhouse", "sink s3"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "&", "2>&1"}
# What the image build reads (pyproject's readme is README.md; see auditstream.settings.resources).
BUILD_INPUTS = ("pyproject.toml", "README.md", "auditstream")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    assert isinstance(doc.get("services"), dict)
    return doc


def merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`docker compose -f base -f overlay`: mappings merge key by key, volumes by their
    container path, anything else the overlay sets replaces the base's value."""

    def merge(old: Any, new: Any, key: str = "") -> Any:
        if key == "volumes" and isinstance(old, list) and isinstance(new, list):
            by_target = {str(mount_target(v)): v for v in old}
            by_target |= {str(mount_target(v)): v for v in new}
            return list(by_target.values())
        if isinstance(old, dict) and isinstance(new, dict):
            out = dict(old)
            for k, v in new.items():
                out[k] = merge(old[k], v, k) if k in old else copy.deepcopy(v)
            return out
        return copy.deepcopy(new)

    result: dict[str, Any] = merge(base, overlay)
    return result


# The stack alone, and with the ClickHouse cluster overlay.
STACKS = {"single": (COMPOSE,), "cluster": (COMPOSE, CLUSTER_COMPOSE)}


@pytest.fixture(scope="module", params=sorted(STACKS))
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    base, *overlays = STACKS[request.param]
    doc = load(base)
    for overlay in overlays:
        doc = merged(doc, load(overlay))
    return doc


# Reading the file -----------------------------------------------------------------------
def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest); the tag is empty when there is none."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag; the colon belonged to a registry port
        return image, ""
    return name, tag


def builds_auditstream(service: dict[str, Any]) -> bool:
    return "build" in service


def auditstream_commands(services: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(service, argv after `auditstream`) for every auditstream command in the file:
    the command of services that run the image's `auditstream` entrypoint, and the
    `auditstream ...` lines of shell scripts."""
    found: list[tuple[str, list[str]]] = []
    for name, service in services.items():
        if not builds_auditstream(service):
            continue
        command = service.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        entrypoint = service.get("entrypoint")
        if entrypoint is None:
            found.append((name, argv))
            continue
        script = "\n".join(argv)
        for line in script.splitlines():
            tokens = shlex.split(line, comments=True)
            for start, token in enumerate(tokens):
                if token == "auditstream":
                    rest = tokens[start + 1 :]
                    end = next((i for i, t in enumerate(rest) if t in SHELL_OPERATORS), len(rest))
                    found.append((name, rest[:end]))
    return found


def command_path(argv: list[str]) -> str:
    """`sink clickhouse`, `archive init`, `worker`: the subcommand words, no options."""
    words = []
    for token in argv:
        if token.startswith("-"):
            break
        words.append(token)
    if not words:
        return ""
    return " ".join(words[:2]) if words[0] in ("sink", "archive", "keys") else words[0]


def parse_problem(argv: list[str]) -> str | None:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0 and argv and argv[-1] in ("--help", "-h", "--version"):
            return None
        return err.getvalue().strip().splitlines()[-1] if err.getvalue() else str(exc)
    return None if callable(getattr(args, "func", None)) else "parses but runs nothing"


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def mount_target(volume: Any) -> PurePosixPath:
    return PurePosixPath(volume.get("target") if isinstance(volume, dict) else volume.split(":")[1])


def mount_source(volume: Any) -> str:
    return str(volume.get("source") if isinstance(volume, dict) else volume.split(":")[0])


def mount_targets(service: dict[str, Any]) -> list[PurePosixPath]:
    return [mount_target(volume) for volume in service.get("volumes") or []]


def mounted_file(service: dict[str, Any], target: str) -> Path | None:
    """The file of this repository bind-mounted at `target`, if any."""
    for volume in service.get("volumes") or []:
        if str(mount_target(volume)) == target and mount_source(volume).startswith("./"):
            return ROOT / mount_source(volume)
    return None


# Checks ------------------------------------------------------------------------------------
def image_problems(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            if not builds_auditstream(service):
                problems.append(f"{name}: neither image nor build")
            continue
        _, tag = split_image(str(image))
        if not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} is not pinned")
        elif not builds_auditstream(service) and not re.search(r"\d", tag):
            problems.append(f"{name}: pulled image {image!r} has no version in its tag")
    return problems


def command_problems(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, argv in auditstream_commands(services):
        problem = parse_problem(argv)
        if problem:
            problems.append(f"{name}: `auditstream {shlex.join(argv)}`: {problem}")
    return problems


def env_problems(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
        env = environment(service)
        script = " ".join(map(str, service.get("command") or []))
        used = {k for k in env if k.startswith("AUDITSTREAM_")}
        used |= set(re.findall(r"AUDITSTREAM_[A-Z0-9_]+", script))
        problems += [f"{name}: {var} is not read by auditstream" for var in used - KNOWN_ENV]
        settings_env = {k: v for k, v in env.items() if k in ENV_VARS}
        try:
            load_settings(env=settings_env)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
        mounts = mount_targets(service)
        for var in FILE_SETTINGS:
            if env.get(var):
                path = PurePosixPath(env[var])
                if not any(path.is_relative_to(m) for m in mounts):
                    problems.append(f"{name}: {var}={path} is on no mounted volume")
    return problems


def endpoint_problems(services: dict[str, Any]) -> list[str]:
    """Addresses in AUDITSTREAM_* settings name a compose service, and the Kafka
    bootstrap is one of the broker's advertised listeners."""
    problems = []
    kafka_env = environment(services.get("kafka", {}))
    advertised = {
        item.split("://", 1)[1]
        for item in kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "").split(",")
    }
    for name, service in services.items():
        env = environment(service)
        bootstrap = env.get("AUDITSTREAM_KAFKA_BOOTSTRAP")
        if bootstrap and bootstrap not in advertised:
            problems.append(f"{name}: bootstrap {bootstrap} is no advertised listener")
        for var in ("AUDITSTREAM_CLICKHOUSE_DSN", "AUDITSTREAM_S3_ENDPOINT"):
            if env.get(var):
                host = urllib.parse.urlsplit(env[var]).hostname
                if host not in services:
                    problems.append(f"{name}: {var} points at {host!r}, not a service")
    return problems


def dependency_problems(compose: dict[str, Any]) -> list[str]:
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    problems = []
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        items = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for target, spec in items:
            condition = (spec or {}).get("condition", "service_started")
            if target not in services:
                problems.append(f"{name}: depends on unknown service {target!r}")
                continue
            if condition not in CONDITIONS:
                problems.append(f"{name}: unknown condition {condition!r}")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name}: waits for {target} to be healthy; it has no check")
        for volume in service.get("volumes") or []:
            source = mount_source(volume)
            if source and not source.startswith((".", "/", "~")) and source not in declared:
                problems.append(f"{name}: named volume {source!r} is not declared")
            if source.startswith("./") and not (ROOT / source).exists():
                problems.append(f"{name}: mounts {source}, which is not in the repository")
    return problems


CLUSTER_ENV = "AUDITSTREAM_CLICKHOUSE_CLUSTER"
CONFIG_D = "/etc/clickhouse-server/config.d"


def cluster_problems(services: dict[str, Any]) -> list[str]:
    """With a ClickHouse cluster: every auditstream service that writes or changes the
    schema names a cluster the servers define; each shard in it is a service with that
    configuration and macros of its own; the Keeper the servers use is a service
    listening on that port. Nothing to check without a cluster."""
    clustered = {
        n: environment(s)[CLUSTER_ENV] for n, s in services.items() if CLUSTER_ENV in environment(s)
    }
    if not clustered:
        return []
    problems = []
    for name in ("init", "sink-clickhouse", "cli"):
        if name not in clustered:
            problems.append(f"{name}: no {CLUSTER_ENV} beside a cluster")
    config_file = mounted_file(services.get("clickhouse", {}), f"{CONFIG_D}/cluster.xml")
    if config_file is None:
        return [*problems, "clickhouse: no cluster configuration mounted"]
    config = ET.parse(config_file).getroot()
    names = {child.tag: child for child in config.iterfind("remote_servers/*")}
    for name, cluster in clustered.items():
        if cluster not in names:
            problems.append(
                f"{name}: {CLUSTER_ENV}={cluster!r}, not a cluster in {config_file.name}"
            )
    shards: dict[str, str] = {}
    for cluster in names.values():
        for replica in cluster.iter("replica"):
            host = replica.findtext("host", "")
            server = services.get(host)
            if server is None:
                problems.append(f"cluster host {host!r} is not a service")
                continue
            if mounted_file(server, f"{CONFIG_D}/cluster.xml") != config_file:
                problems.append(f"{host}: does not mount {config_file.name}")
            if server.get("image") != services["clickhouse"].get("image") or environment(
                server
            ) != environment(services["clickhouse"]):
                problems.append(f"{host}: not the same server as clickhouse")
            macros_file = mounted_file(server, f"{CONFIG_D}/macros.xml")
            if macros_file is None:
                problems.append(f"{host}: no macros mounted")
                continue
            macros = ET.parse(macros_file).getroot()
            shard = macros.findtext("macros/shard", "")
            if shard in shards:
                problems.append(f"{host}: shard macro {shard!r} is also {shards[shard]}'s")
            shards[shard] = host
            if macros.findtext("macros/replica") != host:
                problems.append(f"{host}: replica macro is not its host name")
    for node in config.iterfind("zookeeper/node"):
        host, port = node.findtext("host", ""), node.findtext("port", "")
        keeper = services.get(host)
        keeper_file = keeper and mounted_file(keeper, "/etc/clickhouse-keeper/keeper_config.xml")
        if not keeper_file:
            problems.append(f"Keeper {host!r} is not a service with a mounted configuration")
        elif ET.parse(keeper_file).getroot().findtext("keeper_server/tcp_port") != port:
            problems.append(f"{host}: Keeper does not listen on {port}")
    return problems


def key_problems(services: dict[str, Any]) -> list[str]:
    """The worker gets every key it loads, at the paths `keys generate` writes them."""
    generated: dict[str, str] = {}
    for _, argv in auditstream_commands(services):
        if command_path(argv) == "keys generate":
            generated |= {
                flag: path + suffix
                for _, _, flag, suffix in WORKER_KEYS
                if (path := option(argv, flag) or "")
            }
    problems = []
    for name, service in services.items():
        paths = [
            command_path(argv) for owner, argv in auditstream_commands(services) if owner == name
        ]
        if paths != ["worker"]:
            continue
        env = environment(service)
        for file_var, secret_var, flag, _ in WORKER_KEYS:
            if secret_var in env:
                continue
            if env.get(file_var) is None:
                problems.append(f"{name}: the worker needs {file_var} or {secret_var}")
            elif env[file_var] != generated.get(flag):
                problems.append(f"{name}: {file_var}={env[file_var]}, not keys generate {flag}")
    return problems


def pom_kafka_version() -> str:
    root = ET.parse(resource("kafka-pom.xml")).getroot()  # our own file
    version = root.findtext("m:properties/m:kafka.version", namespaces=POM_NS)
    assert version, "kafka-pom.xml has no kafka.version property"
    return version


def kafka_problems(services: dict[str, Any]) -> list[str]:
    kafka = services.get("kafka")
    if kafka is None:
        return ["no kafka service"]
    repo, tag = split_image(str(kafka.get("image", "")))
    problems = []
    if repo != "apache/kafka":
        problems.append(f"kafka: image {repo!r} is not apache/kafka")
    if tag != pom_kafka_version():
        problems.append(f"kafka: image tag {tag!r} != kafka-pom.xml {pom_kafka_version()}")
    env = environment(kafka)
    for var in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        if env.get(var) != "1":
            problems.append(f"kafka: {var}={env.get(var)!r}; a single node needs 1")
    if "controller" not in env.get("KAFKA_PROCESS_ROLES", ""):
        problems.append("kafka: not a KRaft controller (KAFKA_PROCESS_ROLES)")
    return problems


def ignored(path: str, patterns: list[str]) -> bool:
    hit = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        core = pattern.removeprefix("!").strip("/")
        if fnmatch.fnmatch(path, core) or fnmatch.fnmatch(path, core.removeprefix("**/")):
            hit = not negate
    return hit


# Tests -------------------------------------------------------------------------------------
def test_images_are_pinned(compose: dict[str, Any]) -> None:
    assert image_problems(compose["services"]) == []


def test_images_match_the_container_tests(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["minio"]["image"] == MINIO_IMAGE
    assert services["clickhouse"]["image"] == CLICKHOUSE_IMAGE


def test_kafka_image_is_the_pinned_broker_version(compose: dict[str, Any]) -> None:
    assert pom_kafka_version() == KAFKA_VERSION
    assert kafka_problems(compose["services"]) == []


def test_every_auditstream_command_parses(compose: dict[str, Any]) -> None:
    services = compose["services"]
    paths = {command_path(argv) for _, argv in auditstream_commands(services) if argv}
    assert paths >= PIPELINE, f"missing from the stack: {PIPELINE - paths}"
    assert command_problems(services) == []


def test_environment_is_what_auditstream_reads(compose: dict[str, Any]) -> None:
    assert env_problems(compose["services"]) == []


def test_endpoints_name_services(compose: dict[str, Any]) -> None:
    assert endpoint_problems(compose["services"]) == []


def test_dependencies_and_volumes_exist(compose: dict[str, Any]) -> None:
    assert dependency_problems(compose) == []


def test_worker_gets_the_generated_keys(compose: dict[str, Any]) -> None:
    assert key_problems(compose["services"]) == []


def test_the_cluster_overlay_is_a_consistent_cluster() -> None:
    services = merged(load(COMPOSE), load(CLUSTER_COMPOSE))["services"]
    assert {"keeper", "clickhouse-2"} <= set(services)
    assert cluster_problems(services) == []


def test_dockerfile_builds_the_cli() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["auditstream"\]\s*$', text, re.M)
    copied = set()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        copied |= {p.rstrip("/") for p in line.split()[:-1]}
    assert set(BUILD_INPUTS) <= copied
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [p for p in BUILD_INPUTS if ignored(p, patterns)] == []
    assert ignored(".venv", patterns) and ignored(".git", patterns)


# The checks can fail ------------------------------------------------------------------------
def test_checks_catch_broken_images(compose: dict[str, Any]) -> None:
    services = copy.deepcopy(compose["services"])
    services["minio"]["image"] = "minio/minio:latest"
    services["clickhouse"]["image"] = "clickhouse/clickhouse-server"
    services["kafka"]["image"] = "apache/kafka:3.9.0"
    assert len(image_problems(services)) == 2
    assert any("kafka-pom.xml" in p for p in kafka_problems(services))


def test_checks_catch_broken_commands_and_variables(compose: dict[str, Any]) -> None:
    services = copy.deepcopy(compose["services"])
    services["sink-s3"]["command"] = ["sink", "kafka"]
    services["init"]["command"] = [services["init"]["command"][0] + "auditstream migrate --nope\n"]
    services["worker"]["environment"]["AUDITSTREAM_NOT_A_SETTING"] = "1"
    services["worker"]["environment"]["AUDITSTREAM_METRICS_PORT"] = "ninety"
    services["worker"]["environment"]["AUDITSTREAM_HMAC_KEYS_FILE"] = "/elsewhere/hmac.json"
    services["sink-clickhouse"]["environment"]["AUDITSTREAM_KAFKA_BOOTSTRAP"] = "kafka:9999"
    assert len(command_problems(services)) == 2
    assert len(env_problems(services)) == 3
    assert len(key_problems(services)) == 1
    assert len(endpoint_problems(services)) == 1


def test_checks_catch_broken_dependencies(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["worker"]["depends_on"]["ghost"] = {"condition": "service_started"}
    del broken["services"]["kafka"]["healthcheck"]
    del broken["volumes"]["keys"]
    problems = dependency_problems(broken)
    assert any("ghost" in p for p in problems)
    assert any("no check" in p for p in problems)
    assert any("'keys'" in p for p in problems)


def test_checks_catch_a_broken_cluster() -> None:
    services = merged(load(COMPOSE), load(CLUSTER_COMPOSE))["services"]
    del services["sink-clickhouse"]["environment"][CLUSTER_ENV]
    services["cli"]["environment"][CLUSTER_ENV] = "elsewhere"
    second = services["clickhouse-2"]
    second["volumes"] = [v.replace("macros-2.xml", "macros-1.xml") for v in second["volumes"]]
    second["image"] = "clickhouse/clickhouse-server:24.3"
    problems = cluster_problems(services)
    assert any("sink-clickhouse: no" in p for p in problems)
    assert any("'elsewhere'" in p for p in problems)
    assert any("shard macro" in p for p in problems)
    assert any("replica macro" in p for p in problems)
    assert any("not the same server" in p for p in problems)
    assert len(problems) == 5
    services["clickhouse"]["volumes"].append("./deploy/nowhere.xml:/etc/x.xml:ro")
    assert any("nowhere.xml" in p for p in dependency_problems({"services": services}))
