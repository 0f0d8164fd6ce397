-- Entries by chain and seq, for verification and proofs: the skeleton without content,
-- kept in (chain, seq) order by a projection.
ALTER TABLE {database}.audit_events{local}{on_cluster}
    ADD PROJECTION IF NOT EXISTS by_chain
    (
        SELECT chain_id, seq, prev_hash, body_digest, entry_hash, key_id, mac, event_id, tenant_id
        ORDER BY (chain_id, seq)
    );
