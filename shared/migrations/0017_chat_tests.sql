-- Tests taken inside WhatsApp (issue 17): a student replies A/B/C/D to one question at a time.
--
-- `test_drafts` holds the answers given so far to a test not yet submitted, whoever gave them
-- (the chat or the web's `PUT /api/tests/{kind}/draft`); `chat_tests` is a conversation, at
-- most one open per person; `chat_replies` is what the student replied in it, parsed (a letter,
-- `BACK`, `START`, `OTHER`: never their free text), with the provider's timestamp. Where the
-- conversation stands is computed from the replies in the order the student sent them
-- (`domain::chat::fold`), so a redelivered or late webhook cannot make it skip or repeat a
-- question. `test_attempts.channel` says where a test was submitted.

alter table test_attempts add column channel text not null default 'web';
alter table test_attempts add constraint test_attempts_channel check (channel in ('web', 'chat'));

alter table outbox_messages drop constraint outbox_messages_type;
alter table outbox_messages add constraint outbox_messages_type check (message_type in (
    'registration_confirmed', 'pre_test_result', 'post_test_invitation', 'post_test_result',
    'reminder', 'custom', 'test_question', 'test_chat'));

create table test_drafts (
    inscription_id uuid not null references inscriptions (id),
    kind           text not null,
    question_id    uuid not null references questions (id),
    choice         text not null,
    answered_at    timestamptz not null,
    channel        text not null,
    primary key (inscription_id, kind, question_id),
    constraint test_drafts_kind check (kind in ('PRE', 'POST')),
    constraint test_drafts_letter check (choice in ('A', 'B', 'C', 'D')),
    constraint test_drafts_channel check (channel in ('web', 'chat'))
);

create table chat_tests (
    id             uuid primary key default gen_random_uuid(),
    inscription_id uuid not null references inscriptions (id),
    profile_id     uuid not null references profiles (id),
    kind           text not null,
    -- the provider's time of the message that started it: replies sent before belong elsewhere
    started_at     timestamptz not null,
    -- the web's answers when it started ({question id: [letter, answered at]}): the fold's start
    carried        jsonb not null default '{}'::jsonb,
    -- our clock, for expiry and its reminder
    active_at      timestamptz not null default now(),
    reminded_at    timestamptz,
    ended_at       timestamptz,
    ended_reason   text,
    created_at     timestamptz not null default now(),
    constraint chat_tests_kind check (kind in ('PRE', 'POST')),
    constraint chat_tests_reason check (ended_reason in ('submitted', 'expired', 'reset', 'closed', 'stopped')),
    constraint chat_tests_ended check ((ended_at is null) = (ended_reason is null))
);
create unique index chat_tests_one_open on chat_tests (profile_id) where ended_at is null;
create index chat_tests_inscription on chat_tests (inscription_id, created_at);
create index chat_tests_due on chat_tests (active_at) where ended_at is null;

create table chat_replies (
    seq                 bigint generated always as identity,
    chat_test_id        uuid not null references chat_tests (id),
    provider_message_id text not null,
    sent_at             timestamptz not null,
    reply               text not null,
    primary key (chat_test_id, provider_message_id),
    constraint chat_replies_reply check (reply in ('A', 'B', 'C', 'D', 'BACK', 'START', 'OTHER'))
);

grant select, insert, update, delete on test_drafts, chat_tests, chat_replies to masterclass_app;
alter table test_drafts enable row level security;
alter table test_drafts force row level security;
alter table chat_tests enable row level security;
alter table chat_tests force row level security;
alter table chat_replies enable row level security;
alter table chat_replies force row level security;

-- The platform (the webhook, the schedule: admin claims) does everything; staff read their
-- masterclasses' and an admin resets; a student reads and writes their own drafts.
create policy test_drafts_admin on test_drafts for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy test_drafts_staff on test_drafts for select to masterclass_app using (
    exists (select 1 from inscriptions i where i.id = test_drafts.inscription_id
            and i.masterclass_id in (select auth_tutored())));
create policy test_drafts_student on test_drafts for all to masterclass_app
    using (inscription_id = (select auth_student_inscription()))
    with check (inscription_id = (select auth_student_inscription()));
create policy chat_tests_admin on chat_tests for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy chat_tests_staff on chat_tests for select to masterclass_app using (
    exists (select 1 from inscriptions i where i.id = chat_tests.inscription_id
            and i.masterclass_id in (select auth_tutored())));
create policy chat_tests_student on chat_tests for select to masterclass_app
    using (inscription_id = (select auth_student_inscription()));
create policy chat_replies_admin on chat_replies for all to masterclass_app
    using ((select auth_is_admin())) with check ((select auth_is_admin()));
create policy test_drafts_backup on test_drafts for select to masterclass_app
    using ((select auth_role()) = 'backup');
create policy chat_tests_backup on chat_tests for select to masterclass_app
    using ((select auth_role()) = 'backup');
create policy chat_replies_backup on chat_replies for select to masterclass_app
    using ((select auth_role()) = 'backup');

-- An erased inscription keeps no conversation and no unsent answers.
create function erased_inscription_chat() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    delete from test_drafts where inscription_id = new.id;
    delete from chat_replies where chat_test_id in (select id from chat_tests where inscription_id = new.id);
    delete from chat_tests where inscription_id = new.id;
    return null;
end $$;
create trigger inscriptions_erased_chat after update of erased_at on inscriptions
    for each row when (old.erased_at is null and new.erased_at is not null)
    execute function erased_inscription_chat();
grant select, delete on test_drafts, chat_tests, chat_replies to masterclass_definer;
create policy test_drafts_definer on test_drafts for all to masterclass_definer using (true) with check (true);
create policy chat_tests_definer on chat_tests for all to masterclass_definer using (true) with check (true);
create policy chat_replies_definer on chat_replies for all to masterclass_definer using (true) with check (true);
grant create on schema public to masterclass_definer;
alter function erased_inscription_chat() owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
create policy chat_replies_staff on chat_replies for select to masterclass_app using (
    exists (select 1 from chat_tests c join inscriptions i on i.id = c.inscription_id
            where c.id = chat_replies.chat_test_id and i.masterclass_id in (select auth_tutored())));
