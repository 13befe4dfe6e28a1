-- Personal data: consent history, withdrawal, erasure; and the reading role of backups.
--
-- Who a person is here: a profile (one per WhatsApp number) and its inscriptions, which carry
-- the name, date of birth and number each registration was made with. Personal data is those
-- fields, the messages to and from the number (bodies, numbers, provider payloads), and
-- anything that copied them (idempotency answers, sync queues, audit details, webhook events).
-- Scores, answers (letters), attendance and times are not, once nothing ties them to a person.

-- Consent as a history: given at registration, withdrawn or given again on the web (per
-- inscription), STOP / START on WhatsApp (per number).
create table consent_events (
    id             bigint generated always as identity primary key,
    profile_id     uuid not null references profiles (id),
    inscription_id uuid references inscriptions (id),
    given          boolean not null,
    source         text not null,
    version        text,
    at             timestamptz not null default now(),
    constraint consent_events_source check (source in ('registration', 'web', 'whatsapp', 'staff'))
);
create index consent_events_profile on consent_events (profile_id, at);
create index consent_events_inscription on consent_events (inscription_id, at);

insert into consent_events (profile_id, inscription_id, given, source, version, at)
select profile_id, id, true, 'registration', consent_version, consent_at from inscriptions;
insert into consent_events (profile_id, given, source, at)
select id, false, 'whatsapp', opted_out_at from profiles where opted_out_at is not null;

grant select, insert on consent_events to masterclass_app;
alter table consent_events enable row level security;
alter table consent_events force row level security;
create policy consent_events_staff on consent_events for select to masterclass_app using (
    (select auth_is_admin())
    or exists (select 1 from inscriptions i where i.profile_id = consent_events.profile_id
               and i.masterclass_id in (select auth_tutored())));
create policy consent_events_own on consent_events for select to masterclass_app
    using (inscription_id = (select auth_student_inscription()));
create policy consent_events_admin_write on consent_events for insert to masterclass_app
    with check ((select auth_is_admin()));

-- A registration's consent withdrawn on the web: its messages stop (the number's STOP stays the
-- number's own: a web page cannot lift it, since a token proves a registration, not the number).
alter table inscriptions add column consent_withdrawn_at timestamptz;
alter table inscriptions add column erased_at timestamptz;
alter table profiles add column erased_at timestamptz;

-- An erased profile keeps no number, so the number is unique among live profiles only (a person
-- erased and registering again is a new profile).
alter table profiles drop constraint profiles_whatsapp_unique;
create unique index profiles_whatsapp_unique on profiles (whatsapp_number) where erased_at is null;

create or replace function register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamptz,
                                            p_consent_version text)
returns uuid language plpgsql volatile security definer set search_path = public as $$
declare
    v_number text := auth_registrar_number();
    v_id uuid;
begin
    if v_number is null then
        raise exception 'only a registration creates a profile' using errcode = '42501';
    end if;
    insert into profiles (full_name, date_of_birth, whatsapp_number, consent_at, consent_version)
    values (p_full_name, p_date_of_birth, v_number, p_consent_at, p_consent_version)
    on conflict (whatsapp_number) where erased_at is null do nothing
    returning id into v_id;
    if v_id is null then
        select id into v_id from profiles where whatsapp_number = v_number and erased_at is null;
    end if;
    return v_id;
end $$;

-- Every registration's consent lands in the history (whichever path registered it); not while
-- a backup is restored, which brings the history with it.
create function consent_of_registration() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if current_setting('masterclass.restoring', true) = 'on' then
        return null;
    end if;
    insert into consent_events (profile_id, inscription_id, given, source, version, at)
    values (new.profile_id, new.id, true, 'registration', new.consent_version, new.consent_at);
    return null;
end $$;
create trigger inscriptions_consent after insert on inscriptions
    for each row when (new.erased_at is null) execute function consent_of_registration();

-- What stands in for erased text and numbers (a number no one has: +990 is unassigned).
create function erased_name() returns text language sql immutable return 'Effacé';
create function erased_number() returns text language sql immutable return '+99000000000';

-- What stands in for a person's fields in a record that copied them (sync queues).
create function erased_fields(p_fields jsonb) returns jsonb language sql immutable
return p_fields || jsonb_strip_nulls(jsonb_build_object(
    'full_name', case when p_fields ? 'full_name' then to_jsonb(erased_name()) end,
    'whatsapp_number', case when p_fields ? 'whatsapp_number' then to_jsonb(erased_number()) end))
    || case when p_fields ? 'date_of_birth' then '{"date_of_birth": null}'::jsonb else '{}'::jsonb end
    || case when p_fields ? 'photo_key'
            then '{"photo_key": null, "photo_size": null, "photo_content_type": null}'::jsonb
            else '{}'::jsonb end;

