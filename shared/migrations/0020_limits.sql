-- Limits every function instance shares, and the answers an erasure leaves behind.
--
-- Rate limits: a counter per bucket (what is limited, and for whom: a source address, a
-- WhatsApp number, an account from an address) per fixed window. The bucket arrives sealed (an
-- HMAC the functions compute under their secret) and is stored as its SHA-256, never the address
-- or number itself, and a window's row goes with the housekeeping once it has ended. Every change is one statement in the caller's transaction (no
-- session state, no advisory lock), so it is safe behind a transaction-mode pooler.
create table limit_hits (
    bucket       bytea not null,
    window_start timestamptz not null,
    window_end   timestamptz not null,
    hits         integer not null,
    primary key (bucket, window_start)
);
create index limit_hits_window_end on limit_hits (window_end);

-- Counts one hit against `p_bucket` in the current window of `p_window_secs`, unless the window
-- already holds `p_limit`: answers 0 when counted, else the seconds until the window ends. The
-- hit belongs to the caller's transaction: a request that fails afterwards counts nothing.
create function limit_take(p_bucket text, p_limit integer, p_window_secs integer) returns integer
language plpgsql volatile security definer set search_path = public as $$
declare
    v_start timestamptz := to_timestamp(floor(extract(epoch from now()) / p_window_secs) * p_window_secs);
    v_end timestamptz := v_start + make_interval(secs => p_window_secs);
    v_hits integer;
begin
    insert into limit_hits as l (bucket, window_start, window_end, hits)
    values (sha256(convert_to(p_bucket, 'UTF8')), v_start, v_end, 1)
    on conflict (bucket, window_start) do update set hits = l.hits + 1 where l.hits < p_limit
    returning hits into v_hits;
    if v_hits is null or v_hits > p_limit then
        return greatest(1, ceil(extract(epoch from v_end - now())))::integer;
    end if;
    return 0;
end $$;

-- The seconds until the current window of `p_bucket` ends if it already holds `p_limit` hits,
-- else 0: a check that counts nothing (a sign-in counts only its failures).
create function limit_full(p_bucket text, p_limit integer, p_window_secs integer) returns integer
language sql stable security definer set search_path = public as $$
    select coalesce(max(greatest(1, ceil(extract(epoch from window_end - now())))::integer), 0)
    from limit_hits
    where bucket = sha256(convert_to(p_bucket, 'UTF8')) and window_end > now() and hits >= p_limit
$$;

-- Counts one hit against `p_bucket` in the current window, whatever it holds.
create function limit_hit(p_bucket text, p_window_secs integer) returns void
language sql volatile security definer set search_path = public as $$
    insert into limit_hits as l (bucket, window_start, window_end, hits)
    select sha256(convert_to(p_bucket, 'UTF8')), s, s + make_interval(secs => p_window_secs), 1
    from (select to_timestamp(floor(extract(epoch from now()) / p_window_secs) * p_window_secs) as s) w
    on conflict (bucket, window_start) do update set hits = l.hits + 1
$$;

-- Forgets `p_bucket` (a staff member's failures from an address, once they signed in from it).
create function limit_clear(p_bucket text) returns void
language sql volatile security definer set search_path = public as $$
    delete from limit_hits where bucket = sha256(convert_to(p_bucket, 'UTF8'))
$$;

-- A wrong password, audited as before; counting it is the limits' work now (per source and per
-- account from a source), so nothing locks the account itself.
create function auth_record_wrong_password(p_id uuid) returns void
language sql volatile security definer set search_path = public as $$
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select role, id::text, 'staff.sign_in_failed', 'staff_user', id::text,
           jsonb_build_object('reason', 'wrong password')
    from staff_users where id = p_id;
$$;

-- An Idempotency-Key whose saved answer was erased with the person it named: the key's hash
-- and no answer, so a retry of the request made before the erasure is told so (410) instead
-- of registering the person again. Kept as long as the answer would have been.
create table idempotency_erased (
    caller     text not null,
    scope      text not null,
    key_hash   bytea not null,
    created_at timestamptz not null,
    primary key (caller, scope, key_hash)
);

