-- Sealed audit events: every LogEntry field that queries filter or show, the
-- classification, and the chain skeleton with the exact stored body.
-- Placeholders: {database} {on_cluster} {local} {engine} {skeleton_days}
-- distributed: audit_events
CREATE TABLE IF NOT EXISTS {database}.audit_events{local}{on_cluster}
(
    -- where it sits in its chain
    tenant_id           LowCardinality(String),
    chain_id            LowCardinality(String),
    seq                 UInt64,
    prev_hash           FixedString(32),
    body_digest         FixedString(32),
    entry_hash          FixedString(32),
    key_id              LowCardinality(String),
    mac                 FixedString(32),
    -- what happened
    event_id            String,
    event_time          DateTime64(6, 'UTC'),
    received_time       DateTime64(6, 'UTC'),
    event_type          LowCardinality(String),
    outcome             LowCardinality(String),
    severity            UInt8,
    sensitivity         UInt8,
    actor_id            String,
    actor_type          LowCardinality(String),
    component           LowCardinality(String),
    environment         LowCardinality(String),
    resource            String,
    action              LowCardinality(String),
    policy_tags         Array(LowCardinality(String)),
    duration_ms         Float64,
    trace_id            String,
    session_id          String,
    ai_provider         LowCardinality(String),
    ai_model            LowCardinality(String),
    ai_input_tokens     UInt64,
    ai_output_tokens    UInt64,
    ai_conversation_id  String,
    ai_safety_passed    Nullable(Bool),
    ai_block_reason     String,
    mcp_tool_name       LowCardinality(String),
    change_resource_type LowCardinality(String),
    change_resource_id  String,
    validation_issues   Array(String),
    -- classification
    detections          Array(LowCardinality(String)),
    retention_class     LowCardinality(String),
    retain_until        DateTime('UTC'),
    legal_hold          Bool,
    -- content: blanked when retention expires (legal hold keeps it); the skeleton above
    -- stays {skeleton_days} days longer, so the chain still verifies
    message             String CODEC(ZSTD(3))
        TTL if(legal_hold, toDateTime('2105-12-31 00:00:00', 'UTC'), retain_until),
    payload             String CODEC(ZSTD(3))
        TTL if(legal_hold, toDateTime('2105-12-31 00:00:00', 'UTC'), retain_until),
    body                String CODEC(ZSTD(3))
        TTL if(legal_hold, toDateTime('2105-12-31 00:00:00', 'UTC'), retain_until),
    INDEX idx_actor actor_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_resource resource TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4
)
ENGINE = {engine}
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant_id, event_type, event_time, chain_id, seq)
TTL if(legal_hold, toDateTime('2105-12-31 00:00:00', 'UTC'), retain_until)
    + INTERVAL {skeleton_days} DAY DELETE;
