-- The live channel: open browsers hear "pull now" within a second of a commit that changes what
-- their caller may see (`shared/src/sync/live.rs`).
--
-- Every write path (device pushes, staff routes, registrations, instance sync, jobs) goes
-- through the synced tables, so statement-level triggers on them record, in the writing
-- transaction, which collection changed for which masterclass or owner (`live_changes`, one row
-- per statement and masterclass), and `pg_notify('live_changes')` wakes a listener at commit. A
-- rolled-back write records nothing. `live_drain` turns the recorded changes into pokes for the
-- open connections (`live_connections`: the local gateway's sockets and API Gateway's
-- connection ids alike) whose caller may see them, so one function decides the recipients
-- everywhere. The app role reads and writes none of these tables itself: only these definer
-- functions do (and backups read them).

create table live_connections (
    -- an API Gateway connection id, or the id the local gateway gave a socket
    id             text primary key,
    -- who delivers to it: 'apigw' (any function, through the management API) or the id of a
    -- local gateway process
    endpoint       text not null,
    -- the caller, as the ticket it opened with said: a staff account...
    staff_id       uuid,
    -- ...or a student's inscription (with their profile and masterclass)
    inscription_id uuid,
    profile_id     uuid,
    masterclass_id uuid,
    -- every transaction below this id had ended when the connection was recorded: what they
    -- changed, the browser's pull on connecting sees, so their changes poke nobody here
    horizon        xid8 not null default pg_snapshot_xmin(pg_current_snapshot()),
    connected_at   timestamptz not null default now(),
    -- last sign of life (a local gateway refreshes its own; API Gateway ends a connection after
    -- 2 hours whatever happens)
    seen_at        timestamptz not null default now(),
    constraint live_connections_caller check (
        (staff_id is not null and inscription_id is null and profile_id is null and masterclass_id is null)
        or (staff_id is null and inscription_id is not null and profile_id is not null and masterclass_id is not null))
);
create index live_connections_endpoint on live_connections (endpoint);
create index live_connections_staff on live_connections (staff_id) where staff_id is not null;

create table live_changes (
    id             bigint generated always as identity primary key,
    -- 'masterclasses', 'inscriptions', 'questions', 'documents', or 'assignment' (a tutor's
    -- masterclasses changed: everything they see may have)
    collection     text not null,
    masterclass_id uuid,
    -- inscriptions: the inscription; documents: the owner; assignment: the tutor
    subject        uuid,
    -- masterclasses: published before or after the change (seen by everyone signed in)
    public         boolean not null default false,
    -- the writing transaction
    xid            xid8 not null default pg_current_xact_id(),
    created_at     timestamptz not null default now(),
    constraint live_changes_collection check (collection in
        ('masterclasses', 'inscriptions', 'questions', 'documents', 'assignment'))
);

-- Pokes routed to a connection another endpoint delivers (a drain hands its own out at once).
create table live_pokes (
    connection_id text primary key references live_connections (id) on delete cascade,
    collections   text[] not null,
    created_at    timestamptz not null default now()
);

alter table live_connections enable row level security;
alter table live_connections force row level security;
alter table live_changes enable row level security;
alter table live_changes force row level security;
alter table live_pokes enable row level security;
alter table live_pokes force row level security;
grant select on live_connections, live_changes, live_pokes to masterclass_app;
create policy live_connections_backup on live_connections for select to masterclass_app
    using ((select auth_role()) = 'backup');
create policy live_changes_backup on live_changes for select to masterclass_app
    using ((select auth_role()) = 'backup');
create policy live_pokes_backup on live_pokes for select to masterclass_app
    using ((select auth_role()) = 'backup');
grant select, insert, update, delete on live_connections, live_changes, live_pokes to masterclass_definer;
create policy live_connections_definer on live_connections to masterclass_definer
    using (true) with check (true);
create policy live_changes_definer on live_changes to masterclass_definer
    using (true) with check (true);
create policy live_pokes_definer on live_pokes to masterclass_definer
    using (true) with check (true);

