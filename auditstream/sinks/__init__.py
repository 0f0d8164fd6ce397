"""Sinks: ClickHouse for queries, S3 or a local directory for the archive."""
