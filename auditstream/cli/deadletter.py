"""`auditstream deadletter show`: read the dead-letter topic; with the operator's key,
the records as they were received.

Without `--key` a letter shows only its masked copy. With the private key of
`keys generate --dead-letter`, the original is decrypted and printed: that is what the
key is for, so keep the output where the secrets in it may go.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from google.protobuf.message import DecodeError

from auditstream.cli import common
from auditstream.errors import AuditStreamError, ConfigError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings import keyfiles
from auditstream.settings.connection import KafkaConnection


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("deadletter", help="read dead letters (decrypted with --key)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="print dead letters: masked, or as received with the operator's key"
    )
    common.add_settings_args(show)
    show.add_argument(
        "--key", type=Path, help="dead-letter private key file (decrypts the originals)"
    )
    show.add_argument("--partition", type=_natural, help="only this dead-letter partition")
    show.add_argument("--offset", type=_natural, help="only the letter at this offset")
    show.add_argument("--limit", type=_natural, default=20, help="at most this many letters")
    show.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for Kafka")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=_show)


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _show(args: argparse.Namespace) -> int:
    if args.offset is not None and args.partition is None:
        raise ConfigError("--offset needs --partition")
    if args.timeout <= 0:
        raise ConfigError("--timeout must be positive")
    key = keyfiles.load_dead_letter_key(args.key) if args.key else None
    settings = common.settings_from(args)
    failed = 0
    for position, data in _letters(settings.kafka, settings.topics.deadletter, args):
        try:
            letter = sealed.DeadLetter.FromString(data)
        except DecodeError:
            # Not written by a worker: say so and go on to the letters after it.
            error = f"not a dead letter ({len(data)} bytes)"
            print(
                json.dumps({"letter": position, "error": error})
                if args.format == "json"
                else f"{position}  {error}"
            )
            failed += 1
            continue
        shown = _describe(position, letter)
        if key is not None:
            try:
                shown["original"] = _record(key.open(letter))
            except AuditStreamError as exc:
                shown["original"] = {"error": str(exc)}
                failed += 1
        print(json.dumps(shown) if args.format == "json" else _text(shown))
    return 2 if failed else 0


def _letters(
    kafka: KafkaConnection, topic: str, args: argparse.Namespace
) -> Iterator[tuple[str, bytes]]:
    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": f"auditstream-deadletter-show-{time.time_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "logger": KAFKA_LOGGER,
            # A broker it cannot reach ends in this command's own one-line error;
            # librdkafka's per-attempt connection errors would only repeat it.
            "log_level": 2,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=args.timeout)
        except KafkaException as exc:
            raise ConfigError(f"Kafka at {kafka.bootstrap}: {exc.args[0].str()}") from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise ConfigError(f"topic {topic} does not exist at {kafka.bootstrap}")
        partitions = sorted(found.partitions)
        if args.partition is not None:
            if args.partition not in found.partitions:
                raise ConfigError(f"topic {topic} has no partition {args.partition}")
            partitions = [args.partition]
        shown = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=args.timeout
            )
            start = low if args.offset is None else args.offset
            end = high if args.offset is None else min(high, args.offset + 1)
            if start >= end:
                continue
            consumer.assign([TopicPartition(topic, partition, start)])
            deadline = time.monotonic() + args.timeout
            while shown < args.limit and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                offset = message.offset() or 0
                if offset >= end:
                    break
                shown += 1
                yield f"{topic}/{partition}/{offset}", message.value() or b""
                if offset + 1 >= end:
                    break
    finally:
        consumer.close()


def _bytes(data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}
    return {"text": text} if text.isprintable() else {"base64": base64.b64encode(data).decode()}


def _record(record: sealed.OriginalRecord) -> dict[str, Any]:
    return {
        "key": _bytes(record.key),
        "value": _bytes(record.value),
        "headers": [{"key": h.key, "value": _bytes(h.value)} for h in record.headers],
    }


def _describe(position: str, letter: sealed.DeadLetter) -> dict[str, Any]:
    source = letter.source
    return {
        "letter": position,
        "source": f"{source.topic}/{source.partition}/{source.offset}",
        "reason": sealed.DeadLetterReason.Name(letter.reason),
        "detail": letter.detail,
        "received": letter.received_time.ToJsonString(),
        "masked": [f"{d.kind} in {d.field} ({d.count})" for d in letter.detections],
        "sealed_for": letter.sealed_original.key_id or None,
        "masked_record": {
            "key": _bytes(letter.original_key),
            "value": _bytes(letter.original_value),
            "headers": [{"key": h.key, "value": _bytes(h.value)} for h in letter.original_headers],
        },
    }


def _text(shown: dict[str, Any]) -> str:
    lines = [
        f"{shown['letter']}  from {shown['source']}  {shown['reason']}  "
        f"received {shown['received']}",
        f"  detail: {shown['detail']}",
    ]
    if shown["masked"]:
        lines.append(f"  masked: {', '.join(shown['masked'])}")
    record = shown.get("original") or shown["masked_record"]
    label = "original" if "original" in shown else "masked"
    if "error" in record:
        lines.append(f"  original: cannot open: {record['error']}")
        return "\n".join(lines)
    if label == "masked":
        sealed_for = shown["sealed_for"]
        lines.append(
            f"  original: encrypted for key {sealed_for!r} (--key opens it)"
            if sealed_for
            else "  original: not kept (the worker had no dead-letter key)"
        )
    for name in ("key", "value"):
        lines.append(f"  {label} {name}: {_value(record[name])}")
    for header in record["headers"]:
        lines.append(f"  {label} header {header['key']}: {_value(header['value'])}")
    return "\n".join(lines)


def _value(value: dict[str, str]) -> str:
    return value["text"] if "text" in value else f"base64:{value['base64']}"
