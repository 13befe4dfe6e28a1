-- Instance sync: a venue server (the same platform, run on a laptop) works alone and exchanges
-- changes with the cloud whenever the link is up (`shared::sync::peer` explains the run).
--
-- Who may sync. On the remote, an admin creates a *sync peer* and is shown its secret once; only
-- the secret's SHA-256 is kept, and the peer may be revoked. A request carrying the secret acts
-- as the peer: claims `{"role": "admin", "sub": <peer id>, "replication": true}`. The local side
-- applies what it pulls with the same claims, `sub` being its remote's id.
--
-- No echo. Every synced row records where its current state came from (`sync_source`): null
-- for a write made here, the peer's id (or the remote's) for a state received from it. A peer's
-- pull, and the local side's scan of what to push, leave out rows whose state came from the other
-- side. A received state is marked as coming from the sender only when the merged row is exactly
-- what the sender sent; if any field of ours won, the row is ours (null) and goes back, so the
-- sender learns the newer field.
--
-- Clocks. A write that is not a sync (REST routes, jobs) stamps every column it changes with the
-- server's clock (0011 stamped the fields devices write only), so a row's every field can be
-- merged by the newer clock; a delete's clock stays `_deleted` (0011).

-- Replication callers read and write every synced row.
create function auth_replicates() returns boolean language sql stable as $$
    select coalesce((auth_claims() ->> 'replication')::boolean, false)
$$;

-- (Redefined whole, as Postgres replaces a function only whole: from 0012's, it changes the
-- source handling, the version kept on a source change, and stamps every column.)
create or replace function sync_touch() returns trigger language plpgsql as $$
declare
    v_skip text[] := array['field_clocks', 'updated_at', 'row_version', 'sync_xid', 'sync_source'];
    v_new jsonb := to_jsonb(new) - v_skip;
    v_old jsonb := to_jsonb(old) - v_skip;
    v_field text;
    v_now text;
begin
    -- Replication says where the state came from; any other write makes it ours.
    if coalesce(current_setting('sync.replicating', true), '') <> 'on' then
        new.sync_source := null;
    end if;
    -- Unchanged: same data, no version set by the statement (0012: a key change), and not a
    -- state that was the sender's becoming ours (which must go back to the sender).
    if v_new = v_old and new.row_version = old.row_version
       and (new.sync_source is not null or old.sync_source is null) then
        new.updated_at := old.updated_at;
        new.sync_xid := old.sync_xid;
        return new;
    end if;
    new.row_version := nextval('sync_row_version');
    new.updated_at := now();
    new.sync_xid := pg_current_xact_id();
    if coalesce(current_setting('sync.applying', true), '') <> 'on' then
        v_now := sync_server_hlc();
        -- (a delete's clock is `_deleted`, never a field's: see `merge::alive`)
        for v_field in select jsonb_object_keys(v_new - 'deleted_at') loop
            if v_new -> v_field is distinct from v_old -> v_field then
                new.field_clocks := jsonb_set(new.field_clocks, array[v_field], to_jsonb(v_now));
            end if;
        end loop;
        if new.deleted_at is not null and old.deleted_at is null then
            new.field_clocks := jsonb_set(new.field_clocks, '{_deleted}', to_jsonb(v_now));
        end if;
    end if;
    return new;
end $$;

alter table masterclasses no force row level security;
alter table inscriptions no force row level security;
alter table questions no force row level security;
alter table test_attempts no force row level security;

alter table masterclasses add column sync_source uuid;
alter table questions add column sync_source uuid;
-- (documents stay on their instance, but share the trigger)
alter table documents add column sync_source uuid;
alter table inscriptions
    add column sync_source uuid,
    -- the inscription this one was merged into (the same person registered for the same
    -- masterclass on two instances while apart): deleted, its attempts moved to the survivor
    add column merged_into uuid,
    -- the student's photo taken at the desk, once an upload has been confirmed
    add column photo_key text,
    add column photo_size bigint,
    add column photo_content_type text,
    add constraint inscriptions_photo_complete check (
        (photo_key is null) = (photo_size is null) and (photo_key is null) = (photo_content_type is null));

