-- The student journey: the question bank, test papers, attempts and scores, the WhatsApp
-- outbox, and the audit log.
--
-- Correct answers live apart from questions, in `question_keys`, which only staff policies
-- open: a student's transaction cannot read a key with any query. Papers are picked and
-- attempts scored by two SECURITY DEFINER functions that return ids and scores, never keys.

-- Registration runs as `{"role": "registrar", "whatsapp_number": <E.164>}`: it may create the
-- profile of that number and its inscriptions, nothing else.
create function auth_registrar_number() returns text language sql stable as $$
    select case when auth_role() = 'registrar' then auth_claims() ->> 'whatsapp_number' end
$$;

create function auth_student_inscription() returns uuid language sql stable as $$
    select case when auth_role() = 'student' then (auth_claims() ->> 'inscription_id')::uuid end
$$;

create policy profiles_registrar on profiles for all to masterclass_app
    using (whatsapp_number = auth_registrar_number())
    with check (whatsapp_number = auth_registrar_number());

-- Is `p_profile` the registrar's own profile? A definer function (with its own policy below), so
-- that policies of inscriptions calling it never re-enter the policies of profiles.
create function auth_registrar_owns(p_profile uuid) returns boolean
language plpgsql stable security definer set search_path = public as $$
begin
    if auth_registrar_number() is null then
        return false;
    end if;
    return exists (select 1 from profiles p where p.id = p_profile and p.whatsapp_number = auth_registrar_number());
end $$;

grant select on profiles to masterclass_definer;
create policy profiles_definer on profiles for select to masterclass_definer using (true);
grant create on schema public to masterclass_definer;
alter function auth_registrar_owns(uuid) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;

create policy inscriptions_registrar on inscriptions for all to masterclass_app
    using (auth_registrar_owns(profile_id))
    with check (auth_registrar_owns(profile_id)
                and exists (select 1 from masterclasses m where m.id = masterclass_id and m.published and m.deleted_at is null));

create policy inscription_tokens_registrar on inscription_tokens for all to masterclass_app
    using (exists (select 1 from inscriptions i where i.id = inscription_id and auth_registrar_owns(i.profile_id)))
    with check (exists (select 1 from inscriptions i where i.id = inscription_id and auth_registrar_owns(i.profile_id)));

-- When staff open the POST test before the masterclass starts.
create table test_windows (
    masterclass_id uuid primary key references masterclasses (id),
    post_opened_at timestamptz,
    post_opened_by uuid references staff_users (id),
    updated_at     timestamptz not null default now()
);

-- The question bank.
create table questions (
    id             uuid primary key default gen_random_uuid(),
    masterclass_id uuid not null references masterclasses (id),
    text           text not null,
    choice_a       text not null,
    choice_b       text not null,
    choice_c       text not null,
    choice_d       text not null,
    status         text not null default 'draft',
    source_excerpt text,
    -- where a generated question came from: provider, model, prompt version, generation id
    provenance     jsonb not null default '{}',
    created_by     uuid references staff_users (id),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    row_version    bigint not null default nextval('sync_row_version'),
    field_clocks   jsonb not null default '{}',
    deleted_at     timestamptz,
    constraint questions_status check (status in ('draft', 'approved', 'archived')),
    constraint questions_text_length check (char_length(text) between 5 and 1000),
    constraint questions_choices_distinct check (
        lower(btrim(choice_a)) not in (lower(btrim(choice_b)), lower(btrim(choice_c)), lower(btrim(choice_d)))
        and lower(btrim(choice_b)) not in (lower(btrim(choice_c)), lower(btrim(choice_d)))
        and lower(btrim(choice_c)) <> lower(btrim(choice_d))),
    constraint questions_choices_present check (
        least(char_length(btrim(choice_a)), char_length(btrim(choice_b)),
              char_length(btrim(choice_c)), char_length(btrim(choice_d))) > 0)
);

create trigger questions_touch before update on questions
    for each row execute function touch_row();

create index questions_bank on questions (masterclass_id, status) where deleted_at is null;

create table question_keys (
    question_id uuid primary key references questions (id) on delete cascade,
    correct     char(1) not null,
    constraint question_keys_letter check (correct in ('A', 'B', 'C', 'D'))
);

-- The 10 questions of one student, the same for PRE and POST.
create table test_papers (
    inscription_id uuid primary key references inscriptions (id),
    question_ids   uuid[] not null,
    created_at     timestamptz not null default now()
);

create table test_attempts (
    id             uuid primary key default gen_random_uuid(),
    inscription_id uuid not null references inscriptions (id),
    kind           text not null,
    score          integer,
    max_score      integer not null,
    submitted_at   timestamptz not null default now(),
    row_version    bigint not null default nextval('sync_row_version'),
    constraint test_attempts_kind check (kind in ('PRE', 'POST')),
    constraint test_attempts_one_per_kind unique (inscription_id, kind),
    constraint test_attempts_score_range check (score is null or score between 0 and max_score)
);

