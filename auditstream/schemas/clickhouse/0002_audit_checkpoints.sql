-- Signed checkpoints as the processor published them. Verification reads them but
-- trusts only the public key given to it, never this table.
-- distributed: audit_checkpoints
CREATE TABLE IF NOT EXISTS {database}.audit_checkpoints{local}{on_cluster}
(
    tenant_id     LowCardinality(String),
    chain_id      LowCardinality(String),
    tree_size     UInt64,
    root_hash     FixedString(32),
    key_name      LowCardinality(String),
    note          String,
    created_time  DateTime64(6, 'UTC')
)
ENGINE = {engine}
ORDER BY (chain_id, tree_size);
