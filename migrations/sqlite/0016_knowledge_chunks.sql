-- The chunks of each document generation (reliability issue 12), as the ingestion worker
-- indexed them: a JSON array of {chunk_index, text, title, url, heading_path, tags,
-- content_hash} (the row gives organization, document and generation). The vector index holds
-- the same chunks; this copy lets a process that cannot reach it build its keyword (BM25)
-- index from the database. A row is written before its generation is indexed and only the row
-- of a document's `active_generation` is ever read, so a generation still being indexed stays
-- invisible; the switch to a new generation deletes the others. The PostgreSQL twin of this
-- file is identical.
create table knowledge_chunks (
    document_id text not null references knowledge_documents (id) on delete cascade,
    organization_id text not null,
    generation bigint not null,
    chunks text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (document_id, generation)
);
create index knowledge_chunks_org on knowledge_chunks (organization_id, document_id);
