-- Lookups of a message in doubt that the provider could not answer (a 404 for the chat, a 401,
-- a timeout): after MESSAGES_MAX_LOOKUPS of them the message is `dead` for staff, instead of
-- being asked about forever. Counted per doubt: a message queued again starts from zero.
alter table outbox_messages add column lookup_failures integer not null default 0
    check (lookup_failures >= 0);
