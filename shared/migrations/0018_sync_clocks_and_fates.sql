-- Device sync, after an independent client found four ways to lose a write (issue 27, §1).
--
-- 1. A REST write never lowers a clock. 0011 stamped REST writes with the server's clock, which
--    can be older than a device's clock (a device may run up to 5 minutes ahead): a later device
--    update older than the create then won, and a REST delete left a record whose field clocks
--    were newer than the delete (alive by the merge rule, gone in the table). A write that is not
--    a sync is now stamped with `sync_stamp_after(field_clocks)`: the server's clock, or one tick
--    past the newest clock the record holds when that is later. It is the same for every field
--    the write changes and for `_deleted`, so a REST write beats everything the record held.
-- 2. A write that changes a clock and nothing else is a change. 0011 kept the row's version when
--    only `field_clocks` moved, so a device holding `attended=true@t1` never learnt of
--    `attended=true@t2`, and a second, newer delete never reached devices holding the first.
--    Devices that merge by clock need both: the row now gets a new version whenever its clocks
--    change.
-- 3. A mutation's fate is kept. A rejected mutation resent after a lost answer was answered
--    `duplicate`, and the device could no longer tell which optimistic write to undo:
--    `sync_rejections` keeps each rejection (reason, detail, field errors; no field values) and
--    a resent mutation is answered as it was the first time.
-- 4. Who may see a record is told apart from whether it exists, for `forbidden` against
--    `unknown_record`: `sync_record_exists` answers for the collections staff write.

-- One tick past `p_clock` (a clock in its wire form), on the server's node: the counter goes up,
-- or, at its end (99999), the millisecond.
create function sync_tick_after(p_clock text) returns text language sql immutable as $$
    select case when substr(p_clock, 15, 5)::integer < 99999
                then substr(p_clock, 1, 14) || lpad((substr(p_clock, 15, 5)::integer + 1)::text, 5, '0')
                     || '-server'
                else lpad((substr(p_clock, 1, 13)::bigint + 1)::text, 13, '0') || '-00000-server'
           end
$$;

