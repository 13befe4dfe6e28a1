-- "Pull now" pokes for frontends: queued by a push that changed data, in its transaction (a
-- push rolled back pokes no one), delivered by the scheduled run with retries and backoff, never
-- in the push's path. A poke names collections only: no record, no personal data.

create table sync_pokes (
    id              bigint generated always as identity primary key,
    url             text not null,
    collections     text[] not null,
    created_at      timestamptz not null default now(),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    delivered_at    timestamptz,
    last_error      text
);
create index sync_pokes_due on sync_pokes (next_attempt_at) where delivered_at is null;

alter table sync_pokes enable row level security;
alter table sync_pokes force row level security;
grant select, insert, update, delete on sync_pokes to masterclass_app;
create policy sync_pokes_queue on sync_pokes for insert to masterclass_app
    with check ((select auth_role()) in ('admin', 'tuteur', 'student'));
create policy sync_pokes_deliver on sync_pokes for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));

-- A question's key lives in `question_keys`, so a change of `correct` alone left the question's
-- row (and its version) untouched and devices never pulled it (the convergence test found it).
-- A key change now gives its question a new version, pushed or not; `sync_touch` keeps a
-- version set explicitly by a statement.
create or replace function sync_touch_key() returns trigger language plpgsql as $$
begin
    if new.correct is distinct from old.correct then
        update questions set row_version = nextval('sync_row_version'),
            field_clocks = case when coalesce(current_setting('sync.applying', true), '') <> 'on'
                                then jsonb_set(field_clocks, '{correct}', to_jsonb(sync_server_hlc()))
                                else field_clocks end
        where id = new.question_id;
    end if;
    return new;
end $$;

create or replace function sync_touch() returns trigger language plpgsql as $$
declare
    v_new jsonb := to_jsonb(new) - 'field_clocks' - 'updated_at' - 'row_version' - 'sync_xid';
    v_old jsonb := to_jsonb(old) - 'field_clocks' - 'updated_at' - 'row_version' - 'sync_xid';
    v_field text;
    v_now text;
begin
    if v_new = v_old and new.row_version = old.row_version then
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
