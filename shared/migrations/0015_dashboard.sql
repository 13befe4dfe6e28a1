-- The staff dashboard: students searched and paged at 100k and more, keyset indexes for every
-- staff listing, and an audit trail nobody can rewrite.

-- Search: `pg_trgm` (trigram GIN indexes answer `like '%fragment%'`) and `unaccent`, both
-- contrib extensions marked trusted (a database owner may create them; RDS and Supabase ship
-- them).
create extension if not exists pg_trgm;
create extension if not exists unaccent;

-- A name folded for search: accents and case dropped, then everything but letters and digits
-- ("Éloïse  Mba-Nze" -> "eloisembanze"), so "eloise", "ELOÏSE MBA" and "mba nze" all match.
-- SQL-standard bodies bind `unaccent` and its dictionary when created, whatever schema the
-- extension lives in (`extensions` on Supabase) and whatever the caller's search_path: that is
-- what makes calling it IMMUTABLE (and so indexable) safe.
create function search_fold(t text) returns text language sql immutable parallel safe strict
return regexp_replace(lower(unaccent('unaccent'::regdictionary, t)), '[^a-z0-9]+', '', 'g');

-- What a student's search matches: the folded name, then the number's digits (a fragment of
-- the number as typed, "066 12" or "+241 066", is folded to its digits too).
create function student_search(full_name text, whatsapp_number text) returns text
language sql immutable parallel safe strict
return search_fold(full_name) || ' ' || regexp_replace(whatsapp_number, '[^0-9]+', '', 'g');

-- The key names sort on: accents and case dropped, spaces kept ("Émile" sorts with "Emile").
create function name_key(t text) returns text language sql immutable parallel safe strict
return lower(unaccent('unaccent'::regdictionary, t));

-- On inscriptions, which carry the name and number each registration was made with (0006): the
-- list is of inscriptions, and needs no join to profiles to filter or sort.
create index inscriptions_search on inscriptions using gin (student_search(full_name, whatsapp_number) gin_trgm_ops)
    where deleted_at is null and merged_into is null;
create index inscriptions_name_key on inscriptions (name_key(full_name), id)
    where deleted_at is null and merged_into is null;

-- Searching runs here, past row-level security: under RLS a filter whose functions are not
-- LEAKPROOF (`like`, `unaccent`; only a superuser may mark them so) is evaluated after the
-- policies, row by row, and never through an index (measured: a seq scan of 100k inscriptions,
-- 940 ms; through the trigram index, 7 ms). The ids it returns are scoped here as the policies
-- scope inscriptions (admins all, tutors theirs), and the list applies its policies to them
-- again.
create function student_search_ids(p_query text) returns setof uuid
language sql stable security definer set search_path = public rows 100 as $$
    select id from inscriptions
    where student_search(full_name, whatsapp_number) like '%' || search_fold(p_query) || '%'
      and deleted_at is null and merged_into is null
      and ((select auth_is_admin()) or masterclass_id in (select auth_tutored()))
$$;
-- (`auth_tutored()`, run as the definer, reads the assignments.)
grant select on masterclass_tutors to masterclass_definer;
create policy masterclass_tutors_definer on masterclass_tutors for select to masterclass_definer
    using (true);
grant create on schema public to masterclass_definer;
alter function student_search_ids(text) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function student_search_ids(text) from public;
grant execute on function student_search_ids(text) to masterclass_app;

-- Keyset paging of the students list, newest first, all or one masterclass.
create index inscriptions_listing on inscriptions (created_at, id)
    where deleted_at is null and merged_into is null;
create index inscriptions_masterclass_listing on inscriptions (masterclass_id, created_at, id)
    where deleted_at is null and merged_into is null;

-- Each inscription's counted PRE and POST scores, kept by a trigger on the attempts: the list
-- reads them with one join under one simple policy, where joining the attempts twice cost a
-- policy check per row (an attempt is visible through its inscription) and most of the list's
-- planning (measured: 4.7 ms of planning and execution warm, 1.5 ms with this table).
create table inscription_scores (
    inscription_id uuid primary key references inscriptions (id),
    masterclass_id uuid not null references masterclasses (id),
    pre_score      integer,
    post_score     integer,
    max_score      integer
);

create function inscription_scores_refresh(p_inscription uuid) returns void
language sql security definer set search_path = public as $$
    insert into inscription_scores (inscription_id, masterclass_id, pre_score, post_score, max_score)
    select i.id, i.masterclass_id, pre.score, post.score, coalesce(post.max_score, pre.max_score)
    from inscriptions i
    left join test_attempts pre on pre.inscription_id = i.id and pre.kind = 'PRE'
                                   and not pre.superseded and pre.score is not null
    left join test_attempts post on post.inscription_id = i.id and post.kind = 'POST'
                                    and not post.superseded and post.score is not null
    where i.id = p_inscription
    on conflict (inscription_id) do update set pre_score = excluded.pre_score,
        post_score = excluded.post_score, max_score = excluded.max_score
    where (inscription_scores.pre_score, inscription_scores.post_score, inscription_scores.max_score)
          is distinct from (excluded.pre_score, excluded.post_score, excluded.max_score);
