"""Real local services for development and tests, without Docker.

Kafka runs from Maven Central jars (KRaft, one node), MinIO is built with
`go install`, ClickHouse is embedded (chdb). Downloads and builds are cached in the
user cache; each stack keeps its pids, logs and data under its own state folder and
binds 127.0.0.1 on free ports, so several stacks can run side by side.
"""
