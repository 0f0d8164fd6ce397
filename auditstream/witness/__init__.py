"""Getting checkpoints cosigned by C2SP tlog-witness witnesses (https://c2sp.org/tlog-witness):
`client` speaks `add-checkpoint` to one witness, `feeder` submits every checkpoint of the
archive to every configured witness and stores the cosignatures beside it, `alerts`
reports refusals."""
