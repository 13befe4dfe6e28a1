-- Row-level security that Postgres evaluates once per query, not once per row.
--
-- The policies called the caller functions (`auth_is_admin()`, `auth_role()`, `auth_claims()`,
-- ...) bare, so they ran for every row a query read, each parsing the claims from JSON again; and
-- `auth_staffs(masterclass_id)` (an `exists` over the tutor assignments, which Postgres cannot
-- inline) ran once per row: listing a bank of 2,000 questions called it 6,000 times and cost
-- 12.7 times the same query without RLS.
--
-- Every policy below is the one it replaces, with three rewrites only:
-- - a caller function is wrapped as `(select auth_...())`: an uncorrelated subquery, which the
--   planner turns into an init plan computed once per query;
-- - `auth_staffs(x)` becomes `((select auth_is_admin()) or x in (select auth_tutored()))`: the
--   masterclasses the caller tutors, fetched once, then a hash lookup per row;
-- - the registrar's `auth_registrar_owns(p)` (a definer function, per row by nature) is guarded
--   by `(select auth_registrar_number()) is not null`, so it runs only for a registration.
-- The test `rls::policies_call_the_caller_functions_once_per_query_not_per_row` counts the calls.

-- The masterclasses the caller tutors (none unless the caller is a tutor).
create function auth_tutored() returns setof uuid language sql stable as $$
    select masterclass_id from masterclass_tutors
    where tutor_id = auth_uid() and auth_role() = 'tuteur'
$$;
grant execute on function auth_tutored() to masterclass_app;

-- Kept for queries that ask about one masterclass; the same rule as the policies.
create or replace function auth_staffs(mc uuid) returns boolean language sql stable as $$
    select auth_is_admin() or mc in (select auth_tutored())
$$;

drop policy audit_log_admin_read on audit_log;
create policy audit_log_admin_read on audit_log for select to masterclass_app
    using ((select auth_is_admin()));

drop policy audit_log_append on audit_log;
create policy audit_log_append on audit_log for insert to masterclass_app
    with check (((actor_role = (select auth_role())) AND (NOT (actor_id IS DISTINCT FROM ((select auth_claims()) ->> 'sub'::text)))));

drop policy idempotency_keys_own on idempotency_keys;
create policy idempotency_keys_own on idempotency_keys for all to masterclass_app
    using ((caller = COALESCE(((select auth_claims()) ->> 'sub'::text), 'anon'::text)))
    with check ((caller = COALESCE(((select auth_claims()) ->> 'sub'::text), 'anon'::text)));

drop policy incoming_messages_admin on incoming_messages;
create policy incoming_messages_admin on incoming_messages for all to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin()));

drop policy incoming_messages_staff on incoming_messages;
create policy incoming_messages_staff on incoming_messages for select to masterclass_app
    using (((select auth_is_admin()) OR (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.profile_id = incoming_messages.profile_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored())))))));

drop policy inscription_tokens_own_read on inscription_tokens;
create policy inscription_tokens_own_read on inscription_tokens for select to masterclass_app
    using ((((select auth_role()) = 'student'::text) AND (inscription_id = (((select auth_claims()) ->> 'inscription_id'::text))::uuid)));

drop policy inscription_tokens_own_revoke on inscription_tokens;
create policy inscription_tokens_own_revoke on inscription_tokens for update to masterclass_app
    using ((((select auth_role()) = 'student'::text) AND (inscription_id = (((select auth_claims()) ->> 'inscription_id'::text))::uuid)));

drop policy inscription_tokens_registrar on inscription_tokens;
create policy inscription_tokens_registrar on inscription_tokens for all to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND ((select auth_registrar_number()) is not null and auth_registrar_owns(i.profile_id))))))
    with check ((EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND ((select auth_registrar_number()) is not null and auth_registrar_owns(i.profile_id))))));

drop policy inscription_tokens_staff on inscription_tokens;
create policy inscription_tokens_staff on inscription_tokens for all to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored()))))))
    with check ((EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored()))))));

drop policy inscriptions_admin_delete on inscriptions;
create policy inscriptions_admin_delete on inscriptions for delete to masterclass_app
    using ((select auth_is_admin()));

drop policy inscriptions_read on inscriptions;
create policy inscriptions_read on inscriptions for select to masterclass_app
    using ((((select auth_is_admin()) or masterclass_id in (select auth_tutored())) OR (((select auth_role()) = 'student'::text) AND (id = (((select auth_claims()) ->> 'inscription_id'::text))::uuid))));

drop policy inscriptions_registrar on inscriptions;
create policy inscriptions_registrar on inscriptions for all to masterclass_app
    using (((select auth_registrar_number()) is not null and auth_registrar_owns(profile_id)))
    with check ((((select auth_registrar_number()) is not null and auth_registrar_owns(profile_id)) AND (EXISTS ( SELECT 1
   FROM masterclasses m
  WHERE ((m.id = inscriptions.masterclass_id) AND m.published AND (m.deleted_at IS NULL))))));

drop policy inscriptions_staff_write on inscriptions;
create policy inscriptions_staff_write on inscriptions for update to masterclass_app
    using (((select auth_is_admin()) or masterclass_id in (select auth_tutored())))
    with check (((select auth_is_admin()) or masterclass_id in (select auth_tutored())));

drop policy masterclass_tutors_admin on masterclass_tutors;
create policy masterclass_tutors_admin on masterclass_tutors for all to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin()));

drop policy masterclass_tutors_read on masterclass_tutors;
create policy masterclass_tutors_read on masterclass_tutors for select to masterclass_app
    using (((select auth_is_admin()) OR (tutor_id = (select auth_uid()))));

drop policy masterclasses_admin_delete on masterclasses;
create policy masterclasses_admin_delete on masterclasses for delete to masterclass_app
    using ((select auth_is_admin()));

