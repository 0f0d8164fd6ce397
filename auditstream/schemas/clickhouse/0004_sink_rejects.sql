-- Records a sink could not store: not a sealed entry or checkpoint, a malformed
-- skeleton, or a body ClickHouse cannot parse. Kept with the reason and the exact bytes,
-- so nothing the pipeline delivered is dropped without a trace; verification reports
-- the seqs they leave out as gaps.
-- distributed: sink_rejects
CREATE TABLE IF NOT EXISTS {database}.sink_rejects{local}{on_cluster}
(
    rejected_time  DateTime64(3, 'UTC'),
    topic          LowCardinality(String),
    partition      UInt32,
    offset         UInt64,
    chain_id       String,
    reason         String,
    value          String CODEC(ZSTD(3))
)
ENGINE = {engine}
ORDER BY (rejected_time, topic, partition, offset)
TTL toDateTime(rejected_time) + INTERVAL 90 DAY DELETE;
