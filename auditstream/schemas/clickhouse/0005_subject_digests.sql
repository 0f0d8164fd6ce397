-- Blind indexes of per-subject protection (decision 0021): the hex digests of an
-- event's data subjects and of its actor, so that "everything of subject X" is found by
-- digest, also after X's fields are erased. Empty for events sealed in clear.
ALTER TABLE {database}.audit_events{local}{on_cluster}
    ADD COLUMN IF NOT EXISTS subject_digests Array(String) AFTER legal_hold,
    ADD COLUMN IF NOT EXISTS actor_digest String AFTER subject_digests,
    ADD INDEX IF NOT EXISTS idx_subject subject_digests TYPE bloom_filter(0.01) GRANULARITY 4,
    ADD INDEX IF NOT EXISTS idx_actor_digest actor_digest TYPE bloom_filter(0.01) GRANULARITY 4;
-- The Distributed table of a cluster has its own column list (on one server this is the
-- same table, and a no-op).
ALTER TABLE {database}.audit_events{on_cluster}
    ADD COLUMN IF NOT EXISTS subject_digests Array(String) AFTER legal_hold,
    ADD COLUMN IF NOT EXISTS actor_digest String AFTER subject_digests;