-- Test results sync too (insert-only; an attempt moves only when inscriptions merge).
alter table test_attempts
    add column sync_xid xid8 not null default pg_current_xact_id(),
    add column field_clocks jsonb not null default '{}',
    add column deleted_at timestamptz,
    add column updated_at timestamptz not null default now(),
    add column sync_source uuid,
    -- another attempt of the same kind by the same person counts (see below): kept, not counted
    add column superseded boolean not null default false;
alter table test_attempts drop constraint test_attempts_one_per_kind;
create unique index test_attempts_one_per_kind on test_attempts (inscription_id, kind)
    where not superseded;
create index test_attempts_sync on test_attempts (sync_xid, row_version);
create trigger test_attempts_touch before update on test_attempts for each row
    execute function sync_touch();

-- One live inscription per person and masterclass; a merged one is kept, deleted.
alter table inscriptions drop constraint inscriptions_one_per_person;
create unique index inscriptions_one_per_person on inscriptions (masterclass_id, profile_id)
    where deleted_at is null;
-- Settling a person reads all their inscriptions, deleted ones included, and follows
-- `merged_into`; attempts are found by inscription. (Without these, each record a venue pushes
-- scanned every inscription and attempt: a venue day synced at 20 records a second.)
create index inscriptions_person on inscriptions (masterclass_id, profile_id);
create index inscriptions_merged_into on inscriptions (merged_into) where merged_into is not null;
create index test_attempts_inscription on test_attempts (inscription_id);

alter table masterclasses force row level security;
alter table inscriptions force row level security;
alter table questions force row level security;
alter table test_attempts force row level security;

