"""auditstream: a tamper-evident audit pipeline.

The pure core (`auditstream.core`) has no IO; producers, processors, sinks and the CLI
do the talking to Kafka, ClickHouse, S3 and disks.
"""

__version__ = "0.1.0"
