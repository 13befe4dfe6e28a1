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