-- The clock for a write that is not a sync: the server's, unless the record holds a clock that
-- is not older (a device ahead of the server), then one tick past the newest. Clocks compare as
-- bytes (fixed widths, the "C" collation: any other may ignore the dashes or the case of a
-- node); unreadable entries are ignored, as the merge ignores them.
create function sync_stamp_after(p_clocks jsonb) returns text language sql volatile as $$
    select case when newest is null or newest < now_clock collate "C" then now_clock
                else sync_tick_after(newest) end
    from (select sync_server_hlc() as now_clock,
                 (select max((c.value #>> '{}') collate "C") from jsonb_each(coalesce(p_clocks, '{}')) c
                  where jsonb_typeof(c.value) = 'string'
                    and c.value #>> '{}' ~ '^[0-9]{13}-[0-9]{5}-[A-Za-z0-9_-]{1,64}$') as newest) s
$$;

-- (Redefined whole, as Postgres replaces a function only whole: from 0014's, a change of
-- `field_clocks` alone is a change, and a write that is not a sync stamps with
-- `sync_stamp_after`.)
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
    -- Unchanged: same data and clocks, no version set by the statement (0012: a key change), and
    -- not a state that was the sender's becoming ours (which must go back to the sender).
    if v_new = v_old and new.field_clocks = old.field_clocks
       and new.row_version = old.row_version
       and (new.sync_source is not null or old.sync_source is null) then
        new.updated_at := old.updated_at;
        new.sync_xid := old.sync_xid;
        return new;
    end if;
    new.row_version := nextval('sync_row_version');
    new.updated_at := now();
    new.sync_xid := pg_current_xact_id();
    if coalesce(current_setting('sync.applying', true), '') <> 'on' and v_new <> v_old then
        v_now := sync_stamp_after(old.field_clocks);
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

-- (Redefined whole: from 0012's, the key's clock is `sync_stamp_after` the question's clocks.)
create or replace function sync_touch_key() returns trigger language plpgsql as $$
begin
    if new.correct is distinct from old.correct then
        update questions set row_version = nextval('sync_row_version'),
            field_clocks = case when coalesce(current_setting('sync.applying', true), '') <> 'on'
                                then jsonb_set(field_clocks, '{correct}',
                                               to_jsonb(sync_stamp_after(field_clocks)))
                                else field_clocks end
        where id = new.question_id;
    end if;
    return new;
end $$;

-- 5. A record created outside a sync carries its clocks. 0011 stamped updates only, so a row
--    created through REST pulled with empty `clocks`, and a device could not merge it by the
--    server's rule (any device write won over it, however old). Now every column a create sets is
--    stamped with the server's clock, and a question's key (`correct`, in its own table) too.
create function sync_stamp_insert() returns trigger language plpgsql as $$
declare
    v_now text;
    v_field text;
begin
    -- (A push or a replication writes its own clocks; a restore brings the rows' own.)
    if coalesce(current_setting('sync.applying', true), '') <> 'on'
       and coalesce(current_setting('masterclass.restoring', true), '') <> 'on' then
        v_now := sync_stamp_after(new.field_clocks);
        for v_field in select jsonb_object_keys(to_jsonb(new) - array['id', 'field_clocks',
                           'created_at', 'updated_at', 'row_version', 'sync_xid', 'sync_source',
                           'deleted_at']) loop
            if new.field_clocks -> v_field is null then
                new.field_clocks := jsonb_set(new.field_clocks, array[v_field], to_jsonb(v_now));
            end if;
        end loop;
    end if;
    return new;
end $$;

create trigger masterclasses_stamp before insert on masterclasses for each row
    execute function sync_stamp_insert();
create trigger inscriptions_stamp before insert on inscriptions for each row
    execute function sync_stamp_insert();
create trigger questions_stamp before insert on questions for each row
    execute function sync_stamp_insert();
create trigger documents_stamp before insert on documents for each row
    execute function sync_stamp_insert();

create function sync_stamp_key() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('sync.applying', true), '') <> 'on'
       and coalesce(current_setting('masterclass.restoring', true), '') <> 'on' then
        update questions set field_clocks = jsonb_set(field_clocks, '{correct}',
                                                      to_jsonb(sync_stamp_after(field_clocks)))
        where id = new.question_id and field_clocks -> 'correct' is null;
    end if;
    return new;
end $$;
create trigger question_keys_stamp after insert on question_keys for each row
    execute function sync_stamp_key();

-- The rejected mutations of each client, answered again as they were when resent.
create table sync_rejections (
    client_id   uuid not null references sync_clients (client_id) on delete cascade,
    mutation_id bigint not null,
    owner_id    uuid not null default auth_uid(),
    reason      text not null,
    detail      text,
    errors      jsonb not null default '[]',
    created_at  timestamptz not null default now(),
    primary key (client_id, mutation_id)
);
alter table sync_rejections enable row level security;
alter table sync_rejections force row level security;
grant select, insert on sync_rejections to masterclass_app;
create policy sync_rejections_own on sync_rejections for all to masterclass_app
    using (owner_id = (select auth_uid())) with check (owner_id = (select auth_uid()));
create policy sync_rejections_backup on sync_rejections for select to masterclass_app
    using ((select auth_role()) = 'backup');

-- Does record `p_id` of a collection staff write exist (deleted or not), whoever may see it?
-- Only a yes or no, for telling a write the caller may no longer make (`forbidden`) from one to
-- a record that never was (`unknown_record`).
create function sync_record_exists(p_collection text, p_id uuid) returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
    select case p_collection
        when 'inscriptions' then exists (select 1 from inscriptions where id = p_id)
        when 'questions' then exists (select 1 from questions where id = p_id)
        when 'masterclasses' then exists (select 1 from masterclasses where id = p_id)
        else false
    end
$$;

-- Every masterclass's id, for the pull of a caller whose cursor saw them all (an admin since made
-- a tutor): its `drops` are all but the new scope. Ids only.
create function sync_masterclass_ids() returns setof uuid
language sql stable security definer set search_path = public, pg_temp as $$
    select id from masterclasses
$$;

grant create on schema public to masterclass_definer;
alter function sync_record_exists(text, uuid) owner to masterclass_definer;
alter function sync_masterclass_ids() owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function sync_record_exists(text, uuid) from public;
revoke all on function sync_masterclass_ids() from public;
grant execute on function sync_record_exists(text, uuid) to masterclass_app;
grant execute on function sync_masterclass_ids() to masterclass_app;

-- A document's value is limited to 64 KiB of compact JSON, which the push checks
-- (`sync::MAX_DOCUMENT_BYTES`). 0011's check measured `value::text`, jsonb's own printing with a
-- space after every comma and colon, and so refused some values the push had accepted: the check
-- stays as a backstop, at twice the limit.
alter table documents drop constraint documents_value_size,
    add constraint documents_value_size check (octet_length(value::text) <= 2 * 65536);

-- Records created outside a sync before this migration have no clock for what their create set:
-- each such column gets its record's creation time, on the server's node, so they merge as the
-- records created from now on do. The rows' versions move (clocks changed), so devices pull
-- them once more; `sync.applying` keeps the triggers from stamping, `sync.replicating` keeps each
-- row's source, and both are reset for the migrations that follow in this transaction. (The
-- tables' owner runs migrations, and forced row-level security has no policy for it: forcing is
-- lifted for the backfill, as in 0014.)
select set_config('sync.applying', 'on', true), set_config('sync.replicating', 'on', true);
alter table masterclasses no force row level security;
alter table inscriptions no force row level security;
alter table questions no force row level security;
alter table documents no force row level security;
alter table question_keys no force row level security;
do $$
declare
    v_table text;
begin
    foreach v_table in array array['masterclasses', 'inscriptions', 'questions', 'documents'] loop
        execute format($f$
            update %1$I t set field_clocks = s.stamps || t.field_clocks
            from (select t2.id,
                         jsonb_object_agg(k, lpad(floor(extract(epoch from t2.created_at) * 1000)::bigint::text,
                                                  13, '0') || '-00000-server') as stamps
                  from %1$I t2,
                       jsonb_object_keys(to_jsonb(t2) - array['id', 'field_clocks', 'created_at',
                           'updated_at', 'row_version', 'sync_xid', 'sync_source', 'deleted_at']) k
                  where not t2.field_clocks ? k
                  group by t2.id) s
            where s.id = t.id$f$, v_table);
    end loop;
end $$;
update questions t
set field_clocks = t.field_clocks || jsonb_build_object('correct',
        lpad(floor(extract(epoch from t.created_at) * 1000)::bigint::text, 13, '0') || '-00000-server')
from question_keys k
where k.question_id = t.id and not t.field_clocks ? 'correct';
alter table masterclasses force row level security;
alter table inscriptions force row level security;
alter table questions force row level security;
alter table documents force row level security;
alter table question_keys force row level security;
select set_config('sync.applying', '', true), set_config('sync.replicating', '', true);
