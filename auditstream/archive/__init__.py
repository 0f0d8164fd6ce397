"""The archive: immutable segments in S3 (Object Lock) or a local directory."""