-- Removes what copied a person's data from where it was copied: provider payloads, audit
-- details (the one update the audit log allows, see below) and saved idempotent answers that
-- quote their name, number or one of their ids (matched literally, `like` wildcards escaped;
-- a name of fewer than 6 characters, or a date, alone is too common to match on); and the sync
-- queues' copies of the inscription `p_record`, rewritten in place (a queue's numbering must stay
-- whole, and the change must still reach the remote).
create function erase_traces(p_needles text[], p_record uuid) returns void
language plpgsql security definer set search_path = public as $$
declare
    v_patterns text[] := array(
        select '%' || replace(replace(replace(n, '\', '\\'), '%', '\%'), '_', '\_') || '%'
        from unnest(p_needles) n where n is not null and length(n) >= 6);
begin
    update sync_queue set fields = erased_fields(fields) where record_id = p_record;
    update sync_parked set fields = erased_fields(fields) where record_id = p_record;
    if cardinality(v_patterns) = 0 then
        return;
    end if;
    update webhook_events set payload = '{"erased": true}'::jsonb
    where payload::text like any (v_patterns);
    perform set_config('masterclass.erasing', 'on', true);
    update audit_log set details = '{"erased": true}'::jsonb
    where details::text like any (v_patterns);
    perform set_config('masterclass.erasing', 'off', true);
    delete from idempotency_keys where response_body::text like any (v_patterns);
end $$;

-- The audit log stays append-only, but for erasure: `erase_traces` may replace the details of an
-- entry that quoted the person, nothing else.
create or replace function audit_log_append_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' and current_setting('masterclass.erasing', true) = 'on'
       and (to_jsonb(new) - 'details') = (to_jsonb(old) - 'details') then
        return new;
    end if;
    raise exception 'the audit log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end $$;

-- Erasing an inscription (`erased_at` set, here or on another instance and replicated): its
-- personal fields are replaced, it becomes a tombstone (devices drop it) that statistics still
-- count, it moves to a profile of its own (nothing ties its scores to the person), its tokens
-- are revoked, its messages lose their text and number, and its traces go. The person's
-- profile is erased with their last inscription.
create function erase_inscription() returns trigger
language plpgsql security definer set search_path = public as $$
declare
    v_profile uuid;
begin
    perform erase_traces(array[old.full_name, ltrim(old.whatsapp_number, '+'), old.id::text], old.id);
    insert into profiles (full_name, whatsapp_number, consent_at, erased_at, deleted_at)
    values (erased_name(), erased_number(), old.consent_at, new.erased_at, new.erased_at)
    returning id into v_profile;
    new.profile_id := v_profile;
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.photo_key := null;
    new.photo_size := null;
    new.photo_content_type := null;
    new.deleted_at := coalesce(new.deleted_at, new.erased_at);
    return new;
end $$;

-- What hangs from the erased inscription, once its row is written (revoking a token touches
-- the inscription, which a BEFORE trigger may not).
create function erased_inscription() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    update inscription_tokens set revoked_at = coalesce(revoked_at, now()) where inscription_id = new.id;
    update outbox_messages set body = '', data = '{}'::jsonb, to_number = erased_number(),
           last_error = null, profile_id = new.profile_id,
           status = case when status in ('queued', 'claimed') then 'suppressed' else status end
    where inscription_id = new.id;
    update consent_events set profile_id = new.profile_id where inscription_id = new.id;
    if not exists (select 1 from inscriptions where profile_id = old.profile_id and id <> new.id
                   and erased_at is null) then
        update profiles set erased_at = new.erased_at where id = old.profile_id and erased_at is null;
    end if;
    return null;
end $$;

create function erase_profile() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    perform erase_traces(array[old.full_name, ltrim(old.whatsapp_number, '+'), old.id::text], old.id);
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.deleted_at := coalesce(new.deleted_at, new.erased_at);
    update incoming_messages set body = null, from_number = erased_number(), payload = '{"erased": true}'::jsonb
    where profile_id = old.id or from_number = old.whatsapp_number;
    -- what their devices synced (a student's documents): emptied and deleted, so devices drop them
    update documents set value = '{}'::jsonb, deleted_at = coalesce(deleted_at, now()) where owner_id = old.id;
    update outbox_messages set body = '', data = '{}'::jsonb, to_number = erased_number(), last_error = null,
           status = case when status in ('queued', 'claimed') then 'suppressed' else status end
    where profile_id = old.id or to_number = old.whatsapp_number;
    return new;
end $$;

-- Before the sync stamps (`*_touch`, alphabetically later), so the anonymised values are what
-- gets stamped and replicated.
create trigger inscriptions_erase before update of erased_at on inscriptions
    for each row when (old.erased_at is null and new.erased_at is not null)
    execute function erase_inscription();
-- An erased inscription stays erased: a later change (a peer's edit made before it heard of the
-- erasure) cannot bring a field back, nor undo the erasure or the tombstone.
create function erased_stays_erased() returns trigger language plpgsql as $$
begin
    new.erased_at := old.erased_at;
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.photo_key := null;
    new.photo_size := null;
    new.photo_content_type := null;
    new.profile_id := old.profile_id;
    new.deleted_at := coalesce(old.deleted_at, old.erased_at);
    return new;
end $$;
create trigger inscriptions_erased_stays before update on inscriptions
    for each row when (old.erased_at is not null) execute function erased_stays_erased();

-- Settling a person's registrations after sync never revives an erased one (they sit on
-- profiles of their own, so a settle meets them alone).
alter function sync_settle_inscriptions(uuid, uuid) rename to sync_settle_live_inscriptions;
create function sync_settle_inscriptions(p_masterclass uuid, p_profile uuid) returns uuid
language plpgsql as $$
declare
    v_erased uuid;
begin
    select id into v_erased from inscriptions
    where masterclass_id = p_masterclass and profile_id = p_profile and erased_at is not null
    order by created_at, id limit 1;
    if v_erased is not null then
        return v_erased;
    end if;
    return sync_settle_live_inscriptions(p_masterclass, p_profile);
end $$;

create trigger inscriptions_erased after update of erased_at on inscriptions
    for each row when (old.erased_at is null and new.erased_at is not null)
    execute function erased_inscription();
create trigger profiles_erase before update of erased_at on profiles
    for each row when (old.erased_at is null and new.erased_at is not null)
    execute function erase_profile();

-- What the erasure functions (owned by the definer role) may touch.
grant select, insert, update on profiles to masterclass_definer;
grant select, update on inscriptions, outbox_messages, incoming_messages, inscription_tokens,
    webhook_events, audit_log, consent_events, documents, sync_queue, sync_parked to masterclass_definer;
grant insert on consent_events to masterclass_definer;
grant select, delete on idempotency_keys, sync_queue, sync_parked to masterclass_definer;
create policy profiles_definer_erase on profiles for update to masterclass_definer using (true) with check (true);
create policy inscriptions_definer_erase on inscriptions for update to masterclass_definer using (true) with check (true);
create policy outbox_definer_erase on outbox_messages for update to masterclass_definer using (true) with check (true);
create policy incoming_definer on incoming_messages for all to masterclass_definer using (true) with check (true);
create policy webhook_events_definer on webhook_events for all to masterclass_definer using (true) with check (true);
create policy audit_log_definer_erase on audit_log for all to masterclass_definer using (true) with check (true);
create policy consent_events_definer on consent_events for all to masterclass_definer using (true) with check (true);
create policy sync_queue_definer on sync_queue for all to masterclass_definer using (true) with check (true);
create policy sync_parked_definer on sync_parked for all to masterclass_definer using (true) with check (true);
create policy documents_definer_erase on documents for all to masterclass_definer using (true) with check (true);

grant create on schema public to masterclass_definer;
alter function register_profile(text, date, timestamptz, text) owner to masterclass_definer;
alter function consent_of_registration() owner to masterclass_definer;
alter function erase_traces(text[], uuid) owner to masterclass_definer;
alter function erase_inscription() owner to masterclass_definer;
alter function erased_inscription() owner to masterclass_definer;
alter function erase_profile() owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function erase_traces(text[], uuid) from public;

-- The token of an erased inscription: revoked, so it opens nothing; but a second
-- `DELETE /api/me` with it answers as the first did (erasure is idempotent).
create function auth_erased_by_token(p_token_hash bytea) returns table (inscription_id uuid, erased_at timestamptz)
language sql stable security definer set search_path = public as $$
    select i.id, i.erased_at from inscription_tokens t join inscriptions i on i.id = t.inscription_id
    where t.token_hash = p_token_hash and i.erased_at is not null
$$;
grant create on schema public to masterclass_definer;
alter function auth_erased_by_token(bytea) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function auth_erased_by_token(bytea) from public;
grant execute on function auth_erased_by_token(bytea) to masterclass_app;

-- Backups read every table through the app role as `{"role": "backup"}`: one policy per table
-- that has row-level security (a later table needs its own; the backup test lists every table
-- and fails on one it could not read), and the sequences' positions.
do $$
declare
    t record;
begin
    for t in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'public' and c.relkind = 'r' and c.relrowsecurity
    loop
        execute format('grant select on %I to masterclass_app', t.relname);
        execute format('create policy %I on %I for select to masterclass_app using ((select auth_role()) = %L)',
                       t.relname || '_backup', t.relname, 'backup');
    end loop;
end $$;
grant select on schema_migrations to masterclass_app;
grant select on all sequences in schema public to masterclass_app;
alter default privileges in schema public grant select on sequences to masterclass_app;

-- What each backup did.
create table backup_runs (
    id          uuid primary key default gen_random_uuid(),
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    prefix      text,
    status      text not null default 'running',
    tables      integer,
    rows        bigint,
    bytes       bigint,
    erased      integer,
    error       text,
    constraint backup_runs_status check (status in ('running', 'succeeded', 'failed'))
);
grant select, insert, update on backup_runs to masterclass_app;
alter table backup_runs enable row level security;
alter table backup_runs force row level security;
create policy backup_runs_admin on backup_runs for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy backup_runs_backup on backup_runs for select to masterclass_app
    using ((select auth_role()) = 'backup');