$$;

-- Any change to an attempt (scored, superseded by sync, moved to the inscription it merged
-- into) refreshes its inscriptions' row; not while a backup is restored, which brings the rows.
create function inscription_scores_follow() returns trigger
language plpgsql security definer set search_path = public as $$
begin
    if current_setting('masterclass.restoring', true) = 'on' then
        return null;
    end if;
    if tg_op <> 'DELETE' then
        perform inscription_scores_refresh(new.inscription_id);
    end if;
    if tg_op <> 'INSERT' and (tg_op = 'DELETE' or old.inscription_id <> new.inscription_id) then
        perform inscription_scores_refresh(old.inscription_id);
    end if;
    return null;
end $$;
create trigger test_attempts_scores after insert or update or delete on test_attempts
    for each row execute function inscription_scores_follow();

insert into inscription_scores (inscription_id, masterclass_id, pre_score, post_score, max_score)
select i.id, i.masterclass_id, pre.score, post.score, coalesce(post.max_score, pre.max_score)
from inscriptions i
left join test_attempts pre on pre.inscription_id = i.id and pre.kind = 'PRE'
                               and not pre.superseded and pre.score is not null
left join test_attempts post on post.inscription_id = i.id and post.kind = 'POST'
                                and not post.superseded and post.score is not null
where pre.id is not null or post.id is not null;

grant select on inscription_scores to masterclass_app;
alter table inscription_scores enable row level security;
alter table inscription_scores force row level security;
create policy inscription_scores_staff on inscription_scores for select to masterclass_app
    using ((select auth_is_admin()) or masterclass_id in (select auth_tutored()));

grant select, insert, update on inscription_scores to masterclass_definer;
create policy inscription_scores_definer on inscription_scores for all to masterclass_definer
    using (true) with check (true);
grant create on schema public to masterclass_definer;
alter function inscription_scores_refresh(uuid) owner to masterclass_definer;
alter function inscription_scores_follow() owner to masterclass_definer;
revoke create on schema public from masterclass_definer;

-- Keyset paging of the bank and the outbox, newest first.
create index questions_listing on questions (created_at, id) where deleted_at is null;
create index questions_masterclass_listing on questions (masterclass_id, created_at, id)
    where deleted_at is null;
create index outbox_messages_listing on outbox_messages (created_at, id);

-- The audit trail: append-only for everyone, the platform's owner included (RLS already gives
-- the app insert and select only; the trigger also stops the owner and a truncate).
create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end $$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();

create index audit_log_at on audit_log (at);
create index audit_log_actor on audit_log (actor_id, id desc);
create index audit_log_action on audit_log (action, id desc);
create index audit_log_target on audit_log (entity, entity_id, id desc);

-- Sign-ins, failed ones included, are audited by the definer functions that record them (the
-- caller is anonymous until it has signed in). The actor is the account signing in.
create or replace function auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval)
returns void language sql volatile security definer set search_path = public as $$
    update staff_users set
        failed_logins = case when failed_logins + 1 >= max_failures then 0 else failed_logins + 1 end,
        locked_until = case when failed_logins + 1 >= max_failures then now() + lock_for else locked_until end
    where id = p_id;
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select role, id::text, 'staff.sign_in_failed', 'staff_user', id::text,
           jsonb_build_object('locked', locked_until is not null and locked_until > now())
    from staff_users where id = p_id;
$$;

create or replace function auth_record_login_success(p_id uuid)
returns void language sql volatile security definer set search_path = public as $$
    update staff_users set failed_logins = 0, locked_until = null
    where id = p_id and (failed_logins <> 0 or locked_until is not null);
    insert into audit_log (actor_role, actor_id, action, entity, entity_id)
    select role, id::text, 'staff.signed_in', 'staff_user', id::text from staff_users where id = p_id;
$$;

-- A sign-in refused before any password was checked (no such account, deactivated, locked):
-- recorded with the e-mail tried and why (the caller is told only 401).
create function auth_record_refused_login(p_email text, p_reason text) returns void
language sql volatile security definer set search_path = public as $$
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select 'anon', null, 'staff.sign_in_failed', 'staff_user', s.id::text,
           jsonb_build_object('email', left(p_email, 254), 'reason', p_reason)
    from (select 1) one left join staff_users s on s.email = p_email;
$$;

grant create on schema public to masterclass_definer;
alter function auth_record_refused_login(text, text) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function auth_record_refused_login(text, text) from public;
grant execute on function auth_record_refused_login(text, text) to masterclass_app;
