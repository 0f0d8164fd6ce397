"""The stream processor: a Faust app that validates, classifies and seals raw events."""

# Raw records per transaction, at most. Each commit costs a few round trips to the
# broker whatever its size: under a backlog 10,000 records per transaction sealed ~30%
# more per second than 2,000 (bench/processor.py), and a light load is not held back
# (a round takes what came within `batch_within_s`).
DEFAULT_BATCH_SIZE = 10_000
