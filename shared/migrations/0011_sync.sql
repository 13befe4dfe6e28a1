-- Offline sync (`/api/sync/push`, `/api/sync/pull`; `shared::sync` explains the protocol).
--
-- The cursor. 0001 planned "pull `row_version > cursor`", which loses rows: a transaction that
-- took version 10 can commit after one that took 11 was already pulled. Every synced row now
-- also records the transaction that last wrote it (`sync_xid`, set by the trigger below), and a
-- pull hands out only rows written by transactions older than the oldest one still running
-- (`pg_snapshot_xmin(pg_current_snapshot())`), in (`sync_xid`, `row_version`) order. Every
-- transaction below that horizon has finished, and a transaction that starts later gets a larger
-- id, so nothing can appear behind a cursor once it has passed. (A long transaction delays pulls;
-- it cannot make them skip.)
--
-- Per-field clocks. `field_clocks` maps a field to the hybrid logical clock of the write that set
-- it; `_deleted` holds the clock of the last delete. A push sets `sync.applying` and writes the
-- clocks itself; any other write (the REST routes, jobs) is stamped here with the server's clock,
-- so an older offline edit cannot overwrite a newer online one.
--
-- A write that changes nothing but clocks keeps its row's version: nothing to pull.

create function sync_server_hlc() returns text language sql volatile as $$
    select lpad(floor(extract(epoch from clock_timestamp()) * 1000)::bigint::text, 13, '0')
           || '-00000-server'
$$;

-- `before update` on every synced table; the arguments are the fields whose clocks are kept.
create function sync_touch() returns trigger language plpgsql as $$
declare
    v_new jsonb := to_jsonb(new) - 'field_clocks' - 'updated_at' - 'row_version' - 'sync_xid';
    v_old jsonb := to_jsonb(old) - 'field_clocks' - 'updated_at' - 'row_version' - 'sync_xid';
    v_field text;
    v_now text;
begin
    if v_new = v_old then
        new.row_version := old.row_version;
        new.updated_at := old.updated_at;
        new.sync_xid := old.sync_xid;
        return new;
    end if;
    new.row_version := nextval('sync_row_version');
    new.updated_at := now();
    new.sync_xid := pg_current_xact_id();
    if coalesce(current_setting('sync.applying', true), '') <> 'on' then
        v_now := sync_server_hlc();
        foreach v_field in array tg_argv loop
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

alter table masterclasses add column sync_xid xid8 not null default pg_current_xact_id();
alter table inscriptions add column sync_xid xid8 not null default pg_current_xact_id();
alter table questions add column sync_xid xid8 not null default pg_current_xact_id();
create index masterclasses_sync on masterclasses (sync_xid, row_version);
create index inscriptions_sync on inscriptions (sync_xid, row_version);
create index questions_sync on questions (sync_xid, row_version);

drop trigger masterclasses_touch on masterclasses;
create trigger masterclasses_touch before update on masterclasses for each row
    execute function sync_touch('title', 'description', 'starts_at', 'ends_at', 'published');
drop trigger inscriptions_touch on inscriptions;
create trigger inscriptions_touch before update on inscriptions for each row
    execute function sync_touch('attended');
drop trigger questions_touch on questions;
create trigger questions_touch before update on questions for each row
    execute function sync_touch('text', 'choice_a', 'choice_b', 'choice_c', 'choice_d', 'status',
                                'source_excerpt');

-- The key lives in its own table; its clock is the question's `correct`.
create function sync_touch_key() returns trigger language plpgsql as $$
begin
    if new.correct is distinct from old.correct
       and coalesce(current_setting('sync.applying', true), '') <> 'on' then
        update questions set field_clocks = jsonb_set(field_clocks, '{correct}', to_jsonb(sync_server_hlc()))
        where id = new.question_id;
    end if;
    return new;
end $$;
create trigger question_keys_clock after update on question_keys for each row
    execute function sync_touch_key();

-- App state that used to live in a browser's local storage: private to its owner.
create table documents (
    id           uuid primary key,
    owner_id     uuid not null default auth_uid(),
    key          text not null,
    value        jsonb not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    row_version  bigint not null default nextval('sync_row_version'),
    field_clocks jsonb not null default '{}',
    deleted_at   timestamptz,
    sync_xid     xid8 not null default pg_current_xact_id(),
    constraint documents_key_length check (char_length(key) between 1 and 200),
    constraint documents_value_size check (octet_length(value::text) <= 65536)
);
create unique index documents_one_live_per_key on documents (owner_id, key) where deleted_at is null;
create index documents_sync on documents (owner_id, sync_xid, row_version);
create trigger documents_touch before update on documents for each row
    execute function sync_touch('key', 'value');
alter table documents enable row level security;
alter table documents force row level security;
grant select, insert, update on documents to masterclass_app;
create policy documents_own on documents for all to masterclass_app
    using (owner_id = (select auth_uid())) with check (owner_id = (select auth_uid()));

-- A device (or a server acting as one): the last mutation applied from it, written in the same
-- transaction as the mutation's effects, so a retried batch is applied once.
create table sync_clients (
    client_id        uuid primary key,
    owner_id         uuid not null,
    last_mutation_id bigint not null default 0,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
alter table sync_clients enable row level security;
alter table sync_clients force row level security;
grant select, insert, update on sync_clients to masterclass_app;
create policy sync_clients_own on sync_clients for all to masterclass_app
    using (owner_id = (select auth_uid())) with check (owner_id = (select auth_uid()));

-- An inscription made offline at a registration desk keeps the id its device gave it.
drop function register_inscription(uuid, text, date, text, timestamptz, text, bytea, text, jsonb, text);
create function register_inscription(
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
    on conflict (masterclass_id, profile_id) do nothing
    returning id, created_at into v_inscription, v_at;
    if v_inscription is null then
        select i.id into v_inscription from inscriptions i
        where i.masterclass_id = p_masterclass_id and i.profile_id = v_profile;
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

grant create on schema public to masterclass_definer;
alter function register_inscription(uuid, uuid, text, date, text, timestamptz, text, bytea, text,
                                    jsonb, text) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function register_inscription(uuid, uuid, text, date, text, timestamptz, text, bytea,
                                            text, jsonb, text) from public;
grant execute on function register_inscription(uuid, uuid, text, date, text, timestamptz, text,
                                               bytea, text, jsonb, text) to masterclass_app;
