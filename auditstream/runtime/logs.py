"""Log lines of every command: text (default) or one JSON object per line.

    auditstream --log-format json worker ...      (or AUDITSTREAM_LOG_FORMAT=json)

JSON lines carry "time" (UTC, ISO 8601), "level", "logger", "message" and, for errors
with a traceback, "exception": what log shippers (Vector, Fluent Bit, Loki) parse
without rules of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any, Final

FORMATS: Final = ("text", "json")
FORMAT_ENV: Final = "AUDITSTREAM_LOG_FORMAT"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
# librdkafka's own log lines. Every confluent-kafka client of this package is given it as
# its `logger`, so those lines go where all other log lines go instead of to stderr.
KAFKA_LOGGER: Final = logging.getLogger("librdkafka")
# Libraries speak up only for warnings, unless debugging; urllib3 and clickhouse-connect
# only for errors: their warnings are retries and wrapped exceptions that end in an error
# of the command's own. librdkafka reports every disconnect and reconnect at INFO.
LIBRARY_LEVELS: Final = {
    KAFKA_LOGGER.name: "WARNING",
    "urllib3": "ERROR",
    "botocore": "WARNING",
    "boto3": "WARNING",
    "s3transfer": "WARNING",
    "clickhouse_connect": "ERROR",
    "chdb": "WARNING",
    "matplotlib": "WARNING",
    "fontTools": "WARNING",
    "weasyprint": "ERROR",  # its warnings are CSS it ignores; each page logs at INFO
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def dict_config(form: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document: one stderr handler in `form`."""
    if form not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}")
    formatter: dict[str, Any] = {"()": JsonFormatter} if form == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"auditstream": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "auditstream",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": "DEBUG" if level == "DEBUG" else quiet}
            for name, quiet in LIBRARY_LEVELS.items()
        },
    }


def configure(form: str, level: str) -> None:
    logging.config.dictConfig(dict_config(form, level))