-- The recording triggers: one function per table (each knows its columns), fired once per
-- statement with the statement's rows as transition tables. A restore records nothing (it
-- brings the backup's own rows of these tables).
create function live_record_masterclasses() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if coalesce(current_setting('masterclass.restoring', true), '') = 'on' then
        return null;
    end if;
    if tg_op = 'INSERT' then
        insert into live_changes (collection, masterclass_id, public)
        select 'masterclasses', id, bool_or(published) from new_rows group by id;
    elsif tg_op = 'UPDATE' then
        insert into live_changes (collection, masterclass_id, public)
        select 'masterclasses', id, bool_or(published)
        from (select id, published from new_rows union all select id, published from old_rows) r
        group by id;
    else
        insert into live_changes (collection, masterclass_id, public)
        select 'masterclasses', id, bool_or(published) from old_rows group by id;
    end if;
    perform pg_notify('live_changes', '');
    return null;
end $$;

create function live_record_inscriptions() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if coalesce(current_setting('masterclass.restoring', true), '') = 'on' then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into live_changes (collection, masterclass_id, subject)
        select distinct 'inscriptions', masterclass_id, id from new_rows;
    else
        insert into live_changes (collection, masterclass_id, subject)
        select distinct 'inscriptions', masterclass_id, id from old_rows;
    end if;
    perform pg_notify('live_changes', '');
    return null;
end $$;

create function live_record_questions() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if coalesce(current_setting('masterclass.restoring', true), '') = 'on' then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into live_changes (collection, masterclass_id)
        select distinct 'questions', masterclass_id from new_rows;
    else
        insert into live_changes (collection, masterclass_id)
        select distinct 'questions', masterclass_id from old_rows;
    end if;
    perform pg_notify('live_changes', '');
    return null;
end $$;

create function live_record_documents() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if coalesce(current_setting('masterclass.restoring', true), '') = 'on' then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into live_changes (collection, subject)
        select distinct 'documents', owner_id from new_rows;
    else
        insert into live_changes (collection, subject)
        select distinct 'documents', owner_id from old_rows;
    end if;
    perform pg_notify('live_changes', '');
    return null;
end $$;

create function live_record_assignments() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if coalesce(current_setting('masterclass.restoring', true), '') = 'on' then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into live_changes (collection, masterclass_id, subject)
        select distinct 'assignment', masterclass_id, tutor_id from new_rows;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into live_changes (collection, masterclass_id, subject)
        select distinct 'assignment', masterclass_id, tutor_id from old_rows;
    end if;
    perform pg_notify('live_changes', '');
    return null;
end $$;

create trigger masterclasses_live_insert after insert on masterclasses
    referencing new table as new_rows for each statement execute function live_record_masterclasses();
create trigger masterclasses_live_update after update on masterclasses
    referencing old table as old_rows new table as new_rows for each statement execute function live_record_masterclasses();
create trigger masterclasses_live_delete after delete on masterclasses
    referencing old table as old_rows for each statement execute function live_record_masterclasses();
create trigger inscriptions_live_insert after insert on inscriptions
    referencing new table as new_rows for each statement execute function live_record_inscriptions();
create trigger inscriptions_live_update after update on inscriptions
    referencing old table as old_rows new table as new_rows for each statement execute function live_record_inscriptions();
create trigger inscriptions_live_delete after delete on inscriptions
    referencing old table as old_rows for each statement execute function live_record_inscriptions();
create trigger questions_live_insert after insert on questions
    referencing new table as new_rows for each statement execute function live_record_questions();
create trigger questions_live_update after update on questions
    referencing old table as old_rows new table as new_rows for each statement execute function live_record_questions();
create trigger questions_live_delete after delete on questions
    referencing old table as old_rows for each statement execute function live_record_questions();
create trigger documents_live_insert after insert on documents
    referencing new table as new_rows for each statement execute function live_record_documents();
create trigger documents_live_update after update on documents
    referencing old table as old_rows new table as new_rows for each statement execute function live_record_documents();
create trigger documents_live_delete after delete on documents
    referencing old table as old_rows for each statement execute function live_record_documents();
