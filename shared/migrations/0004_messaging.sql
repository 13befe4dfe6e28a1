-- WhatsApp delivery: the dispatcher's claim on a message, provider statuses, incoming messages
-- and unmatched webhook events.

alter table outbox_messages add column claim_id uuid;
alter table outbox_messages add column claimed_at timestamptz;
alter table outbox_messages add column status_at timestamptz;
alter table outbox_messages add column created_by uuid references staff_users (id);

create index outbox_messages_sending on outbox_messages (claimed_at) where status = 'sending';
create index outbox_messages_provider_id on outbox_messages (provider_message_id);
create index outbox_messages_status on outbox_messages (status, created_at);

create function touch_outbox() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

create trigger outbox_messages_touch before update on outbox_messages
    for each row execute function touch_outbox();

-- How far along a status is: provider events only ever move a message forward.
create function message_status_rank(status text) returns integer language sql immutable as $$
    select case status
        when 'queued' then 0 when 'sending' then 1 when 'sent' then 2 when 'delivered' then 3 when 'read' then 4
        when 'failed' then 5 when 'dead' then 5 when 'suppressed' then 5 else -1 end
$$;

-- Messages students send us.
create table incoming_messages (
    id                  uuid primary key default gen_random_uuid(),
    provider_message_id text not null,
    profile_id          uuid references profiles (id),
    from_number         text not null,
    body                text,
    received_at         timestamptz not null default now(),
    payload             jsonb not null,
    constraint incoming_messages_provider_id unique (provider_message_id)
);

-- Webhook events we could not match (a status for an unknown message), kept for inspection.
create table webhook_events (
    id          bigint generated always as identity primary key,
    received_at timestamptz not null default now(),
    provider    text not null,
    kind        text not null,
    payload     jsonb not null
);

grant select, insert, update on incoming_messages to masterclass_app;
grant select, insert on webhook_events to masterclass_app;

alter table incoming_messages enable row level security;
alter table incoming_messages force row level security;
alter table webhook_events enable row level security;
alter table webhook_events force row level security;

create policy incoming_messages_staff on incoming_messages for select to masterclass_app using (
    auth_is_admin()
    or exists (select 1 from inscriptions i where i.profile_id = incoming_messages.profile_id and auth_staffs(i.masterclass_id))
);
create policy incoming_messages_admin on incoming_messages for all to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());
create policy webhook_events_admin on webhook_events for all to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());
