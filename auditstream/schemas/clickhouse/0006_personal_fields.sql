-- Decrypted copies of the personal fields of protected events (decisions 0021, 0022),
-- written by a sink that holds the subject vault, for live subjects only. audit_events
-- keeps what the chain holds (the personal columns of a protected event are empty there);
-- queries read the clear values from here. `auditstream erase` deletes a subject's rows
-- with a synchronous mutation; old parts leave the disk after 30 s, not ClickHouse's
-- default 8 minutes.
-- distributed: audit_personal
CREATE TABLE IF NOT EXISTS {database}.audit_personal{local}{on_cluster}
(
    tenant_id       LowCardinality(String),
    chain_id        LowCardinality(String),
    seq             UInt64,
    event_id        String,
    event_time      DateTime64(6, 'UTC'),
    subject_digests Array(String),
    subject_ids     Array(String),
    actor_id        String,
    resource        String,
    session_id      String,
    message         String CODEC(ZSTD(3)),
    payload         String CODEC(ZSTD(3)),
    fields          String CODEC(ZSTD(3)),
    INDEX idx_personal_subject subject_digests TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {engine}
ORDER BY (tenant_id, chain_id, seq)
SETTINGS old_parts_lifetime = 30;