-- The one live inscription per person is now a partial unique index, which `on conflict` must
-- name with its predicate. (Redefined whole, as Postgres replaces a function only whole: from
-- 0011's, only the `on conflict` clause and the lookup of the existing inscription change.)
create or replace function register_inscription(
    p_id uuid,
    p_masterclass_id uuid,
    p_full_name text,
    p_date_of_birth date,
    p_whatsapp_number text,
    p_consent_at timestamptz,
    p_consent_version text,
    p_token_hash bytea,
    p_message_type text,
    p_message_data jsonb,
    p_message_body text
) returns table (inscription_id uuid, profile_id uuid, registered_at timestamptz, existing boolean)
language plpgsql security definer set search_path = public as $$
#variable_conflict use_column
declare
    v_number text := auth_registrar_number();
    v_profile uuid;
    v_inscription uuid;
    v_at timestamptz;
begin
    if v_number is null or p_whatsapp_number is distinct from v_number then
        raise exception 'a registrar registers the number of its claims only'
            using errcode = '42501';
    end if;
    perform 1 from masterclasses m
    where m.id = p_masterclass_id and m.published and m.deleted_at is null;
    if not found then
        raise exception 'masterclass % is not open for registration', p_masterclass_id
            using errcode = '42501';
    end if;
    v_profile := register_profile(p_full_name, p_date_of_birth, p_consent_at, p_consent_version);
    insert into inscriptions (id, masterclass_id, profile_id, full_name, date_of_birth,
                              whatsapp_number, consent_at, consent_version)
    values (coalesce(p_id, gen_random_uuid()), p_masterclass_id, v_profile, p_full_name,
            p_date_of_birth, v_number, p_consent_at, p_consent_version)
    on conflict (masterclass_id, profile_id) where deleted_at is null do nothing
    returning id, created_at into v_inscription, v_at;
    if v_inscription is null then
        select i.id into v_inscription from inscriptions i
        where i.masterclass_id = p_masterclass_id and i.profile_id = v_profile
          and i.deleted_at is null;
        return query select v_inscription, v_profile, null::timestamptz, true;
        return;
    end if;
    insert into inscription_tokens (inscription_id, token_hash) values (v_inscription, p_token_hash);
    insert into outbox_messages (inscription_id, profile_id, to_number, message_type, data, body,
                                 dedupe_key)
    values (v_inscription, v_profile, v_number, p_message_type, p_message_data,
            p_message_body, p_message_type || ':' || v_inscription)
    on conflict (dedupe_key) do nothing;
    insert into audit_log (action, entity, entity_id, details)
    values ('inscription.created', 'inscription', v_inscription::text,
            jsonb_build_object('masterclass_id', p_masterclass_id));
    return query select v_inscription, v_profile, v_at, false;
end $$;

-- Replication reads and writes every synced row, and the profiles it resolves by number.
create policy masterclasses_replication on masterclasses for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy inscriptions_replication on inscriptions for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy profiles_replication on profiles for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy inscription_tokens_replication on inscription_tokens for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy questions_replication on questions for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy question_keys_replication on question_keys for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy test_papers_replication on test_papers for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy test_attempts_replication on test_attempts for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy outbox_messages_replication on outbox_messages for update to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
create policy test_answers_replication on test_answers for all to masterclass_app
    using ((select auth_replicates())) with check ((select auth_replicates()));
grant insert on profiles to masterclass_app;

-- On the remote: the instances that may sync with it.
create table sync_peers (
    id           uuid primary key default gen_random_uuid(),
    name         text not null,
    secret_hash  bytea not null,
    created_by   uuid references staff_users (id),
    created_at   timestamptz not null default now(),
    revoked_at   timestamptz,
    last_seen_at timestamptz,
    constraint sync_peers_name_length check (char_length(name) between 1 and 100),
    constraint sync_peers_secret_unique unique (secret_hash)
);

-- On the local side: its remote (one), where it stands with it, and what it must still push.
create table sync_remotes (
    id               uuid primary key default gen_random_uuid(),
    url              text not null unique,
    -- this instance as a client of the remote's push
    client_id        uuid not null default gen_random_uuid(),
    -- the scan of local changes to push: per collection, its position in the local stream
    -- (`{"inscriptions": ["812", "40211"], ...}`: transaction id and row version), scanned
    -- collection after collection so that what others refer to is queued first
    scan             jsonb not null default '{}',
    -- the remote's pull cursor
    pull_cursor      text,
    -- the next mutation id to give a queued change, and the last the remote acknowledged
    next_mutation_id bigint not null default 1,
    acknowledged     bigint not null default 0,
    -- a run holds the remote until then (a lease, so that a crashed run frees it)
    leased_until     timestamptz,
    leased_by        uuid,
    created_at       timestamptz not null default now()
);

-- Changes queued for the remote, numbered once (so a push retried after any failure is
-- recognised by the remote as the same mutations), removed once acknowledged.
create table sync_queue (
    remote_id   uuid not null references sync_remotes (id) on delete cascade,
    mutation_id bigint not null,
    collection  text not null,
    record_id   uuid not null,
    fields      jsonb not null,
    clocks      jsonb not null,
    queued_at   timestamptz not null default now(),
    primary key (remote_id, mutation_id)
);

-- A received change whose reference (a masterclass, a question) has not arrived yet: kept, and
-- tried again when one of the records it refers to arrives (and at the start of every run).
-- Nothing received is dropped.
create table sync_parked (
    collection text not null,
    record_id  uuid not null,
    fields     jsonb not null,
    clocks     jsonb not null,
    source     uuid not null,
    -- the records it refers to: it is tried again when one of them arrives
    waiting_for uuid[] not null default '{}',
    parked_at  timestamptz not null default now(),
    last_error text,
    primary key (collection, record_id)
);
create index sync_parked_waiting on sync_parked using gin (waiting_for);

-- Objects (handouts) that records exchanged with the remote refer to, to copy once each way:
-- `up` to the remote, `down` from it. Noted in the transaction that queues or applies the
-- record, copied by the run after its pull, marked when copied; a failed copy is tried again
-- by the next run.
create table sync_objects (
    remote_id  uuid not null references sync_remotes (id) on delete cascade,
    key        text not null,
    direction  text not null,
    noted_at   timestamptz not null default now(),
    copied_at  timestamptz,
    attempts   integer not null default 0,
    last_error text,
    primary key (remote_id, direction, key),
    constraint sync_objects_direction check (direction in ('up', 'down'))
);
create index sync_objects_pending on sync_objects (remote_id, direction, noted_at)
    where copied_at is null;

-- What each run did, for admins.
create table sync_runs (
    id          uuid primary key default gen_random_uuid(),
    remote_url  text not null,
    trigger     text not null,
    status      text not null default 'running',
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    pushed      integer not null default 0,
    pulled      integer not null default 0,
    rejected    integer not null default 0,
    -- objects copied, both ways
    objects     integer not null default 0,
    errors      jsonb not null default '[]',
    next_cursor text,
    constraint sync_runs_trigger check (trigger in ('schedule', 'manual')),
    constraint sync_runs_status check (status in ('running', 'succeeded', 'failed', 'skipped'))
);
create index sync_runs_recent on sync_runs (started_at desc);

alter table sync_peers enable row level security;
alter table sync_peers force row level security;
alter table sync_remotes enable row level security;
alter table sync_remotes force row level security;
alter table sync_queue enable row level security;
alter table sync_queue force row level security;
alter table sync_parked enable row level security;
alter table sync_parked force row level security;
alter table sync_objects enable row level security;
alter table sync_objects force row level security;
alter table sync_runs enable row level security;
alter table sync_runs force row level security;
grant select, insert, update, delete on sync_peers, sync_remotes, sync_queue, sync_parked, sync_runs,
    sync_objects to masterclass_app;
create policy sync_peers_admin on sync_peers for all to masterclass_app
    using ((select auth_is_admin()) and not (select auth_replicates()))
    with check ((select auth_is_admin()) and not (select auth_replicates()));
create policy sync_peers_self on sync_peers for select to masterclass_app
    using ((select auth_replicates()) and id = (select auth_uid()));
create policy sync_remotes_admin on sync_remotes for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy sync_queue_admin on sync_queue for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy sync_parked_admin on sync_parked for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy sync_objects_admin on sync_objects for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy sync_runs_admin on sync_runs for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));

