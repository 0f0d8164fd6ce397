"""Verifying stored data: ClickHouse and the archive as sources for the core verifier,
the cross-check between them, and inclusion and consistency proofs.

Nothing here trusts the store it reads: hashes are recomputed from stored bytes,
checkpoints count only when signed by a public key the caller supplies, and the
queryable columns are compared with the body they claim to describe.
"""
