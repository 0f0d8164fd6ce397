"""The pure core: schema helpers, sealing, Merkle trees, checkpoints, verification.

Nothing in this package reads files, the environment or the clock, or talks to a
network; callers pass everything in.
"""
