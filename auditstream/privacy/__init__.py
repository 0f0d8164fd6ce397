"""Erasure on request: personal fields encrypted under per-subject keys (decision 0021)."""