create table test_answers (
    attempt_id  uuid not null references test_attempts (id),
    question_id uuid not null references questions (id),
    choice      char(1) not null,
    correct     boolean,
    primary key (attempt_id, question_id),
    constraint test_answers_letter check (choice in ('A', 'B', 'C', 'D'))
);

create index test_answers_question on test_answers (question_id);

-- A used question's key is frozen, so old scores stay explainable.
create function question_keys_frozen() returns trigger language plpgsql as $$
begin
    if new.correct <> old.correct and exists (select 1 from test_answers where question_id = old.question_id) then
        raise exception 'the correct answer of a question used in a submitted test cannot change'
            using errcode = 'check_violation', constraint = 'question_keys_frozen_when_used';
    end if;
    return new;
end $$;

create trigger question_keys_frozen before update on question_keys
    for each row execute function question_keys_frozen();

-- Messages to students, written in the same transaction as the change they announce, and sent
-- later by the dispatcher: claim due rows (`status = 'queued' and due_at <= now()`) with
-- FOR UPDATE SKIP LOCKED, send, record.
create table outbox_messages (
    id                  uuid primary key default gen_random_uuid(),
    inscription_id      uuid references inscriptions (id),
    profile_id          uuid references profiles (id),
    to_number           text not null,
    message_type        text not null,
    data                jsonb not null default '{}',
    body                text not null,
    status              text not null default 'queued',
    attempts            integer not null default 0,
    due_at              timestamptz not null default now(),
    last_error          text,
    provider_message_id text,
    -- one message per event: `registration_confirmed:<inscription>`, `PRE_result:<attempt>`, ...
    dedupe_key          text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    sent_at             timestamptz,
    constraint outbox_messages_dedupe unique (dedupe_key),
    constraint outbox_messages_type check (message_type in ('registration_confirmed', 'pre_test_result',
        'post_test_invitation', 'post_test_result', 'reminder', 'custom')),
    constraint outbox_messages_status check (status in ('queued', 'sending', 'sent', 'delivered', 'read',
        'failed', 'dead', 'suppressed')),
    constraint outbox_messages_e164 check (to_number ~ '^\+[1-9][0-9]{6,14}$')
);

create index outbox_messages_due on outbox_messages (due_at) where status = 'queued';
create index outbox_messages_inscription on outbox_messages (inscription_id);

-- Who did what to whom, append-only for the app.
create table audit_log (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    actor_role  text not null default auth_role(),
    actor_id    text default auth_claims() ->> 'sub',
    action      text not null,
    entity      text not null,
    entity_id   text,
    details     jsonb not null default '{}'
);

grant select, insert, update, delete on test_windows, questions, question_keys, test_papers, test_attempts,
    test_answers, outbox_messages to masterclass_app;
grant select, insert on audit_log to masterclass_app;

alter table test_windows enable row level security;
alter table test_windows force row level security;
alter table questions enable row level security;
alter table questions force row level security;
alter table question_keys enable row level security;
alter table question_keys force row level security;
alter table test_papers enable row level security;
alter table test_papers force row level security;
alter table test_attempts enable row level security;
alter table test_attempts force row level security;
alter table test_answers enable row level security;
alter table test_answers force row level security;
alter table outbox_messages enable row level security;
alter table outbox_messages force row level security;
alter table audit_log enable row level security;
alter table audit_log force row level security;

create policy test_windows_read on test_windows for select to masterclass_app
    using (auth_staffs(masterclass_id) or masterclass_id = (auth_claims() ->> 'masterclass_id')::uuid);
create policy test_windows_staff on test_windows for all to masterclass_app
    using (auth_staffs(masterclass_id)) with check (auth_staffs(masterclass_id));

-- Staff manage the bank of the masterclasses they staff; a student reads (without keys, which
-- are elsewhere) only the questions on their own paper.
create policy questions_staff on questions for all to masterclass_app
    using (auth_staffs(masterclass_id)) with check (auth_staffs(masterclass_id));
create policy questions_own_paper on questions for select to masterclass_app using (
    exists (select 1 from test_papers p where p.inscription_id = auth_student_inscription() and questions.id = any (p.question_ids))
);

create policy question_keys_staff on question_keys for all to masterclass_app
    using (exists (select 1 from questions q where q.id = question_id and auth_staffs(q.masterclass_id)))
    with check (exists (select 1 from questions q where q.id = question_id and auth_staffs(q.masterclass_id)));

create policy test_papers_read on test_papers for select to masterclass_app using (
    inscription_id = auth_student_inscription()
    or exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
);