create trigger masterclass_tutors_live_insert after insert on masterclass_tutors
    referencing new table as new_rows for each statement execute function live_record_assignments();
create trigger masterclass_tutors_live_update after update on masterclass_tutors
    referencing old table as old_rows new table as new_rows for each statement execute function live_record_assignments();
create trigger masterclass_tutors_live_delete after delete on masterclass_tutors
    referencing old table as old_rows for each statement execute function live_record_assignments();

-- A connection opened with a verified ticket (the caller is the ticket's), or refreshed.
create function live_connect(p_id text, p_endpoint text, p_staff uuid, p_inscription uuid,
                             p_profile uuid, p_masterclass uuid) returns void
language sql volatile security definer set search_path = public as $$
    insert into live_connections (id, endpoint, staff_id, inscription_id, profile_id, masterclass_id)
    values (p_id, p_endpoint, p_staff, p_inscription, p_profile, p_masterclass)
    on conflict (id) do update set endpoint = excluded.endpoint, staff_id = excluded.staff_id,
        inscription_id = excluded.inscription_id, profile_id = excluded.profile_id,
        masterclass_id = excluded.masterclass_id, horizon = excluded.horizon,
        connected_at = now(), seen_at = now()
$$;

-- Connections closed, or found gone (API Gateway's 410); their pending pokes go with them.
create function live_disconnect(p_ids text[]) returns bigint
language sql volatile security definer set search_path = public as $$
    with gone as (delete from live_connections where id = any(p_ids) returning 1)
    select count(*) from gone
$$;

-- A local gateway's sockets are still open.
create function live_seen(p_endpoint text) returns void
language sql volatile security definer set search_path = public as $$
    update live_connections set seen_at = now() where endpoint = p_endpoint
$$;

-- Takes the recorded changes and answers, for each open connection of `p_endpoint` whose caller
-- may see one of them, the collections to poke; pokes for connections of other endpoints are
-- kept for their drainer. Changes are taken with `skip locked` and deleted, and a poke kept is
-- deleted by the drain that hands it out, so two drains at once never send one twice, and one
-- running beside a write leaves its changes for the next (they are not visible before commit).
--
-- A connection hears only of transactions that had not ended when it was recorded (the pull a
-- browser makes on connecting sees the others). Who sees what, as the pull's row-level security
-- decides it, judged now (the account's current role, active accounts and live inscriptions
-- only):
-- - masterclasses: an admin; everyone, for one that is or was published; its tutors; its
--   students;
-- - inscriptions: an admin, the masterclass's tutors, the student of that inscription;
-- - questions: an admin, the masterclass's tutors;
-- - documents: their owner only (not admins);
-- - an assignment: that tutor, every collection.
create function live_drain(p_endpoint text, p_limit integer)
returns table (connection_id text, collections text[])
language sql volatile security definer set search_path = public as $$
    with taken as (
        delete from live_changes where id in (
            select id from live_changes order by id limit p_limit for update skip locked)
        returning collection, masterclass_id, subject, public, xid
    ),
    changes as (
        select collection, masterclass_id, subject, bool_or(public) as public, max(xid) as xid
        from taken group by collection, masterclass_id, subject
    ),
    callers as (
        select c.id, c.endpoint, c.horizon, s.role, c.staff_id, c.inscription_id, c.profile_id,
               c.masterclass_id
        from live_connections c
        left join staff_users s on s.id = c.staff_id and s.active
        left join inscriptions i on i.id = c.inscription_id and i.deleted_at is null
        where s.id is not null or i.id is not null
    ),
    admins as materialized (select id, endpoint, horizon from callers where role = 'admin'),
    -- each tutor's connections once per masterclass they staff
    staffing as materialized (
        select c.id, c.endpoint, c.horizon, t.masterclass_id
        from callers c join masterclass_tutors t on t.tutor_id = c.staff_id
        where c.role = 'tuteur'
    ),
    -- One equi-join per rule (hash joins, not a test of every connection against every
    -- change), each change only for the connections whose horizon it is at or past.
    routed as (
        select a.id, a.endpoint, ch.collection
        from changes ch cross join admins a
        where ch.collection in ('masterclasses', 'inscriptions', 'questions') and ch.xid >= a.horizon
        union
        select c.id, c.endpoint, ch.collection
        from changes ch cross join callers c
        where ch.collection = 'masterclasses' and ch.public and ch.xid >= c.horizon
        union
        select st.id, st.endpoint, ch.collection
        from changes ch join staffing st on st.masterclass_id = ch.masterclass_id
        where ch.collection in ('masterclasses', 'inscriptions', 'questions') and ch.xid >= st.horizon
        union
        select c.id, c.endpoint, ch.collection
        from changes ch join callers c on c.masterclass_id = ch.masterclass_id
        where ch.collection = 'masterclasses' and ch.xid >= c.horizon
        union
        select c.id, c.endpoint, ch.collection
        from changes ch join callers c on c.inscription_id = ch.subject
        where ch.collection = 'inscriptions' and ch.xid >= c.horizon
        union
        select c.id, c.endpoint, ch.collection
        from changes ch join callers c on coalesce(c.staff_id, c.profile_id) = ch.subject
        where ch.collection = 'documents' and ch.xid >= c.horizon
        union
        select c.id, c.endpoint, each_one.collection
        from changes ch join callers c on c.staff_id = ch.subject
        cross join unnest(array['documents', 'inscriptions', 'masterclasses', 'questions']) as each_one (collection)
        where ch.collection = 'assignment' and ch.xid >= c.horizon
    ),
    -- (A data-modifying part of a statement runs whether or not the rest reads it.)
    kept as (
        insert into live_pokes (connection_id, collections)
        select id, array_agg(collection order by collection) from routed
        where endpoint <> p_endpoint group by id
        on conflict on constraint live_pokes_pkey do update set collections = array(
            select distinct x from unnest(live_pokes.collections || excluded.collections) x order by x)
        returning 1
    ),
    waiting as (
        delete from live_pokes p using live_connections c
        where p.connection_id = c.id and c.endpoint = p_endpoint
        returning p.connection_id, p.collections
    ),
    mine as (
        select id as connection_id, collection from routed where endpoint = p_endpoint
        union
        select w.connection_id, x from waiting w cross join unnest(w.collections) x
    )
    select connection_id, array_agg(collection order by collection) from mine
    group by connection_id
$$;

-- What nobody drained or delivered, and connections that never said goodbye: changes and kept
-- pokes older than `p_changes` (a deployment without live fan-out drains nothing), connections
-- unseen for `p_connections` (API Gateway closes every connection after 2 hours).
create function live_housekeeping(p_changes interval, p_connections interval) returns bigint
language sql volatile security definer set search_path = public as $$
    with changes as (delete from live_changes where created_at < now() - p_changes returning 1),
         pokes as (delete from live_pokes where created_at < now() - p_changes returning 1),
         connections as (delete from live_connections where seen_at < now() - p_connections returning 1)
    select (select count(*) from changes) + (select count(*) from pokes) + (select count(*) from connections)
$$;

grant create on schema public to masterclass_definer;
alter function live_record_masterclasses() owner to masterclass_definer;
alter function live_record_inscriptions() owner to masterclass_definer;
alter function live_record_questions() owner to masterclass_definer;
alter function live_record_documents() owner to masterclass_definer;
alter function live_record_assignments() owner to masterclass_definer;
alter function live_connect(text, text, uuid, uuid, uuid, uuid) owner to masterclass_definer;
alter function live_disconnect(text[]) owner to masterclass_definer;
alter function live_seen(text) owner to masterclass_definer;
alter function live_drain(text, integer) owner to masterclass_definer;
alter function live_housekeeping(interval, interval) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function live_connect(text, text, uuid, uuid, uuid, uuid), live_disconnect(text[]),
    live_seen(text), live_drain(text, integer), live_housekeeping(interval, interval) from public;
grant execute on function live_connect(text, text, uuid, uuid, uuid, uuid), live_disconnect(text[]),
    live_seen(text), live_drain(text, integer), live_housekeeping(interval, interval) to masterclass_app;