drop policy masterclasses_admin_insert on masterclasses;
create policy masterclasses_admin_insert on masterclasses for insert to masterclass_app
    with check ((select auth_is_admin()));

drop policy masterclasses_admin_update on masterclasses;
create policy masterclasses_admin_update on masterclasses for update to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin()));

drop policy masterclasses_read on masterclasses;
create policy masterclasses_read on masterclasses for select to masterclass_app
    using (((published AND (deleted_at IS NULL)) OR ((select auth_is_admin()) or id in (select auth_tutored())) OR (((select auth_role()) = 'student'::text) AND (id = (((select auth_claims()) ->> 'masterclass_id'::text))::uuid))));

drop policy outbox_registrar_queue on outbox_messages;
create policy outbox_registrar_queue on outbox_messages for insert to masterclass_app
    with check (((status = 'queued'::text) AND (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND ((select auth_registrar_number()) is not null and auth_registrar_owns(i.profile_id)))))));

drop policy outbox_registrar_read on outbox_messages;
create policy outbox_registrar_read on outbox_messages for select to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND ((select auth_registrar_number()) is not null and auth_registrar_owns(i.profile_id))))));

drop policy outbox_staff on outbox_messages;
create policy outbox_staff on outbox_messages for all to masterclass_app
    using (((select auth_is_admin()) OR (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored())))))))
    with check (((select auth_is_admin()) OR (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored())))))));

drop policy outbox_student_queue on outbox_messages;
create policy outbox_student_queue on outbox_messages for insert to masterclass_app
    with check (((inscription_id = (select auth_student_inscription())) AND (status = 'queued'::text)));

drop policy outbox_student_read on outbox_messages;
create policy outbox_student_read on outbox_messages for select to masterclass_app
    using ((inscription_id = (select auth_student_inscription())));

drop policy profiles_admin_write on profiles;
create policy profiles_admin_write on profiles for update to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin()));

drop policy profiles_read on profiles;
create policy profiles_read on profiles for select to masterclass_app
    using (((select auth_is_admin()) OR (((select auth_role()) = 'tuteur'::text) AND (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.profile_id = profiles.id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored()))))))));

drop policy question_keys_staff on question_keys;
create policy question_keys_staff on question_keys for all to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM questions q
  WHERE ((q.id = question_keys.question_id) AND ((select auth_is_admin()) or q.masterclass_id in (select auth_tutored()))))))
    with check ((EXISTS ( SELECT 1
   FROM questions q
  WHERE ((q.id = question_keys.question_id) AND ((select auth_is_admin()) or q.masterclass_id in (select auth_tutored()))))));

drop policy questions_own_paper on questions;
create policy questions_own_paper on questions for select to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM test_papers p
  WHERE ((p.inscription_id = (select auth_student_inscription())) AND (questions.id = ANY (p.question_ids))))));

drop policy questions_staff on questions;
create policy questions_staff on questions for all to masterclass_app
    using (((select auth_is_admin()) or masterclass_id in (select auth_tutored())))
    with check (((select auth_is_admin()) or masterclass_id in (select auth_tutored())));

drop policy staff_users_admin on staff_users;
create policy staff_users_admin on staff_users for all to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin()));

drop policy staff_users_read on staff_users;
create policy staff_users_read on staff_users for select to masterclass_app
    using (((select auth_is_admin()) OR (((select auth_role()) = ANY (ARRAY['admin'::text, 'tuteur'::text])) AND (id = (select auth_uid())))));

drop policy test_answers_staff on test_answers;
create policy test_answers_staff on test_answers for select to masterclass_app
    using ((EXISTS ( SELECT 1
   FROM (test_attempts a
     JOIN inscriptions i ON ((i.id = a.inscription_id)))
  WHERE ((a.id = test_answers.attempt_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored()))))));

drop policy test_answers_submit on test_answers;
create policy test_answers_submit on test_answers for insert to masterclass_app
    with check (((correct IS NULL) AND (EXISTS ( SELECT 1
   FROM test_attempts a
  WHERE ((a.id = test_answers.attempt_id) AND (a.inscription_id = (select auth_student_inscription())))))));

drop policy test_attempts_read on test_attempts;
create policy test_attempts_read on test_attempts for select to masterclass_app
    using (((inscription_id = (select auth_student_inscription())) OR (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = test_attempts.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored())))))));

drop policy test_attempts_submit on test_attempts;
create policy test_attempts_submit on test_attempts for insert to masterclass_app
    with check (((inscription_id = (select auth_student_inscription())) AND (score IS NULL)));

drop policy test_papers_read on test_papers;
create policy test_papers_read on test_papers for select to masterclass_app
    using (((inscription_id = (select auth_student_inscription())) OR (EXISTS ( SELECT 1
   FROM inscriptions i
  WHERE ((i.id = test_papers.inscription_id) AND ((select auth_is_admin()) or i.masterclass_id in (select auth_tutored())))))));

drop policy test_windows_read on test_windows;
create policy test_windows_read on test_windows for select to masterclass_app
    using ((((select auth_is_admin()) or masterclass_id in (select auth_tutored())) OR (masterclass_id = (((select auth_claims()) ->> 'masterclass_id'::text))::uuid)));

drop policy test_windows_staff on test_windows;
create policy test_windows_staff on test_windows for all to masterclass_app
    using (((select auth_is_admin()) or masterclass_id in (select auth_tutored())))
    with check (((select auth_is_admin()) or masterclass_id in (select auth_tutored())));

drop policy webhook_events_admin on webhook_events;
create policy webhook_events_admin on webhook_events for all to masterclass_app
    using ((select auth_is_admin()))
    with check ((select auth_is_admin())
);
