-- Knowledge base (issue 3): documents, their extracted content waiting to be indexed, and the
-- durable ingestion jobs. Chunks and vectors live in the vector index (Qdrant), keyed by
-- document id and generation; `active_generation` says which generation retrieval may return,
-- so a refresh or a crash mid-ingestion never exposes half a document.
-- Timestamps are unix milliseconds; JSON is TEXT. The PostgreSQL twin of this file is identical.

create table knowledge_documents (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    title text not null,
    -- file | url | text | faq | product
    source_kind text not null,
    url text,
    -- processing | ready | failed
    status text not null,
    failure_reason text,
    chunk_count bigint not null default 0,
    -- sha256 (hex) of the normalised text; equal hashes in one organization are duplicates.
    content_hash text,
    -- JSON array of strings.
    tags text not null default '[]',
    -- JSON object supplied by the uploader.
    metadata text not null default '{}',
    -- JSON crawl options of a url source ({"max_pages", "same_site"}).
    crawl text,
    -- 0 until the first generation is fully indexed.
    active_generation bigint not null default 0,
    refresh_interval_secs bigint,
    next_refresh_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index knowledge_documents_org on knowledge_documents (organization_id, created_at, id);
create index knowledge_documents_hash on knowledge_documents (organization_id, content_hash);
create index knowledge_documents_refresh on knowledge_documents (next_refresh_at);

-- Extracted content of uploads (JSON), kept until the document is indexed so a job that is
-- interrupted can start again after a restart.
create table knowledge_sources (
    document_id text primary key references knowledge_documents (id) on delete cascade,
    organization_id text not null,
    content text not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- status: queued | running (claimed until locked_until, renewed while it runs) | done | failed
create table ingest_jobs (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    document_id text not null,
    -- ingest | refresh
    kind text not null,
    status text not null,
    attempts bigint not null default 0,
    run_after bigint not null,
    locked_until bigint,
    error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index ingest_jobs_ready on ingest_jobs (status, run_after);
create index ingest_jobs_document on ingest_jobs (document_id);