-- A presented peer secret: the peer's id if the secret is known and not revoked. Run before the
-- caller is known, so as `masterclass_definer`; notes when the peer was last seen (at most once a
-- minute, to keep requests read-mostly).
create function auth_sync_peer(p_secret_hash bytea) returns uuid
language plpgsql volatile security definer set search_path = public as $$
declare
    v_id uuid;
begin
    select id into v_id from sync_peers where secret_hash = p_secret_hash and revoked_at is null;
    if v_id is not null then
        update sync_peers set last_seen_at = now()
        where id = v_id and (last_seen_at is null or last_seen_at < now() - interval '1 minute');
    end if;
    return v_id;
end $$;

grant select, update on sync_peers to masterclass_definer;
create policy sync_peers_definer on sync_peers for all to masterclass_definer
    using (true) with check (true);
grant create on schema public to masterclass_definer;
alter function auth_sync_peer(bytea) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function auth_sync_peer(bytea) from public;
grant execute on function auth_sync_peer(bytea) to masterclass_app;

-- One person (a WhatsApp number) registered for one masterclass on two instances while apart
-- has two inscriptions once they sync. Each instance settles them the same way, whatever order
-- they arrived in, so both end alike:
-- - the inscription registered first (then the smaller id) survives; the others are deleted
--   and name it in `merged_into`;
-- - their access tokens move to it (every link the student was sent keeps working), and their
--   queued messages name it;
-- - every attempt of the person moves to it; of each kind, the one submitted first counts and the
--   others are kept with `superseded` (never lost, never counted twice);
-- - it keeps its paper, or takes the earliest of the others'.
-- Run by replication only (locally the unique index makes a second inscription impossible).
-- The writes are replication's own: no clock is stamped, nothing here is merged by clock.
-- Of each kind, the first attempt on inscription `p_inscription` counts, the others are
-- superseded; in two steps (supersede, then count) so the unique index holds at every row.
create function sync_count_first_attempts(p_inscription uuid) returns void language sql as $$
    with ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id = p_inscription
    )
    update test_attempts a set superseded = true
    from ranked r where a.id = r.id and r.n > 1 and not a.superseded;
    with ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id = p_inscription
    )
    update test_attempts a set superseded = false
    from ranked r where a.id = r.id and r.n = 1 and a.superseded;