-- Attempts: a student submits their own (unscored: the scoring function scores); staff read.
create policy test_attempts_read on test_attempts for select to masterclass_app using (
    inscription_id = auth_student_inscription()
    or exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
);
create policy test_attempts_submit on test_attempts for insert to masterclass_app
    with check (inscription_id = auth_student_inscription() and score is null);

-- Answers: a student writes theirs and never reads them back (that would show which were right).
create policy test_answers_submit on test_answers for insert to masterclass_app with check (
    correct is null
    and exists (select 1 from test_attempts a where a.id = attempt_id and a.inscription_id = auth_student_inscription())
);
create policy test_answers_staff on test_answers for select to masterclass_app using (
    exists (select 1 from test_attempts a join inscriptions i on i.id = a.inscription_id
            where a.id = attempt_id and auth_staffs(i.masterclass_id))
);

-- Outbox: whoever makes the change queues its message (registrar, student, staff); staff of the
-- masterclass (and admins, for messages without one) read and manage them.
create policy outbox_staff on outbox_messages for all to masterclass_app using (
    auth_is_admin()
    or exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
) with check (
    auth_is_admin()
    or exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
);
create policy outbox_student_queue on outbox_messages for insert to masterclass_app
    with check (inscription_id = auth_student_inscription() and status = 'queued');
create policy outbox_student_read on outbox_messages for select to masterclass_app
    using (inscription_id = auth_student_inscription());
create policy outbox_registrar_read on outbox_messages for select to masterclass_app
    using (exists (select 1 from inscriptions i where i.id = inscription_id and auth_registrar_owns(i.profile_id)));
create policy outbox_registrar_queue on outbox_messages for insert to masterclass_app with check (
    status = 'queued'
    and exists (select 1 from inscriptions i where i.id = inscription_id and auth_registrar_owns(i.profile_id))
);

create policy audit_log_append on audit_log for insert to masterclass_app
    with check (actor_role = auth_role() and actor_id is not distinct from auth_claims() ->> 'sub');
create policy audit_log_admin_read on audit_log for select to masterclass_app using (auth_is_admin());

-- The student's paper: picked once (at random among the approved questions of the masterclass),
-- then the same for PRE and POST. Returns null while the bank has fewer than `p_size` approved.
create function ensure_test_paper(p_size integer) returns uuid[]
language plpgsql volatile security definer set search_path = public as $$
declare
    v_inscription uuid := auth_student_inscription();
    v_ids uuid[];
begin
    if v_inscription is null then
        raise exception 'only a student has a paper' using errcode = 'insufficient_privilege';
    end if;
    select question_ids into v_ids from test_papers where inscription_id = v_inscription;
    if found then
        return v_ids;
    end if;
    select array_agg(id) into v_ids from (
        select q.id from questions q join inscriptions i on i.masterclass_id = q.masterclass_id
        where i.id = v_inscription and q.status = 'approved' and q.deleted_at is null
        order by random() limit p_size
    ) picked;
    if coalesce(cardinality(v_ids), 0) < p_size then
        return null;
    end if;
    insert into test_papers (inscription_id, question_ids) values (v_inscription, v_ids)
        on conflict (inscription_id) do nothing;
    select question_ids into v_ids from test_papers where inscription_id = v_inscription;
    return v_ids;
end $$;

-- Scores the caller's own unscored attempt against the keys. Returns the score only.
create function score_test_attempt(p_attempt uuid) returns integer
language plpgsql volatile security definer set search_path = public as $$
declare
    v_score integer;
begin
    if not exists (select 1 from test_attempts a
                   where a.id = p_attempt and a.inscription_id = auth_student_inscription() and a.score is null) then
        raise exception 'not an unscored attempt of yours' using errcode = 'insufficient_privilege';
    end if;
    update test_answers t set correct = (t.choice = k.correct)
        from question_keys k where k.question_id = t.question_id and t.attempt_id = p_attempt;
    select count(*) filter (where correct) into v_score from test_answers where attempt_id = p_attempt;
    update test_attempts set score = v_score where id = p_attempt;
    return v_score;
end $$;

grant select on inscriptions, questions, question_keys to masterclass_definer;
grant select, insert on test_papers to masterclass_definer;
grant select, update on test_attempts, test_answers to masterclass_definer;
create policy questions_definer on questions for select to masterclass_definer using (true);
create policy question_keys_definer on question_keys for select to masterclass_definer using (true);
create policy test_papers_definer on test_papers for all to masterclass_definer using (true) with check (true);
create policy test_attempts_definer on test_attempts for all to masterclass_definer using (true) with check (true);
create policy test_answers_definer on test_answers for all to masterclass_definer using (true) with check (true);

grant create on schema public to masterclass_definer;
alter function ensure_test_paper(integer) owner to masterclass_definer;
alter function score_test_attempt(uuid) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function ensure_test_paper(integer), score_test_attempt(uuid) from public;
grant execute on function ensure_test_paper(integer), score_test_attempt(uuid) to masterclass_app;
