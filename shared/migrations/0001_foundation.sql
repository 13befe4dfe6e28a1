-- Foundation: masterclasses, idempotency keys, and the columns every synced table carries.
--
-- Sync design (used by the offline-sync work that follows): every synced table has
--   row_version  a number from one global sequence, bumped on every write: "pull since cursor"
--                is `where row_version > $cursor order by row_version`;
--   field_clocks per-field hybrid logical clock timestamps (jsonb: field -> HLC string), for
--                per-field last-writer-wins merges of pushed changes;
--   deleted_at   tombstone: deletes are updates, so a pull sees them.

create sequence sync_row_version;

create function touch_row() returns trigger language plpgsql as $$
begin
    new.row_version := nextval('sync_row_version');
    new.updated_at := now();
    return new;
end $$;

create table masterclasses (
    id              uuid primary key default gen_random_uuid(),
    title           text not null,
    description     text not null default '',
    starts_at       timestamptz not null,
    ends_at         timestamptz not null,
    published       boolean not null default false,
    -- the PDF handout, once an upload has been confirmed
    pdf_key         text,
    pdf_size        bigint,
    pdf_uploaded_at timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    row_version     bigint not null default nextval('sync_row_version'),
    field_clocks    jsonb not null default '{}',
    deleted_at      timestamptz,
    constraint masterclasses_title_length check (char_length(title) between 3 and 200),
    constraint masterclasses_description_length check (char_length(description) <= 5000),
    constraint masterclasses_schedule check (ends_at > starts_at),
    constraint masterclasses_pdf_complete check ((pdf_key is null) = (pdf_size is null))
);

create trigger masterclasses_touch before update on masterclasses
    for each row execute function touch_row();

create index masterclasses_listing on masterclasses (starts_at) where deleted_at is null;
create index masterclasses_row_version on masterclasses (row_version);

-- A saved response per Idempotency-Key, so a retried POST returns the first answer.
create table idempotency_keys (
    scope           text not null,
    key             text not null,
    request_hash    text not null,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz not null default now(),
    primary key (scope, key)
);

create index idempotency_keys_created_at on idempotency_keys (created_at);