$$;

create function sync_settle_inscriptions(p_masterclass uuid, p_profile uuid) returns uuid
language plpgsql as $$
declare
    v_winner uuid;
    v_moved bigint;
    v_papers bigint;
begin
    select id into v_winner from inscriptions
    where masterclass_id = p_masterclass and profile_id = p_profile
    order by created_at, id limit 1;
    if v_winner is null then
        return null;
    end if;
    if not exists (select 1 from inscriptions where masterclass_id = p_masterclass
                   and profile_id = p_profile and id <> v_winner) then
        -- The person's only inscription (almost always): alive, and its first attempt of each
        -- kind counts.
        update inscriptions set deleted_at = null, merged_into = null
        where id = v_winner and (deleted_at is not null or merged_into is not null);
        perform sync_count_first_attempts(v_winner);
        return v_winner;
    end if;
    update inscriptions set deleted_at = coalesce(deleted_at, now()), merged_into = v_winner
    where masterclass_id = p_masterclass and profile_id = p_profile and id <> v_winner
      and (merged_into is distinct from v_winner or deleted_at is null);
    update inscriptions set deleted_at = null, merged_into = null
    where id = v_winner and (deleted_at is not null or merged_into is not null);
    update inscription_tokens set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    get diagnostics v_moved = row_count;
    update outbox_messages set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    insert into test_papers (inscription_id, question_ids)
    select v_winner, pp.question_ids from test_papers pp
    join inscriptions i on i.id = pp.inscription_id and i.merged_into = v_winner
    order by pp.created_at, pp.inscription_id limit 1
    on conflict (inscription_id) do nothing;
    get diagnostics v_papers = row_count;
    -- The survivor's record now carries more (tokens, a paper) than the side that sent it
    -- knows: a new version, ours, so that it goes back.
    if v_moved + v_papers > 0 then
        update inscriptions set row_version = nextval('sync_row_version'), sync_source = null
        where id = v_winner;
    end if;
    -- Supersede first, then move, then count the first of each kind: the unique index holds at
    -- every step.
    with person as (
        select id from inscriptions where masterclass_id = p_masterclass and profile_id = p_profile
    ), ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id in (select id from person)
    )
    update test_attempts a set superseded = true
    from ranked r where a.id = r.id and r.n > 1 and not a.superseded;
    update test_attempts set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    perform sync_count_first_attempts(v_winner);
    return v_winner;
end $$;

-- An inscription's access tokens travel with it (their hashes, and whether each is revoked), so
-- a revocation gives the inscription a new version: the student revoking their own token may
-- not write the inscription, hence a definer. (A new token comes with a revocation, or with the
-- inscription itself at registration.)
create function sync_touch_token() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    update inscriptions set row_version = nextval('sync_row_version') where id = new.inscription_id;
    return null;
end $$;
grant update on inscriptions to masterclass_definer;
create policy inscriptions_definer_touch on inscriptions for update to masterclass_definer
    using (true) with check (true);
grant create on schema public to masterclass_definer;
alter function sync_touch_token() owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function sync_touch_token() from public;
create trigger inscription_tokens_revoked after update of revoked_at on inscription_tokens
    for each row when (new.revoked_at is not null and old.revoked_at is null)
    execute function sync_touch_token();