-- Reached by the app only to read its own (as `idempotency_keys`); written by the erasure.
grant select on limit_hits, idempotency_erased to masterclass_app;
alter table limit_hits enable row level security;
alter table limit_hits force row level security;
alter table idempotency_erased enable row level security;
alter table idempotency_erased force row level security;
create policy idempotency_erased_own on idempotency_erased for select to masterclass_app
    using (caller = coalesce(((select auth_claims()) ->> 'sub'), 'anon'));
create policy limit_hits_backup on limit_hits for select to masterclass_app
    using ((select auth_role()) = 'backup');
create policy idempotency_erased_backup on idempotency_erased for select to masterclass_app
    using ((select auth_role()) = 'backup');
grant select, insert, update, delete on limit_hits, idempotency_erased to masterclass_definer;
create policy limit_hits_definer on limit_hits for all to masterclass_definer using (true) with check (true);
create policy idempotency_erased_definer on idempotency_erased for all to masterclass_definer
    using (true) with check (true);

-- `erase_traces` (0016) restated: a saved answer of the erased registration itself (it names the
-- record's id) leaves its key's hash behind in `idempotency_erased` as it goes. Other answers
-- that merely quote a name go as before, unmarked: a name can be part of another person's.
create or replace function erase_traces(p_needles text[], p_record uuid) returns void
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
    with gone as (
        delete from idempotency_keys where response_body::text like any (v_patterns)
        returning caller, scope, key, created_at, response_body)
    insert into idempotency_erased (caller, scope, key_hash, created_at)
    select caller, scope, sha256(convert_to(key, 'UTF8')), created_at from gone
    where p_record is not null and gone.response_body::text like '%' || p_record::text || '%'
    on conflict do nothing;
end $$;

-- The erased answers go with the saved ones, and ended windows with them.
create or replace function purge_idempotency_keys(p_older_than interval) returns bigint
language sql volatile security definer set search_path = public as $$
    with purged as (delete from idempotency_keys where created_at < now() - p_older_than returning 1),
         erased as (delete from idempotency_erased where created_at < now() - p_older_than returning 1),
         windows as (delete from limit_hits where window_end < now() returning 1)
    select count(*) from purged
$$;

grant create on schema public to masterclass_definer;
alter function limit_take(text, integer, integer) owner to masterclass_definer;
alter function limit_full(text, integer, integer) owner to masterclass_definer;
alter function limit_hit(text, integer) owner to masterclass_definer;
alter function limit_clear(text) owner to masterclass_definer;
alter function auth_record_wrong_password(uuid) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function limit_take(text, integer, integer), limit_full(text, integer, integer),
    limit_hit(text, integer), limit_clear(text), auth_record_wrong_password(uuid) from public;
grant execute on function limit_take(text, integer, integer), limit_full(text, integer, integer),
    limit_hit(text, integer), limit_clear(text), auth_record_wrong_password(uuid) to masterclass_app;

-- Messages to one number past its daily limit are `held` for staff instead of sent; a held
-- message staff put back in the queue is sent past the limit (`limit_waived`).
alter table outbox_messages drop constraint outbox_messages_status;
alter table outbox_messages add constraint outbox_messages_status check (status in ('queued', 'claimed',
    'sending', 'in_doubt', 'sent', 'delivered', 'read', 'failed', 'dead', 'suppressed', 'held'));
alter table outbox_messages add column limit_waived boolean not null default false;
create index outbox_messages_to_number_sending on outbox_messages (to_number, sending_at);

create or replace function message_status_rank(status text) returns integer language sql immutable as $$
    select case status
        when 'queued' then 0 when 'claimed' then 0 when 'held' then 0 when 'sending' then 1
        when 'in_doubt' then 1 when 'sent' then 2 when 'delivered' then 3 when 'read' then 4
        when 'failed' then 5 when 'dead' then 5 when 'suppressed' then 5 else -1 end
$$;

-- An erasure suppresses what is still to send (0016's triggers: `queued` and `claimed`); a held
-- message is still to send too.
create function held_message_erased() returns trigger language plpgsql as $$
begin
    new.status := 'suppressed';
    return new;
end $$;
create trigger outbox_messages_held_erased before update on outbox_messages
    for each row when (new.status = 'held' and new.to_number = erased_number())
    execute function held_message_erased();
