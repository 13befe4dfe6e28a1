-- The schema the migrations produce, as pg_dump --schema-only prints it (generated: see
-- migrations::the_committed_schema_is_what_the_migrations_produce; never edit by hand).

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

CREATE FUNCTION public.audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    if tg_op = 'UPDATE' and current_setting('masterclass.erasing', true) = 'on'
       and (to_jsonb(new) - 'details') = (to_jsonb(old) - 'details') then
        return new;
    end if;
    raise exception 'the audit log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end $$;

ALTER FUNCTION public.audit_log_append_only() OWNER TO <owner>;

CREATE FUNCTION public.auth_claims() RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

ALTER FUNCTION public.auth_claims() OWNER TO <owner>;

CREATE FUNCTION public.auth_erased_by_token(p_token_hash bytea) RETURNS TABLE(inscription_id uuid, erased_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    select i.id, i.erased_at from inscription_tokens t join inscriptions i on i.id = t.inscription_id
    where t.token_hash = p_token_hash and i.erased_at is not null
$$;

ALTER FUNCTION public.auth_erased_by_token(p_token_hash bytea) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_is_admin() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    select auth_role() = 'admin'
$$;

ALTER FUNCTION public.auth_is_admin() OWNER TO <owner>;

CREATE FUNCTION public.auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    update staff_users set
        failed_logins = case when failed_logins + 1 >= max_failures then 0 else failed_logins + 1 end,
        locked_until = case when failed_logins + 1 >= max_failures then now() + lock_for else locked_until end
    where id = p_id;
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select role, id::text, 'staff.sign_in_failed', 'staff_user', id::text,
           jsonb_build_object('locked', locked_until is not null and locked_until > now())
    from staff_users where id = p_id;
$$;

ALTER FUNCTION public.auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_record_login_success(p_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    update staff_users set failed_logins = 0, locked_until = null
    where id = p_id and (failed_logins <> 0 or locked_until is not null);
    insert into audit_log (actor_role, actor_id, action, entity, entity_id)
    select role, id::text, 'staff.signed_in', 'staff_user', id::text from staff_users where id = p_id;
$$;

ALTER FUNCTION public.auth_record_login_success(p_id uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_record_refused_login(p_email text, p_reason text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select 'anon', null, 'staff.sign_in_failed', 'staff_user', s.id::text,
           jsonb_build_object('email', left(p_email, 254), 'reason', p_reason)
    from (select 1) one left join staff_users s on s.email = p_email;
$$;

ALTER FUNCTION public.auth_record_refused_login(p_email text, p_reason text) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_record_wrong_password(p_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    insert into audit_log (actor_role, actor_id, action, entity, entity_id, details)
    select role, id::text, 'staff.sign_in_failed', 'staff_user', id::text,
           jsonb_build_object('reason', 'wrong password')
    from staff_users where id = p_id;
$$;

ALTER FUNCTION public.auth_record_wrong_password(p_id uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_registrar_number() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    select case when auth_role() = 'registrar' then auth_claims() ->> 'whatsapp_number' end
$$;

ALTER FUNCTION public.auth_registrar_number() OWNER TO <owner>;

CREATE FUNCTION public.auth_registrar_owns(p_profile uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    if auth_registrar_number() is null then
        return false;
    end if;
    return exists (select 1 from profiles p where p.id = p_profile and p.whatsapp_number = auth_registrar_number());
end $$;

ALTER FUNCTION public.auth_registrar_owns(p_profile uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_replicates() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    select coalesce((auth_claims() ->> 'replication')::boolean, false)
$$;

ALTER FUNCTION public.auth_replicates() OWNER TO <owner>;

CREATE FUNCTION public.auth_role() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    select coalesce(auth_claims() ->> 'role', 'anon')
$$;

ALTER FUNCTION public.auth_role() OWNER TO <owner>;

CREATE FUNCTION public.auth_staff_for_login(p_email text) RETURNS TABLE(id uuid, role text, full_name text, password_hash text, active boolean, locked_until timestamp with time zone, token_version integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    select id, role, full_name, password_hash, active, locked_until, token_version
    from staff_users where email = lower(p_email)
$$;

ALTER FUNCTION public.auth_staff_for_login(p_email text) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_staff_session(p_id uuid, p_version integer) RETURNS TABLE(role text, email text, full_name text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    select role, email, full_name from staff_users
    where id = p_id and active and token_version = p_version
$$;

ALTER FUNCTION public.auth_staff_session(p_id uuid, p_version integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_staffs(mc uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    select auth_is_admin() or mc in (select auth_tutored())
$$;

ALTER FUNCTION public.auth_staffs(mc uuid) OWNER TO <owner>;

CREATE FUNCTION public.auth_student_inscription() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$
    select case when auth_role() = 'student' then (auth_claims() ->> 'inscription_id')::uuid end
$$;

ALTER FUNCTION public.auth_student_inscription() OWNER TO <owner>;

CREATE FUNCTION public.auth_student_session(p_token_hash bytea) RETURNS TABLE(inscription_id uuid, profile_id uuid, masterclass_id uuid)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    update inscription_tokens t set last_used_at = now()
    where t.token_hash = p_token_hash and t.revoked_at is null
      and (t.last_used_at is null or t.last_used_at < now() - interval '5 minutes');
    return query
        select i.id, i.profile_id, i.masterclass_id
        from inscription_tokens t join inscriptions i on i.id = t.inscription_id
        where t.token_hash = p_token_hash and t.revoked_at is null and i.deleted_at is null;
end $$;

ALTER FUNCTION public.auth_student_session(p_token_hash bytea) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_sync_peer(p_secret_hash bytea) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
declare
    v_id uuid;
begin
    select id into v_id from sync_peers where secret_hash = p_secret_hash and revoked_at is null;
    if v_id is not null then
        update sync_peers set last_seen_at = now()
        where id = v_id and (last_seen_at is null or last_seen_at < now() - interval '1 minute');
    end if;
    return v_id;
end $$;

ALTER FUNCTION public.auth_sync_peer(p_secret_hash bytea) OWNER TO masterclass_definer;

CREATE FUNCTION public.auth_tutored() RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
    select masterclass_id from masterclass_tutors
    where tutor_id = auth_uid() and auth_role() = 'tuteur'
$$;

ALTER FUNCTION public.auth_tutored() OWNER TO <owner>;

CREATE FUNCTION public.auth_uid() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$
    select nullif(auth_claims() ->> 'sub', '')::uuid
$$;

ALTER FUNCTION public.auth_uid() OWNER TO <owner>;

CREATE FUNCTION public.consent_of_registration() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    if current_setting('masterclass.restoring', true) = 'on' then
        return null;
    end if;
    insert into consent_events (profile_id, inscription_id, given, source, version, at)
    values (new.profile_id, new.id, true, 'registration', new.consent_version, new.consent_at);
    return null;
end $$;

ALTER FUNCTION public.consent_of_registration() OWNER TO masterclass_definer;

CREATE FUNCTION public.ensure_test_paper(p_size integer) RETURNS uuid[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.ensure_test_paper(p_size integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.erase_inscription() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
declare
    v_profile uuid;
begin
    perform erase_traces(array[old.full_name, ltrim(old.whatsapp_number, '+'), old.id::text], old.id);
    insert into profiles (full_name, whatsapp_number, consent_at, erased_at, deleted_at)
    values (erased_name(), erased_number(), old.consent_at, new.erased_at, new.erased_at)
    returning id into v_profile;
    new.profile_id := v_profile;
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.photo_key := null;
    new.photo_size := null;
    new.photo_content_type := null;
    new.deleted_at := coalesce(new.deleted_at, new.erased_at);
    return new;
end $$;

ALTER FUNCTION public.erase_inscription() OWNER TO masterclass_definer;

CREATE FUNCTION public.erase_profile() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    perform erase_traces(array[old.full_name, ltrim(old.whatsapp_number, '+'), old.id::text], old.id);
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.deleted_at := coalesce(new.deleted_at, new.erased_at);
    update incoming_messages set body = null, from_number = erased_number(), payload = '{"erased": true}'::jsonb
    where profile_id = old.id or from_number = old.whatsapp_number;
    -- what their devices synced (a student's documents): emptied and deleted, so devices drop them
    update documents set value = '{}'::jsonb, deleted_at = coalesce(deleted_at, now()) where owner_id = old.id;
    update outbox_messages set body = '', data = '{}'::jsonb, to_number = erased_number(), last_error = null,
           status = case when status in ('queued', 'claimed') then 'suppressed' else status end
    where profile_id = old.id or to_number = old.whatsapp_number;
    return new;
end $$;

ALTER FUNCTION public.erase_profile() OWNER TO masterclass_definer;

CREATE FUNCTION public.erase_traces(p_needles text[], p_record uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
declare
    v_patterns text[] := array(
        select '%' || replace(replace(replace(n, '\', '\\'), '%', '\%'), '_', '\_') || '%'
        from unnest(p_needles) n where n is not null and length(n) >= 6);
begin
    update sync_queue set fields = erased_fields(fields) where record_id = p_record;
    update sync_parked set fields = erased_fields(fields) where record_id = p_record;
    if cardinality(v_patterns) = 0 then
        return;
    end if;
    update webhook_events set payload = '{"erased": true}'::jsonb
    where payload::text like any (v_patterns);
    perform set_config('masterclass.erasing', 'on', true);
    update audit_log set details = '{"erased": true}'::jsonb
    where details::text like any (v_patterns);
    perform set_config('masterclass.erasing', 'off', true);
    with gone as (
        delete from idempotency_keys where response_body::text like any (v_patterns)
        returning caller, scope, key, created_at, response_body)
    insert into idempotency_erased (caller, scope, key_hash, created_at)
    select caller, scope, sha256(convert_to(key, 'UTF8')), created_at from gone
    where p_record is not null and gone.response_body::text like '%' || p_record::text || '%'
    on conflict do nothing;
end $$;

ALTER FUNCTION public.erase_traces(p_needles text[], p_record uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.erased_name() RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN 'Effacé'::text;

ALTER FUNCTION public.erased_name() OWNER TO <owner>;

CREATE FUNCTION public.erased_number() RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN '+99000000000'::text;

ALTER FUNCTION public.erased_number() OWNER TO <owner>;

CREATE FUNCTION public.erased_fields(p_fields jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    RETURN (((p_fields || jsonb_strip_nulls(jsonb_build_object('full_name', CASE WHEN (p_fields ? 'full_name'::text) THEN to_jsonb(public.erased_name()) ELSE NULL::jsonb END, 'whatsapp_number', CASE WHEN (p_fields ? 'whatsapp_number'::text) THEN to_jsonb(public.erased_number()) ELSE NULL::jsonb END))) || CASE WHEN (p_fields ? 'date_of_birth'::text) THEN '{"date_of_birth": null}'::jsonb ELSE '{}'::jsonb END) || CASE WHEN (p_fields ? 'photo_key'::text) THEN '{"photo_key": null, "photo_size": null, "photo_content_type": null}'::jsonb ELSE '{}'::jsonb END);

ALTER FUNCTION public.erased_fields(p_fields jsonb) OWNER TO <owner>;

CREATE FUNCTION public.erased_inscription() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    update inscription_tokens set revoked_at = coalesce(revoked_at, now()) where inscription_id = new.id;
    update outbox_messages set body = '', data = '{}'::jsonb, to_number = erased_number(),
           last_error = null, profile_id = new.profile_id,
           status = case when status in ('queued', 'claimed') then 'suppressed' else status end
    where inscription_id = new.id;
    update consent_events set profile_id = new.profile_id where inscription_id = new.id;
    if not exists (select 1 from inscriptions where profile_id = old.profile_id and id <> new.id
                   and erased_at is null) then
        update profiles set erased_at = new.erased_at where id = old.profile_id and erased_at is null;
    end if;
    return null;
end $$;

ALTER FUNCTION public.erased_inscription() OWNER TO masterclass_definer;

CREATE FUNCTION public.erased_inscription_chat() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    delete from test_drafts where inscription_id = new.id;
    delete from chat_replies where chat_test_id in (select id from chat_tests where inscription_id = new.id);
    delete from chat_tests where inscription_id = new.id;
    return null;
end $$;

ALTER FUNCTION public.erased_inscription_chat() OWNER TO masterclass_definer;

CREATE FUNCTION public.erased_stays_erased() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    new.erased_at := old.erased_at;
    new.full_name := erased_name();
    new.whatsapp_number := erased_number();
    new.date_of_birth := null;
    new.consent_version := null;
    new.photo_key := null;
    new.photo_size := null;
    new.photo_content_type := null;
    new.profile_id := old.profile_id;
    new.deleted_at := coalesce(old.deleted_at, old.erased_at);
    return new;
end $$;

ALTER FUNCTION public.erased_stays_erased() OWNER TO <owner>;

CREATE FUNCTION public.held_message_erased() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    new.status := 'suppressed';
    return new;
end $$;

ALTER FUNCTION public.held_message_erased() OWNER TO <owner>;

CREATE FUNCTION public.inscription_scores_follow() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.inscription_scores_follow() OWNER TO masterclass_definer;

CREATE FUNCTION public.inscription_scores_refresh(p_inscription uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.inscription_scores_refresh(p_inscription uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.limit_clear(p_bucket text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    delete from limit_hits where bucket = sha256(convert_to(p_bucket, 'UTF8'))
$$;

ALTER FUNCTION public.limit_clear(p_bucket text) OWNER TO masterclass_definer;

CREATE FUNCTION public.limit_full(p_bucket text, p_limit integer, p_window_secs integer) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    select coalesce(max(greatest(1, ceil(extract(epoch from window_end - now())))::integer), 0)
    from limit_hits
    where bucket = sha256(convert_to(p_bucket, 'UTF8')) and window_end > now() and hits >= p_limit
$$;

ALTER FUNCTION public.limit_full(p_bucket text, p_limit integer, p_window_secs integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.limit_hit(p_bucket text, p_window_secs integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    insert into limit_hits as l (bucket, window_start, window_end, hits)
    select sha256(convert_to(p_bucket, 'UTF8')), s, s + make_interval(secs => p_window_secs), 1
    from (select to_timestamp(floor(extract(epoch from now()) / p_window_secs) * p_window_secs) as s) w
    on conflict (bucket, window_start) do update set hits = l.hits + 1
$$;

ALTER FUNCTION public.limit_hit(p_bucket text, p_window_secs integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.limit_take(p_bucket text, p_limit integer, p_window_secs integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
declare
    v_start timestamptz := to_timestamp(floor(extract(epoch from now()) / p_window_secs) * p_window_secs);
    v_end timestamptz := v_start + make_interval(secs => p_window_secs);
    v_hits integer;
begin
    insert into limit_hits as l (bucket, window_start, window_end, hits)
    values (sha256(convert_to(p_bucket, 'UTF8')), v_start, v_end, 1)
    on conflict (bucket, window_start) do update set hits = l.hits + 1 where l.hits < p_limit
    returning hits into v_hits;
    if v_hits is null or v_hits > p_limit then
        return greatest(1, ceil(extract(epoch from v_end - now())))::integer;
    end if;
    return 0;
end $$;

ALTER FUNCTION public.limit_take(p_bucket text, p_limit integer, p_window_secs integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.live_connect(p_id text, p_endpoint text, p_staff uuid, p_inscription uuid, p_profile uuid, p_masterclass uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    insert into live_connections (id, endpoint, staff_id, inscription_id, profile_id, masterclass_id)
    values (p_id, p_endpoint, p_staff, p_inscription, p_profile, p_masterclass)
    on conflict (id) do update set endpoint = excluded.endpoint, staff_id = excluded.staff_id,
        inscription_id = excluded.inscription_id, profile_id = excluded.profile_id,
        masterclass_id = excluded.masterclass_id, horizon = excluded.horizon,
        connected_at = now(), seen_at = now()
$$;

ALTER FUNCTION public.live_connect(p_id text, p_endpoint text, p_staff uuid, p_inscription uuid, p_profile uuid, p_masterclass uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.live_disconnect(p_ids text[]) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    with gone as (delete from live_connections where id = any(p_ids) returning 1)
    select count(*) from gone
$$;

ALTER FUNCTION public.live_disconnect(p_ids text[]) OWNER TO masterclass_definer;

CREATE FUNCTION public.live_drain(p_endpoint text, p_limit integer) RETURNS TABLE(connection_id text, collections text[])
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_drain(p_endpoint text, p_limit integer) OWNER TO masterclass_definer;

CREATE FUNCTION public.live_housekeeping(p_changes interval, p_connections interval) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    with changes as (delete from live_changes where created_at < now() - p_changes returning 1),
         pokes as (delete from live_pokes where created_at < now() - p_changes returning 1),
         connections as (delete from live_connections where seen_at < now() - p_connections returning 1)
    select (select count(*) from changes) + (select count(*) from pokes) + (select count(*) from connections)
$$;

ALTER FUNCTION public.live_housekeeping(p_changes interval, p_connections interval) OWNER TO masterclass_definer;

CREATE FUNCTION public.live_record_assignments() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_record_assignments() OWNER TO masterclass_definer;

CREATE FUNCTION public.live_record_documents() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_record_documents() OWNER TO masterclass_definer;

CREATE FUNCTION public.live_record_inscriptions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_record_inscriptions() OWNER TO masterclass_definer;

CREATE FUNCTION public.live_record_masterclasses() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_record_masterclasses() OWNER TO masterclass_definer;

CREATE FUNCTION public.live_record_questions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.live_record_questions() OWNER TO masterclass_definer;

CREATE FUNCTION public.live_seen(p_endpoint text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    update live_connections set seen_at = now() where endpoint = p_endpoint
$$;

ALTER FUNCTION public.live_seen(p_endpoint text) OWNER TO masterclass_definer;

CREATE FUNCTION public.message_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$
    select case status
        when 'queued' then 0 when 'claimed' then 0 when 'held' then 0 when 'sending' then 1
        when 'in_doubt' then 1 when 'sent' then 2 when 'delivered' then 3 when 'read' then 4
        when 'failed' then 5 when 'dead' then 5 when 'suppressed' then 5 else -1 end
$$;

ALTER FUNCTION public.message_status_rank(status text) OWNER TO <owner>;

CREATE FUNCTION public.name_key(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, t));

ALTER FUNCTION public.name_key(t text) OWNER TO <owner>;

CREATE FUNCTION public.purge_idempotency_keys(p_older_than interval) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
    with purged as (delete from idempotency_keys where created_at < now() - p_older_than returning 1),
         erased as (delete from idempotency_erased where created_at < now() - p_older_than returning 1),
         windows as (delete from limit_hits where window_end < now() returning 1)
    select count(*) from purged
$$;

ALTER FUNCTION public.purge_idempotency_keys(p_older_than interval) OWNER TO masterclass_definer;

CREATE FUNCTION public.question_keys_frozen() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    if new.correct <> old.correct and exists (select 1 from test_answers where question_id = old.question_id) then
        raise exception 'the correct answer of a question used in a submitted test cannot change'
            using errcode = 'check_violation', constraint = 'question_keys_frozen_when_used';
    end if;
    return new;
end $$;

ALTER FUNCTION public.question_keys_frozen() OWNER TO <owner>;

CREATE FUNCTION public.register_inscription(p_id uuid, p_masterclass_id uuid, p_full_name text, p_date_of_birth date, p_whatsapp_number text, p_consent_at timestamp with time zone, p_consent_version text, p_token_hash bytea, p_message_type text, p_message_data jsonb, p_message_body text) RETURNS TABLE(inscription_id uuid, profile_id uuid, registered_at timestamp with time zone, existing boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
#variable_conflict use_column
declare
    v_number text := auth_registrar_number();
    v_profile uuid;
    v_inscription uuid;
    v_at timestamptz;
begin
    if v_number is null or p_whatsapp_number is distinct from v_number then
        raise exception 'a registrar registers the number of its claims only'
            using errcode = '42501';
    end if;
    perform 1 from masterclasses m
    where m.id = p_masterclass_id and m.published and m.deleted_at is null;
    if not found then
        raise exception 'masterclass % is not open for registration', p_masterclass_id
            using errcode = '42501';
    end if;
    v_profile := register_profile(p_full_name, p_date_of_birth, p_consent_at, p_consent_version);
    insert into inscriptions (id, masterclass_id, profile_id, full_name, date_of_birth,
                              whatsapp_number, consent_at, consent_version)
    values (coalesce(p_id, gen_random_uuid()), p_masterclass_id, v_profile, p_full_name,
            p_date_of_birth, v_number, p_consent_at, p_consent_version)
    on conflict (masterclass_id, profile_id) where deleted_at is null do nothing
    returning id, created_at into v_inscription, v_at;
    if v_inscription is null then
        select i.id into v_inscription from inscriptions i
        where i.masterclass_id = p_masterclass_id and i.profile_id = v_profile
          and i.deleted_at is null;
        return query select v_inscription, v_profile, null::timestamptz, true;
        return;
    end if;
    insert into inscription_tokens (inscription_id, token_hash) values (v_inscription, p_token_hash);
    insert into outbox_messages (inscription_id, profile_id, to_number, message_type, data, body,
                                 dedupe_key)
    values (v_inscription, v_profile, v_number, p_message_type, p_message_data,
            p_message_body, p_message_type || ':' || v_inscription)
    on conflict (dedupe_key) do nothing;
    insert into audit_log (action, entity, entity_id, details)
    values ('inscription.created', 'inscription', v_inscription::text,
            jsonb_build_object('masterclass_id', p_masterclass_id));
    return query select v_inscription, v_profile, v_at, false;
end $$;

ALTER FUNCTION public.register_inscription(p_id uuid, p_masterclass_id uuid, p_full_name text, p_date_of_birth date, p_whatsapp_number text, p_consent_at timestamp with time zone, p_consent_version text, p_token_hash bytea, p_message_type text, p_message_data jsonb, p_message_body text) OWNER TO masterclass_definer;

CREATE FUNCTION public.register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamp with time zone, p_consent_version text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
declare
    v_number text := auth_registrar_number();
    v_id uuid;
begin
    if v_number is null then
        raise exception 'only a registration creates a profile' using errcode = '42501';
    end if;
    insert into profiles (full_name, date_of_birth, whatsapp_number, consent_at, consent_version)
    values (p_full_name, p_date_of_birth, v_number, p_consent_at, p_consent_version)
    on conflict (whatsapp_number) where erased_at is null do nothing
    returning id into v_id;
    if v_id is null then
        select id into v_id from profiles where whatsapp_number = v_number and erased_at is null;
    end if;
    return v_id;
end $$;

ALTER FUNCTION public.register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamp with time zone, p_consent_version text) OWNER TO masterclass_definer;

CREATE FUNCTION public.score_test_attempt(p_attempt uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
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

ALTER FUNCTION public.score_test_attempt(p_attempt uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.search_fold(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, t)), '[^a-z0-9]+'::text, ''::text, 'g'::text);

ALTER FUNCTION public.search_fold(t text) OWNER TO <owner>;

CREATE FUNCTION public.student_search(full_name text, whatsapp_number text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ((public.search_fold(full_name) || ' '::text) || regexp_replace(whatsapp_number, '[^0-9]+'::text, ''::text, 'g'::text));

ALTER FUNCTION public.student_search(full_name text, whatsapp_number text) OWNER TO <owner>;

CREATE FUNCTION public.student_search_ids(p_query text) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER ROWS 100
    SET search_path TO 'public'
    AS $$
    select id from inscriptions
    where student_search(full_name, whatsapp_number) like '%' || search_fold(p_query) || '%'
      and deleted_at is null and merged_into is null
      and ((select auth_is_admin()) or masterclass_id in (select auth_tutored()))
$$;

ALTER FUNCTION public.student_search_ids(p_query text) OWNER TO masterclass_definer;

CREATE FUNCTION public.sync_count_first_attempts(p_inscription uuid) RETURNS void
    LANGUAGE sql
    AS $$
    with ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id = p_inscription
    )
    update test_attempts a set superseded = true
    from ranked r where a.id = r.id and r.n > 1 and not a.superseded;
    with ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id = p_inscription
    )
    update test_attempts a set superseded = false
    from ranked r where a.id = r.id and r.n = 1 and a.superseded;
$$;

ALTER FUNCTION public.sync_count_first_attempts(p_inscription uuid) OWNER TO <owner>;

CREATE FUNCTION public.sync_hidden_masterclasses(p_after_xid xid8, p_after_version bigint, p_horizon xid8) RETURNS TABLE(id uuid, x xid8, v bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
    select m.id, m.sync_xid, m.row_version from masterclasses m
    where (m.sync_xid, m.row_version) > (p_after_xid, p_after_version)
      and m.sync_xid < p_horizon
      and not (m.published and m.deleted_at is null)
$$;

ALTER FUNCTION public.sync_hidden_masterclasses(p_after_xid xid8, p_after_version bigint, p_horizon xid8) OWNER TO masterclass_definer;

CREATE FUNCTION public.sync_masterclass_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
    select id from masterclasses
$$;

ALTER FUNCTION public.sync_masterclass_ids() OWNER TO masterclass_definer;

CREATE FUNCTION public.sync_record_exists(p_collection text, p_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
    select case p_collection
        when 'inscriptions' then exists (select 1 from inscriptions where id = p_id)
        when 'questions' then exists (select 1 from questions where id = p_id)
        when 'masterclasses' then exists (select 1 from masterclasses where id = p_id)
        else false
    end
$$;

ALTER FUNCTION public.sync_record_exists(p_collection text, p_id uuid) OWNER TO masterclass_definer;

CREATE FUNCTION public.sync_server_hlc() RETURNS text
    LANGUAGE sql
    AS $$
    select lpad(floor(extract(epoch from clock_timestamp()) * 1000)::bigint::text, 13, '0')
           || '-00000-server'
$$;

ALTER FUNCTION public.sync_server_hlc() OWNER TO <owner>;

CREATE FUNCTION public.sync_settle_inscriptions(p_masterclass uuid, p_profile uuid) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
declare
    v_erased uuid;
begin
    select id into v_erased from inscriptions
    where masterclass_id = p_masterclass and profile_id = p_profile and erased_at is not null
    order by created_at, id limit 1;
    if v_erased is not null then
        return v_erased;
    end if;
    return sync_settle_live_inscriptions(p_masterclass, p_profile);
end $$;

ALTER FUNCTION public.sync_settle_inscriptions(p_masterclass uuid, p_profile uuid) OWNER TO <owner>;

CREATE FUNCTION public.sync_settle_live_inscriptions(p_masterclass uuid, p_profile uuid) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
declare
    v_winner uuid;
    v_moved bigint;
    v_papers bigint;
begin
    select id into v_winner from inscriptions
    where masterclass_id = p_masterclass and profile_id = p_profile
    order by created_at, id limit 1;
    if v_winner is null then
        return null;
    end if;
    if not exists (select 1 from inscriptions where masterclass_id = p_masterclass
                   and profile_id = p_profile and id <> v_winner) then
        -- The person's only inscription (almost always): alive, and its first attempt of each
        -- kind counts.
        update inscriptions set deleted_at = null, merged_into = null
        where id = v_winner and (deleted_at is not null or merged_into is not null);
        perform sync_count_first_attempts(v_winner);
        return v_winner;
    end if;
    update inscriptions set deleted_at = coalesce(deleted_at, now()), merged_into = v_winner
    where masterclass_id = p_masterclass and profile_id = p_profile and id <> v_winner
      and (merged_into is distinct from v_winner or deleted_at is null);
    update inscriptions set deleted_at = null, merged_into = null
    where id = v_winner and (deleted_at is not null or merged_into is not null);
    update inscription_tokens set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    get diagnostics v_moved = row_count;
    update outbox_messages set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    insert into test_papers (inscription_id, question_ids)
    select v_winner, pp.question_ids from test_papers pp
    join inscriptions i on i.id = pp.inscription_id and i.merged_into = v_winner
    order by pp.created_at, pp.inscription_id limit 1
    on conflict (inscription_id) do nothing;
    get diagnostics v_papers = row_count;
    -- The survivor's record now carries more (tokens, a paper) than the side that sent it
    -- knows: a new version, ours, so that it goes back.
    if v_moved + v_papers > 0 then
        update inscriptions set row_version = nextval('sync_row_version'), sync_source = null
        where id = v_winner;
    end if;
    -- Supersede first, then move, then count the first of each kind: the unique index holds at
    -- every step.
    with person as (
        select id from inscriptions where masterclass_id = p_masterclass and profile_id = p_profile
    ), ranked as (
        select a.id, row_number() over (partition by a.kind order by a.submitted_at, a.id) as n
        from test_attempts a where a.inscription_id in (select id from person)
    )
    update test_attempts a set superseded = true
    from ranked r where a.id = r.id and r.n > 1 and not a.superseded;
    update test_attempts set inscription_id = v_winner
    where inscription_id in (select id from inscriptions where merged_into = v_winner);
    perform sync_count_first_attempts(v_winner);
    return v_winner;
end $$;

ALTER FUNCTION public.sync_settle_live_inscriptions(p_masterclass uuid, p_profile uuid) OWNER TO <owner>;

CREATE FUNCTION public.sync_stamp_after(p_clocks jsonb) RETURNS text
    LANGUAGE sql
    AS $_$
    select case when newest is null or newest < now_clock collate "C" then now_clock
                else sync_tick_after(newest) end
    from (select sync_server_hlc() as now_clock,
                 (select max((c.value #>> '{}') collate "C") from jsonb_each(coalesce(p_clocks, '{}')) c
                  where jsonb_typeof(c.value) = 'string'
                    and c.value #>> '{}' ~ '^[0-9]{13}-[0-9]{5}-[A-Za-z0-9_-]{1,64}$') as newest) s
$_$;

ALTER FUNCTION public.sync_stamp_after(p_clocks jsonb) OWNER TO <owner>;

CREATE FUNCTION public.sync_stamp_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION public.sync_stamp_insert() OWNER TO <owner>;

CREATE FUNCTION public.sync_stamp_key() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    if coalesce(current_setting('sync.applying', true), '') <> 'on'
       and coalesce(current_setting('masterclass.restoring', true), '') <> 'on' then
        update questions set field_clocks = jsonb_set(field_clocks, '{correct}',
                                                      to_jsonb(sync_stamp_after(field_clocks)))
        where id = new.question_id and field_clocks -> 'correct' is null;
    end if;
    return new;
end $$;

ALTER FUNCTION public.sync_stamp_key() OWNER TO <owner>;

CREATE FUNCTION public.sync_tick_after(p_clock text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    select case when substr(p_clock, 15, 5)::integer < 99999
                then substr(p_clock, 1, 14) || lpad((substr(p_clock, 15, 5)::integer + 1)::text, 5, '0')
                     || '-server'
                else lpad((substr(p_clock, 1, 13)::bigint + 1)::text, 13, '0') || '-00000-server'
           end
$$;

ALTER FUNCTION public.sync_tick_after(p_clock text) OWNER TO <owner>;

CREATE FUNCTION public.sync_touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION public.sync_touch() OWNER TO <owner>;

CREATE FUNCTION public.sync_touch_key() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION public.sync_touch_key() OWNER TO <owner>;

CREATE FUNCTION public.sync_touch_token() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public'
    AS $$
begin
    update inscriptions set row_version = nextval('sync_row_version') where id = new.inscription_id;
    return null;
end $$;

ALTER FUNCTION public.sync_touch_token() OWNER TO masterclass_definer;

CREATE FUNCTION public.touch_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    new.updated_at := now();
    return new;
end $$;

ALTER FUNCTION public.touch_outbox() OWNER TO <owner>;

CREATE FUNCTION public.touch_row() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    new.row_version := nextval('sync_row_version');
    new.updated_at := now();
    return new;
end $$;

ALTER FUNCTION public.touch_row() OWNER TO <owner>;

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor_role text DEFAULT public.auth_role() NOT NULL,
    actor_id text DEFAULT (public.auth_claims() ->> 'sub'::text),
    action text NOT NULL,
    entity text NOT NULL,
    entity_id text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE ONLY public.audit_log FORCE ROW LEVEL SECURITY;

ALTER TABLE public.audit_log OWNER TO <owner>;

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.backup_runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    prefix text,
    status text DEFAULT 'running'::text NOT NULL,
    tables integer,
    rows bigint,
    bytes bigint,
    erased integer,
    error text,
    CONSTRAINT backup_runs_status CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text])))
);

ALTER TABLE ONLY public.backup_runs FORCE ROW LEVEL SECURITY;

ALTER TABLE public.backup_runs OWNER TO <owner>;

CREATE TABLE public.chat_replies (
    seq bigint NOT NULL,
    chat_test_id uuid NOT NULL,
    provider_message_id text NOT NULL,
    sent_at timestamp with time zone NOT NULL,
    reply text NOT NULL,
    CONSTRAINT chat_replies_reply CHECK ((reply = ANY (ARRAY['A'::text, 'B'::text, 'C'::text, 'D'::text, 'BACK'::text, 'START'::text, 'OTHER'::text])))
);

ALTER TABLE ONLY public.chat_replies FORCE ROW LEVEL SECURITY;

ALTER TABLE public.chat_replies OWNER TO <owner>;

ALTER TABLE public.chat_replies ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.chat_replies_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.chat_tests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    inscription_id uuid NOT NULL,
    profile_id uuid NOT NULL,
    kind text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    carried jsonb DEFAULT '{}'::jsonb NOT NULL,
    active_at timestamp with time zone DEFAULT now() NOT NULL,
    reminded_at timestamp with time zone,
    ended_at timestamp with time zone,
    ended_reason text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT chat_tests_ended CHECK (((ended_at IS NULL) = (ended_reason IS NULL))),
    CONSTRAINT chat_tests_kind CHECK ((kind = ANY (ARRAY['PRE'::text, 'POST'::text]))),
    CONSTRAINT chat_tests_reason CHECK ((ended_reason = ANY (ARRAY['submitted'::text, 'expired'::text, 'reset'::text, 'closed'::text, 'stopped'::text])))
);

ALTER TABLE ONLY public.chat_tests FORCE ROW LEVEL SECURITY;

ALTER TABLE public.chat_tests OWNER TO <owner>;

CREATE TABLE public.consent_events (
    id bigint NOT NULL,
    profile_id uuid NOT NULL,
    inscription_id uuid,
    given boolean NOT NULL,
    source text NOT NULL,
    version text,
    at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT consent_events_source CHECK ((source = ANY (ARRAY['registration'::text, 'web'::text, 'whatsapp'::text, 'staff'::text])))
);

ALTER TABLE ONLY public.consent_events FORCE ROW LEVEL SECURITY;

ALTER TABLE public.consent_events OWNER TO <owner>;

ALTER TABLE public.consent_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.consent_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE SEQUENCE public.sync_row_version
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER TABLE public.sync_row_version OWNER TO <owner>;

CREATE TABLE public.documents (
    id uuid NOT NULL,
    owner_id uuid DEFAULT public.auth_uid() NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    sync_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    sync_source uuid,
    CONSTRAINT documents_key_length CHECK (((char_length(key) >= 1) AND (char_length(key) <= 200))),
    CONSTRAINT documents_value_size CHECK ((octet_length((value)::text) <= (2 * 65536)))
);

ALTER TABLE ONLY public.documents FORCE ROW LEVEL SECURITY;

ALTER TABLE public.documents OWNER TO <owner>;

CREATE TABLE public.idempotency_erased (
    caller text NOT NULL,
    scope text NOT NULL,
    key_hash bytea NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.idempotency_erased FORCE ROW LEVEL SECURITY;

ALTER TABLE public.idempotency_erased OWNER TO <owner>;

CREATE TABLE public.idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response_status smallint,
    response_body jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    caller text DEFAULT COALESCE((public.auth_claims() ->> 'sub'::text), 'anon'::text) NOT NULL
);

ALTER TABLE ONLY public.idempotency_keys FORCE ROW LEVEL SECURITY;

ALTER TABLE public.idempotency_keys OWNER TO <owner>;

CREATE TABLE public.incoming_messages (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    provider_message_id text NOT NULL,
    profile_id uuid,
    from_number text NOT NULL,
    body text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    payload jsonb NOT NULL
);

ALTER TABLE ONLY public.incoming_messages FORCE ROW LEVEL SECURITY;

ALTER TABLE public.incoming_messages OWNER TO <owner>;

CREATE TABLE public.inscription_scores (
    inscription_id uuid NOT NULL,
    masterclass_id uuid NOT NULL,
    pre_score integer,
    post_score integer,
    max_score integer
);

ALTER TABLE ONLY public.inscription_scores FORCE ROW LEVEL SECURITY;

ALTER TABLE public.inscription_scores OWNER TO <owner>;

CREATE TABLE public.inscription_tokens (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    inscription_id uuid NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone
);

ALTER TABLE ONLY public.inscription_tokens FORCE ROW LEVEL SECURITY;

ALTER TABLE public.inscription_tokens OWNER TO <owner>;

CREATE TABLE public.inscriptions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    masterclass_id uuid NOT NULL,
    profile_id uuid NOT NULL,
    attended boolean DEFAULT false NOT NULL,
    attendance_validated_at timestamp with time zone,
    attendance_validated_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    full_name text NOT NULL,
    date_of_birth date,
    whatsapp_number text NOT NULL,
    consent_at timestamp with time zone NOT NULL,
    consent_version text,
    sync_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    sync_source uuid,
    merged_into uuid,
    photo_key text,
    photo_size bigint,
    photo_content_type text,
    consent_withdrawn_at timestamp with time zone,
    erased_at timestamp with time zone,
    CONSTRAINT inscriptions_full_name_length CHECK (((char_length(full_name) >= 1) AND (char_length(full_name) <= 200))),
    CONSTRAINT inscriptions_photo_complete CHECK ((((photo_key IS NULL) = (photo_size IS NULL)) AND ((photo_key IS NULL) = (photo_content_type IS NULL)))),
    CONSTRAINT inscriptions_whatsapp_e164 CHECK ((whatsapp_number ~ '^\+[1-9][0-9]{6,14}$'::text))
);

ALTER TABLE ONLY public.inscriptions FORCE ROW LEVEL SECURITY;

ALTER TABLE public.inscriptions OWNER TO <owner>;

CREATE TABLE public.limit_hits (
    bucket bytea NOT NULL,
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    hits integer NOT NULL
);

ALTER TABLE ONLY public.limit_hits FORCE ROW LEVEL SECURITY;

ALTER TABLE public.limit_hits OWNER TO <owner>;

CREATE TABLE public.live_changes (
    id bigint NOT NULL,
    collection text NOT NULL,
    masterclass_id uuid,
    subject uuid,
    public boolean DEFAULT false NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT live_changes_collection CHECK ((collection = ANY (ARRAY['masterclasses'::text, 'inscriptions'::text, 'questions'::text, 'documents'::text, 'assignment'::text])))
);

ALTER TABLE ONLY public.live_changes FORCE ROW LEVEL SECURITY;

ALTER TABLE public.live_changes OWNER TO <owner>;

ALTER TABLE public.live_changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.live_changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.live_connections (
    id text NOT NULL,
    endpoint text NOT NULL,
    staff_id uuid,
    inscription_id uuid,
    profile_id uuid,
    masterclass_id uuid,
    horizon xid8 DEFAULT pg_snapshot_xmin(pg_current_snapshot()) NOT NULL,
    connected_at timestamp with time zone DEFAULT now() NOT NULL,
    seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT live_connections_caller CHECK ((((staff_id IS NOT NULL) AND (inscription_id IS NULL) AND (profile_id IS NULL) AND (masterclass_id IS NULL)) OR ((staff_id IS NULL) AND (inscription_id IS NOT NULL) AND (profile_id IS NOT NULL) AND (masterclass_id IS NOT NULL))))
);

ALTER TABLE ONLY public.live_connections FORCE ROW LEVEL SECURITY;

ALTER TABLE public.live_connections OWNER TO <owner>;

CREATE TABLE public.live_pokes (
    connection_id text NOT NULL,
    collections text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.live_pokes FORCE ROW LEVEL SECURITY;

ALTER TABLE public.live_pokes OWNER TO <owner>;

CREATE TABLE public.masterclass_tutors (
    masterclass_id uuid NOT NULL,
    tutor_id uuid NOT NULL,
    assigned_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.masterclass_tutors FORCE ROW LEVEL SECURITY;

ALTER TABLE public.masterclass_tutors OWNER TO <owner>;

CREATE TABLE public.masterclasses (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    title text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    published boolean DEFAULT false NOT NULL,
    pdf_key text,
    pdf_size bigint,
    pdf_uploaded_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    sync_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    sync_source uuid,
    CONSTRAINT masterclasses_description_length CHECK ((char_length(description) <= 5000)),
    CONSTRAINT masterclasses_pdf_complete CHECK (((pdf_key IS NULL) = (pdf_size IS NULL))),
    CONSTRAINT masterclasses_schedule CHECK ((ends_at > starts_at)),
    CONSTRAINT masterclasses_title_length CHECK (((char_length(title) >= 3) AND (char_length(title) <= 200)))
);

ALTER TABLE ONLY public.masterclasses FORCE ROW LEVEL SECURITY;

ALTER TABLE public.masterclasses OWNER TO <owner>;

CREATE TABLE public.outbox_messages (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    inscription_id uuid,
    profile_id uuid,
    to_number text NOT NULL,
    message_type text NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    body text NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    due_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    provider_message_id text,
    dedupe_key text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    claim_id uuid,
    claimed_at timestamp with time zone,
    status_at timestamp with time zone,
    created_by uuid,
    claim_expires_at timestamp with time zone,
    sending_at timestamp with time zone,
    resent_after_doubt boolean DEFAULT false NOT NULL,
    lookup_failures integer DEFAULT 0 NOT NULL,
    limit_waived boolean DEFAULT false NOT NULL,
    CONSTRAINT outbox_messages_e164 CHECK ((to_number ~ '^\+[1-9][0-9]{6,14}$'::text)),
    CONSTRAINT outbox_messages_lookup_failures_check CHECK ((lookup_failures >= 0)),
    CONSTRAINT outbox_messages_status CHECK ((status = ANY (ARRAY['queued'::text, 'claimed'::text, 'sending'::text, 'in_doubt'::text, 'sent'::text, 'delivered'::text, 'read'::text, 'failed'::text, 'dead'::text, 'suppressed'::text, 'held'::text]))),
    CONSTRAINT outbox_messages_type CHECK ((message_type = ANY (ARRAY['registration_confirmed'::text, 'pre_test_result'::text, 'post_test_invitation'::text, 'post_test_result'::text, 'reminder'::text, 'custom'::text, 'test_question'::text, 'test_chat'::text])))
);

ALTER TABLE ONLY public.outbox_messages FORCE ROW LEVEL SECURITY;

ALTER TABLE public.outbox_messages OWNER TO <owner>;

CREATE TABLE public.profiles (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    full_name text NOT NULL,
    date_of_birth date,
    whatsapp_number text NOT NULL,
    consent_at timestamp with time zone,
    consent_version text,
    opted_out_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    erased_at timestamp with time zone,
    CONSTRAINT profiles_whatsapp_e164 CHECK ((whatsapp_number ~ '^\+[1-9][0-9]{6,14}$'::text))
);

ALTER TABLE ONLY public.profiles FORCE ROW LEVEL SECURITY;

ALTER TABLE public.profiles OWNER TO <owner>;

CREATE TABLE public.question_keys (
    question_id uuid NOT NULL,
    correct character(1) NOT NULL,
    CONSTRAINT question_keys_letter CHECK ((correct = ANY (ARRAY['A'::bpchar, 'B'::bpchar, 'C'::bpchar, 'D'::bpchar])))
);

ALTER TABLE ONLY public.question_keys FORCE ROW LEVEL SECURITY;

ALTER TABLE public.question_keys OWNER TO <owner>;

CREATE TABLE public.questions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    masterclass_id uuid NOT NULL,
    text text NOT NULL,
    choice_a text NOT NULL,
    choice_b text NOT NULL,
    choice_c text NOT NULL,
    choice_d text NOT NULL,
    status text DEFAULT 'draft'::text NOT NULL,
    source_excerpt text,
    provenance jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    sync_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    sync_source uuid,
    CONSTRAINT questions_choices_distinct CHECK (((((lower(btrim(choice_a)) <> lower(btrim(choice_b))) AND (lower(btrim(choice_a)) <> lower(btrim(choice_c)))) AND (lower(btrim(choice_a)) <> lower(btrim(choice_d)))) AND ((lower(btrim(choice_b)) <> lower(btrim(choice_c))) AND (lower(btrim(choice_b)) <> lower(btrim(choice_d)))) AND (lower(btrim(choice_c)) <> lower(btrim(choice_d))))),
    CONSTRAINT questions_choices_present CHECK ((LEAST(char_length(btrim(choice_a)), char_length(btrim(choice_b)), char_length(btrim(choice_c)), char_length(btrim(choice_d))) > 0)),
    CONSTRAINT questions_status CHECK ((status = ANY (ARRAY['draft'::text, 'approved'::text, 'archived'::text]))),
    CONSTRAINT questions_text_length CHECK (((char_length(text) >= 5) AND (char_length(text) <= 1000)))
);

ALTER TABLE ONLY public.questions FORCE ROW LEVEL SECURITY;

ALTER TABLE public.questions OWNER TO <owner>;

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    sha256 text
);

ALTER TABLE public.schema_migrations OWNER TO <owner>;

CREATE TABLE public.staff_users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    full_name text NOT NULL,
    role text NOT NULL,
    password_hash text,
    active boolean DEFAULT true NOT NULL,
    failed_logins integer DEFAULT 0 NOT NULL,
    locked_until timestamp with time zone,
    token_version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    CONSTRAINT staff_users_email_lowercase CHECK ((email = lower(email))),
    CONSTRAINT staff_users_full_name_length CHECK (((char_length(full_name) >= 1) AND (char_length(full_name) <= 200))),
    CONSTRAINT staff_users_role CHECK ((role = ANY (ARRAY['admin'::text, 'tuteur'::text])))
);

ALTER TABLE ONLY public.staff_users FORCE ROW LEVEL SECURITY;

ALTER TABLE public.staff_users OWNER TO <owner>;

CREATE TABLE public.sync_clients (
    client_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    last_mutation_id bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.sync_clients FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_clients OWNER TO <owner>;

CREATE TABLE public.sync_objects (
    remote_id uuid NOT NULL,
    key text NOT NULL,
    direction text NOT NULL,
    noted_at timestamp with time zone DEFAULT now() NOT NULL,
    copied_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    CONSTRAINT sync_objects_direction CHECK ((direction = ANY (ARRAY['up'::text, 'down'::text])))
);

ALTER TABLE ONLY public.sync_objects FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_objects OWNER TO <owner>;

CREATE TABLE public.sync_parked (
    collection text NOT NULL,
    record_id uuid NOT NULL,
    fields jsonb NOT NULL,
    clocks jsonb NOT NULL,
    source uuid NOT NULL,
    waiting_for uuid[] DEFAULT '{}'::uuid[] NOT NULL,
    parked_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text
);

ALTER TABLE ONLY public.sync_parked FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_parked OWNER TO <owner>;

CREATE TABLE public.sync_peers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    secret_hash bytea NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    last_seen_at timestamp with time zone,
    CONSTRAINT sync_peers_name_length CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))
);

ALTER TABLE ONLY public.sync_peers FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_peers OWNER TO <owner>;

CREATE TABLE public.sync_pokes (
    id bigint NOT NULL,
    url text NOT NULL,
    collections text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    last_error text
);

ALTER TABLE ONLY public.sync_pokes FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_pokes OWNER TO <owner>;

ALTER TABLE public.sync_pokes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.sync_pokes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.sync_queue (
    remote_id uuid NOT NULL,
    mutation_id bigint NOT NULL,
    collection text NOT NULL,
    record_id uuid NOT NULL,
    fields jsonb NOT NULL,
    clocks jsonb NOT NULL,
    queued_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.sync_queue FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_queue OWNER TO <owner>;

CREATE TABLE public.sync_rejections (
    client_id uuid NOT NULL,
    mutation_id bigint NOT NULL,
    owner_id uuid DEFAULT public.auth_uid() NOT NULL,
    reason text NOT NULL,
    detail text,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.sync_rejections FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_rejections OWNER TO <owner>;

CREATE TABLE public.sync_remotes (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    url text NOT NULL,
    client_id uuid DEFAULT gen_random_uuid() NOT NULL,
    scan jsonb DEFAULT '{}'::jsonb NOT NULL,
    pull_cursor text,
    next_mutation_id bigint DEFAULT 1 NOT NULL,
    acknowledged bigint DEFAULT 0 NOT NULL,
    leased_until timestamp with time zone,
    leased_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.sync_remotes FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_remotes OWNER TO <owner>;

CREATE TABLE public.sync_runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    remote_url text NOT NULL,
    trigger text NOT NULL,
    status text DEFAULT 'running'::text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    pushed integer DEFAULT 0 NOT NULL,
    pulled integer DEFAULT 0 NOT NULL,
    rejected integer DEFAULT 0 NOT NULL,
    objects integer DEFAULT 0 NOT NULL,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    next_cursor text,
    CONSTRAINT sync_runs_status CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text, 'skipped'::text]))),
    CONSTRAINT sync_runs_trigger CHECK ((trigger = ANY (ARRAY['schedule'::text, 'manual'::text])))
);

ALTER TABLE ONLY public.sync_runs FORCE ROW LEVEL SECURITY;

ALTER TABLE public.sync_runs OWNER TO <owner>;

CREATE TABLE public.test_answers (
    attempt_id uuid NOT NULL,
    question_id uuid NOT NULL,
    choice character(1) NOT NULL,
    correct boolean,
    CONSTRAINT test_answers_letter CHECK ((choice = ANY (ARRAY['A'::bpchar, 'B'::bpchar, 'C'::bpchar, 'D'::bpchar])))
);

ALTER TABLE ONLY public.test_answers FORCE ROW LEVEL SECURITY;

ALTER TABLE public.test_answers OWNER TO <owner>;

CREATE TABLE public.test_attempts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    inscription_id uuid NOT NULL,
    kind text NOT NULL,
    score integer,
    max_score integer NOT NULL,
    submitted_at timestamp with time zone DEFAULT now() NOT NULL,
    row_version bigint DEFAULT nextval('public.sync_row_version'::regclass) NOT NULL,
    sync_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    field_clocks jsonb DEFAULT '{}'::jsonb NOT NULL,
    deleted_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    sync_source uuid,
    superseded boolean DEFAULT false NOT NULL,
    channel text DEFAULT 'web'::text NOT NULL,
    CONSTRAINT test_attempts_channel CHECK ((channel = ANY (ARRAY['web'::text, 'chat'::text]))),
    CONSTRAINT test_attempts_kind CHECK ((kind = ANY (ARRAY['PRE'::text, 'POST'::text]))),
    CONSTRAINT test_attempts_score_range CHECK (((score IS NULL) OR ((score >= 0) AND (score <= max_score))))
);

ALTER TABLE ONLY public.test_attempts FORCE ROW LEVEL SECURITY;

ALTER TABLE public.test_attempts OWNER TO <owner>;

CREATE TABLE public.test_drafts (
    inscription_id uuid NOT NULL,
    kind text NOT NULL,
    question_id uuid NOT NULL,
    choice text NOT NULL,
    answered_at timestamp with time zone NOT NULL,
    channel text NOT NULL,
    CONSTRAINT test_drafts_channel CHECK ((channel = ANY (ARRAY['web'::text, 'chat'::text]))),
    CONSTRAINT test_drafts_kind CHECK ((kind = ANY (ARRAY['PRE'::text, 'POST'::text]))),
    CONSTRAINT test_drafts_letter CHECK ((choice = ANY (ARRAY['A'::text, 'B'::text, 'C'::text, 'D'::text])))
);

ALTER TABLE ONLY public.test_drafts FORCE ROW LEVEL SECURITY;

ALTER TABLE public.test_drafts OWNER TO <owner>;

CREATE TABLE public.test_papers (
    inscription_id uuid NOT NULL,
    question_ids uuid[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.test_papers FORCE ROW LEVEL SECURITY;

ALTER TABLE public.test_papers OWNER TO <owner>;

CREATE TABLE public.test_windows (
    masterclass_id uuid NOT NULL,
    post_opened_at timestamp with time zone,
    post_opened_by uuid,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.test_windows FORCE ROW LEVEL SECURITY;

ALTER TABLE public.test_windows OWNER TO <owner>;

CREATE TABLE public.webhook_events (
    id bigint NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    provider text NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL
);

ALTER TABLE ONLY public.webhook_events FORCE ROW LEVEL SECURITY;

ALTER TABLE public.webhook_events OWNER TO <owner>;

ALTER TABLE public.webhook_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.backup_runs
    ADD CONSTRAINT backup_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.chat_replies
    ADD CONSTRAINT chat_replies_pkey PRIMARY KEY (chat_test_id, provider_message_id);

ALTER TABLE ONLY public.chat_tests
    ADD CONSTRAINT chat_tests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.consent_events
    ADD CONSTRAINT consent_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT documents_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.idempotency_erased
    ADD CONSTRAINT idempotency_erased_pkey PRIMARY KEY (caller, scope, key_hash);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (caller, scope, key);

ALTER TABLE ONLY public.incoming_messages
    ADD CONSTRAINT incoming_messages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.incoming_messages
    ADD CONSTRAINT incoming_messages_provider_id UNIQUE (provider_message_id);

ALTER TABLE ONLY public.inscription_scores
    ADD CONSTRAINT inscription_scores_pkey PRIMARY KEY (inscription_id);

ALTER TABLE ONLY public.inscription_tokens
    ADD CONSTRAINT inscription_tokens_hash_unique UNIQUE (token_hash);

ALTER TABLE ONLY public.inscription_tokens
    ADD CONSTRAINT inscription_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.inscriptions
    ADD CONSTRAINT inscriptions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.limit_hits
    ADD CONSTRAINT limit_hits_pkey PRIMARY KEY (bucket, window_start);

ALTER TABLE ONLY public.live_changes
    ADD CONSTRAINT live_changes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.live_connections
    ADD CONSTRAINT live_connections_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.live_pokes
    ADD CONSTRAINT live_pokes_pkey PRIMARY KEY (connection_id);

ALTER TABLE ONLY public.masterclass_tutors
    ADD CONSTRAINT masterclass_tutors_pkey PRIMARY KEY (masterclass_id, tutor_id);

ALTER TABLE ONLY public.masterclasses
    ADD CONSTRAINT masterclasses_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox_messages
    ADD CONSTRAINT outbox_messages_dedupe UNIQUE (dedupe_key);

ALTER TABLE ONLY public.outbox_messages
    ADD CONSTRAINT outbox_messages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.question_keys
    ADD CONSTRAINT question_keys_pkey PRIMARY KEY (question_id);

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.staff_users
    ADD CONSTRAINT staff_users_email_unique UNIQUE (email);

ALTER TABLE ONLY public.staff_users
    ADD CONSTRAINT staff_users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sync_clients
    ADD CONSTRAINT sync_clients_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY public.sync_objects
    ADD CONSTRAINT sync_objects_pkey PRIMARY KEY (remote_id, direction, key);

ALTER TABLE ONLY public.sync_parked
    ADD CONSTRAINT sync_parked_pkey PRIMARY KEY (collection, record_id);

ALTER TABLE ONLY public.sync_peers
    ADD CONSTRAINT sync_peers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sync_peers
    ADD CONSTRAINT sync_peers_secret_unique UNIQUE (secret_hash);

ALTER TABLE ONLY public.sync_pokes
    ADD CONSTRAINT sync_pokes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sync_queue
    ADD CONSTRAINT sync_queue_pkey PRIMARY KEY (remote_id, mutation_id);

ALTER TABLE ONLY public.sync_rejections
    ADD CONSTRAINT sync_rejections_pkey PRIMARY KEY (client_id, mutation_id);

ALTER TABLE ONLY public.sync_remotes
    ADD CONSTRAINT sync_remotes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sync_remotes
    ADD CONSTRAINT sync_remotes_url_key UNIQUE (url);

ALTER TABLE ONLY public.sync_runs
    ADD CONSTRAINT sync_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.test_answers
    ADD CONSTRAINT test_answers_pkey PRIMARY KEY (attempt_id, question_id);

ALTER TABLE ONLY public.test_attempts
    ADD CONSTRAINT test_attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.test_drafts
    ADD CONSTRAINT test_drafts_pkey PRIMARY KEY (inscription_id, kind, question_id);

ALTER TABLE ONLY public.test_papers
    ADD CONSTRAINT test_papers_pkey PRIMARY KEY (inscription_id);

ALTER TABLE ONLY public.test_windows
    ADD CONSTRAINT test_windows_pkey PRIMARY KEY (masterclass_id);

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);

CREATE INDEX audit_log_action ON public.audit_log USING btree (action, id DESC);

CREATE INDEX audit_log_actor ON public.audit_log USING btree (actor_id, id DESC);

CREATE INDEX audit_log_at ON public.audit_log USING btree (at);

CREATE INDEX audit_log_target ON public.audit_log USING btree (entity, entity_id, id DESC);

CREATE INDEX chat_tests_due ON public.chat_tests USING btree (active_at) WHERE (ended_at IS NULL);

CREATE INDEX chat_tests_inscription ON public.chat_tests USING btree (inscription_id, created_at);

CREATE UNIQUE INDEX chat_tests_one_open ON public.chat_tests USING btree (profile_id) WHERE (ended_at IS NULL);

CREATE INDEX consent_events_inscription ON public.consent_events USING btree (inscription_id, at);

CREATE INDEX consent_events_profile ON public.consent_events USING btree (profile_id, at);

CREATE UNIQUE INDEX documents_one_live_per_key ON public.documents USING btree (owner_id, key) WHERE (deleted_at IS NULL);

CREATE INDEX documents_sync ON public.documents USING btree (owner_id, sync_xid, row_version);

CREATE INDEX idempotency_keys_created_at ON public.idempotency_keys USING btree (created_at);

CREATE INDEX inscription_tokens_inscription ON public.inscription_tokens USING btree (inscription_id);

CREATE INDEX inscriptions_listing ON public.inscriptions USING btree (created_at, id) WHERE ((deleted_at IS NULL) AND (merged_into IS NULL));

CREATE INDEX inscriptions_masterclass_listing ON public.inscriptions USING btree (masterclass_id, created_at, id) WHERE ((deleted_at IS NULL) AND (merged_into IS NULL));

CREATE INDEX inscriptions_merged_into ON public.inscriptions USING btree (merged_into) WHERE (merged_into IS NOT NULL);

CREATE INDEX inscriptions_name_key ON public.inscriptions USING btree (public.name_key(full_name), id) WHERE ((deleted_at IS NULL) AND (merged_into IS NULL));

CREATE UNIQUE INDEX inscriptions_one_per_person ON public.inscriptions USING btree (masterclass_id, profile_id) WHERE (deleted_at IS NULL);

CREATE INDEX inscriptions_person ON public.inscriptions USING btree (masterclass_id, profile_id);

CREATE INDEX inscriptions_profile ON public.inscriptions USING btree (profile_id);

CREATE INDEX inscriptions_search ON public.inscriptions USING gin (public.student_search(full_name, whatsapp_number) public.gin_trgm_ops) WHERE ((deleted_at IS NULL) AND (merged_into IS NULL));

CREATE INDEX inscriptions_sync ON public.inscriptions USING btree (sync_xid, row_version);

CREATE INDEX limit_hits_window_end ON public.limit_hits USING btree (window_end);

CREATE INDEX live_connections_endpoint ON public.live_connections USING btree (endpoint);

CREATE INDEX live_connections_staff ON public.live_connections USING btree (staff_id) WHERE (staff_id IS NOT NULL);

CREATE INDEX masterclass_tutors_tutor ON public.masterclass_tutors USING btree (tutor_id);

CREATE INDEX masterclasses_listing ON public.masterclasses USING btree (starts_at) WHERE (deleted_at IS NULL);

CREATE INDEX masterclasses_row_version ON public.masterclasses USING btree (row_version);

CREATE INDEX masterclasses_sync ON public.masterclasses USING btree (sync_xid, row_version);

CREATE INDEX outbox_messages_claimed ON public.outbox_messages USING btree (claim_expires_at) WHERE (status = ANY (ARRAY['claimed'::text, 'sending'::text]));

CREATE INDEX outbox_messages_due ON public.outbox_messages USING btree (due_at) WHERE (status = 'queued'::text);

CREATE INDEX outbox_messages_in_doubt ON public.outbox_messages USING btree (status_at) WHERE (status = 'in_doubt'::text);

CREATE INDEX outbox_messages_inscription ON public.outbox_messages USING btree (inscription_id);

CREATE INDEX outbox_messages_listing ON public.outbox_messages USING btree (created_at, id);

CREATE INDEX outbox_messages_provider_id ON public.outbox_messages USING btree (provider_message_id);

CREATE INDEX outbox_messages_sending ON public.outbox_messages USING btree (claimed_at) WHERE (status = 'sending'::text);

CREATE INDEX outbox_messages_status ON public.outbox_messages USING btree (status, created_at);

CREATE INDEX outbox_messages_to_number_sending ON public.outbox_messages USING btree (to_number, sending_at);

CREATE UNIQUE INDEX profiles_whatsapp_unique ON public.profiles USING btree (whatsapp_number) WHERE (erased_at IS NULL);

CREATE INDEX questions_bank ON public.questions USING btree (masterclass_id, status) WHERE (deleted_at IS NULL);

CREATE INDEX questions_listing ON public.questions USING btree (created_at, id) WHERE (deleted_at IS NULL);

CREATE INDEX questions_masterclass_listing ON public.questions USING btree (masterclass_id, created_at, id) WHERE (deleted_at IS NULL);

CREATE INDEX questions_sync ON public.questions USING btree (sync_xid, row_version);

CREATE INDEX sync_objects_pending ON public.sync_objects USING btree (remote_id, direction, noted_at) WHERE (copied_at IS NULL);

CREATE INDEX sync_parked_waiting ON public.sync_parked USING gin (waiting_for);

CREATE INDEX sync_pokes_due ON public.sync_pokes USING btree (next_attempt_at) WHERE (delivered_at IS NULL);

CREATE INDEX sync_runs_recent ON public.sync_runs USING btree (started_at DESC);

CREATE INDEX test_answers_question ON public.test_answers USING btree (question_id);

CREATE INDEX test_attempts_inscription ON public.test_attempts USING btree (inscription_id);

CREATE UNIQUE INDEX test_attempts_one_per_kind ON public.test_attempts USING btree (inscription_id, kind) WHERE (NOT superseded);

CREATE INDEX test_attempts_sync ON public.test_attempts USING btree (sync_xid, row_version);

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_append_only();

CREATE TRIGGER documents_live_delete AFTER DELETE ON public.documents REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_documents();

CREATE TRIGGER documents_live_insert AFTER INSERT ON public.documents REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_documents();

CREATE TRIGGER documents_live_update AFTER UPDATE ON public.documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_documents();

CREATE TRIGGER documents_stamp BEFORE INSERT ON public.documents FOR EACH ROW EXECUTE FUNCTION public.sync_stamp_insert();

CREATE TRIGGER documents_touch BEFORE UPDATE ON public.documents FOR EACH ROW EXECUTE FUNCTION public.sync_touch('key', 'value');

CREATE TRIGGER inscription_tokens_revoked AFTER UPDATE OF revoked_at ON public.inscription_tokens FOR EACH ROW WHEN (((new.revoked_at IS NOT NULL) AND (old.revoked_at IS NULL))) EXECUTE FUNCTION public.sync_touch_token();

CREATE TRIGGER inscriptions_consent AFTER INSERT ON public.inscriptions FOR EACH ROW WHEN ((new.erased_at IS NULL)) EXECUTE FUNCTION public.consent_of_registration();

CREATE TRIGGER inscriptions_erase BEFORE UPDATE OF erased_at ON public.inscriptions FOR EACH ROW WHEN (((old.erased_at IS NULL) AND (new.erased_at IS NOT NULL))) EXECUTE FUNCTION public.erase_inscription();

CREATE TRIGGER inscriptions_erased AFTER UPDATE OF erased_at ON public.inscriptions FOR EACH ROW WHEN (((old.erased_at IS NULL) AND (new.erased_at IS NOT NULL))) EXECUTE FUNCTION public.erased_inscription();

CREATE TRIGGER inscriptions_erased_chat AFTER UPDATE OF erased_at ON public.inscriptions FOR EACH ROW WHEN (((old.erased_at IS NULL) AND (new.erased_at IS NOT NULL))) EXECUTE FUNCTION public.erased_inscription_chat();

CREATE TRIGGER inscriptions_erased_stays BEFORE UPDATE ON public.inscriptions FOR EACH ROW WHEN ((old.erased_at IS NOT NULL)) EXECUTE FUNCTION public.erased_stays_erased();

CREATE TRIGGER inscriptions_live_delete AFTER DELETE ON public.inscriptions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_inscriptions();

CREATE TRIGGER inscriptions_live_insert AFTER INSERT ON public.inscriptions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_inscriptions();

CREATE TRIGGER inscriptions_live_update AFTER UPDATE ON public.inscriptions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_inscriptions();

CREATE TRIGGER inscriptions_stamp BEFORE INSERT ON public.inscriptions FOR EACH ROW EXECUTE FUNCTION public.sync_stamp_insert();

CREATE TRIGGER inscriptions_touch BEFORE UPDATE ON public.inscriptions FOR EACH ROW EXECUTE FUNCTION public.sync_touch('attended');

CREATE TRIGGER masterclass_tutors_live_delete AFTER DELETE ON public.masterclass_tutors REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_assignments();

CREATE TRIGGER masterclass_tutors_live_insert AFTER INSERT ON public.masterclass_tutors REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_assignments();

CREATE TRIGGER masterclass_tutors_live_update AFTER UPDATE ON public.masterclass_tutors REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_assignments();

CREATE TRIGGER masterclasses_live_delete AFTER DELETE ON public.masterclasses REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_masterclasses();

CREATE TRIGGER masterclasses_live_insert AFTER INSERT ON public.masterclasses REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_masterclasses();

CREATE TRIGGER masterclasses_live_update AFTER UPDATE ON public.masterclasses REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_masterclasses();

CREATE TRIGGER masterclasses_stamp BEFORE INSERT ON public.masterclasses FOR EACH ROW EXECUTE FUNCTION public.sync_stamp_insert();

CREATE TRIGGER masterclasses_touch BEFORE UPDATE ON public.masterclasses FOR EACH ROW EXECUTE FUNCTION public.sync_touch('title', 'description', 'starts_at', 'ends_at', 'published');

CREATE TRIGGER outbox_messages_held_erased BEFORE UPDATE ON public.outbox_messages FOR EACH ROW WHEN (((new.status = 'held'::text) AND (new.to_number = public.erased_number()))) EXECUTE FUNCTION public.held_message_erased();

CREATE TRIGGER outbox_messages_touch BEFORE UPDATE ON public.outbox_messages FOR EACH ROW EXECUTE FUNCTION public.touch_outbox();

CREATE TRIGGER profiles_erase BEFORE UPDATE OF erased_at ON public.profiles FOR EACH ROW WHEN (((old.erased_at IS NULL) AND (new.erased_at IS NOT NULL))) EXECUTE FUNCTION public.erase_profile();

CREATE TRIGGER profiles_touch BEFORE UPDATE ON public.profiles FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER question_keys_clock AFTER UPDATE ON public.question_keys FOR EACH ROW EXECUTE FUNCTION public.sync_touch_key();

CREATE TRIGGER question_keys_frozen BEFORE UPDATE ON public.question_keys FOR EACH ROW EXECUTE FUNCTION public.question_keys_frozen();

CREATE TRIGGER question_keys_stamp AFTER INSERT ON public.question_keys FOR EACH ROW EXECUTE FUNCTION public.sync_stamp_key();

CREATE TRIGGER questions_live_delete AFTER DELETE ON public.questions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_questions();

CREATE TRIGGER questions_live_insert AFTER INSERT ON public.questions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_questions();

CREATE TRIGGER questions_live_update AFTER UPDATE ON public.questions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.live_record_questions();

CREATE TRIGGER questions_stamp BEFORE INSERT ON public.questions FOR EACH ROW EXECUTE FUNCTION public.sync_stamp_insert();

CREATE TRIGGER questions_touch BEFORE UPDATE ON public.questions FOR EACH ROW EXECUTE FUNCTION public.sync_touch('text', 'choice_a', 'choice_b', 'choice_c', 'choice_d', 'status', 'source_excerpt');

CREATE TRIGGER staff_users_touch BEFORE UPDATE ON public.staff_users FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER test_attempts_scores AFTER INSERT OR DELETE OR UPDATE ON public.test_attempts FOR EACH ROW EXECUTE FUNCTION public.inscription_scores_follow();

CREATE TRIGGER test_attempts_touch BEFORE UPDATE ON public.test_attempts FOR EACH ROW EXECUTE FUNCTION public.sync_touch();

ALTER TABLE ONLY public.chat_replies
    ADD CONSTRAINT chat_replies_chat_test_id_fkey FOREIGN KEY (chat_test_id) REFERENCES public.chat_tests(id);

ALTER TABLE ONLY public.chat_tests
    ADD CONSTRAINT chat_tests_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.chat_tests
    ADD CONSTRAINT chat_tests_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.profiles(id);

ALTER TABLE ONLY public.consent_events
    ADD CONSTRAINT consent_events_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.consent_events
    ADD CONSTRAINT consent_events_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.profiles(id);

ALTER TABLE ONLY public.incoming_messages
    ADD CONSTRAINT incoming_messages_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.profiles(id);

ALTER TABLE ONLY public.inscription_scores
    ADD CONSTRAINT inscription_scores_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.inscription_scores
    ADD CONSTRAINT inscription_scores_masterclass_id_fkey FOREIGN KEY (masterclass_id) REFERENCES public.masterclasses(id);

ALTER TABLE ONLY public.inscription_tokens
    ADD CONSTRAINT inscription_tokens_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.inscriptions
    ADD CONSTRAINT inscriptions_attendance_validated_by_fkey FOREIGN KEY (attendance_validated_by) REFERENCES public.staff_users(id);

ALTER TABLE ONLY public.inscriptions
    ADD CONSTRAINT inscriptions_masterclass_id_fkey FOREIGN KEY (masterclass_id) REFERENCES public.masterclasses(id);

ALTER TABLE ONLY public.inscriptions
    ADD CONSTRAINT inscriptions_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.profiles(id);

ALTER TABLE ONLY public.live_pokes
    ADD CONSTRAINT live_pokes_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES public.live_connections(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.masterclass_tutors
    ADD CONSTRAINT masterclass_tutors_masterclass_id_fkey FOREIGN KEY (masterclass_id) REFERENCES public.masterclasses(id);

ALTER TABLE ONLY public.masterclass_tutors
    ADD CONSTRAINT masterclass_tutors_tutor_id_fkey FOREIGN KEY (tutor_id) REFERENCES public.staff_users(id);

ALTER TABLE ONLY public.outbox_messages
    ADD CONSTRAINT outbox_messages_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.staff_users(id);

ALTER TABLE ONLY public.outbox_messages
    ADD CONSTRAINT outbox_messages_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.outbox_messages
    ADD CONSTRAINT outbox_messages_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES public.profiles(id);

ALTER TABLE ONLY public.question_keys
    ADD CONSTRAINT question_keys_question_id_fkey FOREIGN KEY (question_id) REFERENCES public.questions(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.staff_users(id);

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_masterclass_id_fkey FOREIGN KEY (masterclass_id) REFERENCES public.masterclasses(id);

ALTER TABLE ONLY public.sync_objects
    ADD CONSTRAINT sync_objects_remote_id_fkey FOREIGN KEY (remote_id) REFERENCES public.sync_remotes(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.sync_peers
    ADD CONSTRAINT sync_peers_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.staff_users(id);

ALTER TABLE ONLY public.sync_queue
    ADD CONSTRAINT sync_queue_remote_id_fkey FOREIGN KEY (remote_id) REFERENCES public.sync_remotes(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.sync_rejections
    ADD CONSTRAINT sync_rejections_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.sync_clients(client_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.test_answers
    ADD CONSTRAINT test_answers_attempt_id_fkey FOREIGN KEY (attempt_id) REFERENCES public.test_attempts(id);

ALTER TABLE ONLY public.test_answers
    ADD CONSTRAINT test_answers_question_id_fkey FOREIGN KEY (question_id) REFERENCES public.questions(id);

ALTER TABLE ONLY public.test_attempts
    ADD CONSTRAINT test_attempts_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.test_drafts
    ADD CONSTRAINT test_drafts_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.test_drafts
    ADD CONSTRAINT test_drafts_question_id_fkey FOREIGN KEY (question_id) REFERENCES public.questions(id);

ALTER TABLE ONLY public.test_papers
    ADD CONSTRAINT test_papers_inscription_id_fkey FOREIGN KEY (inscription_id) REFERENCES public.inscriptions(id);

ALTER TABLE ONLY public.test_windows
    ADD CONSTRAINT test_windows_masterclass_id_fkey FOREIGN KEY (masterclass_id) REFERENCES public.masterclasses(id);

ALTER TABLE ONLY public.test_windows
    ADD CONSTRAINT test_windows_post_opened_by_fkey FOREIGN KEY (post_opened_by) REFERENCES public.staff_users(id);

ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY audit_log_admin_read ON public.audit_log FOR SELECT TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY audit_log_append ON public.audit_log FOR INSERT TO masterclass_app WITH CHECK (((actor_role = ( SELECT public.auth_role() AS auth_role)) AND (NOT (actor_id IS DISTINCT FROM (( SELECT public.auth_claims() AS auth_claims) ->> 'sub'::text)))));

CREATE POLICY audit_log_backup ON public.audit_log FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY audit_log_definer_append ON public.audit_log FOR INSERT TO masterclass_definer WITH CHECK (true);

CREATE POLICY audit_log_definer_erase ON public.audit_log TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.backup_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY backup_runs_admin ON public.backup_runs TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY backup_runs_backup ON public.backup_runs FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

ALTER TABLE public.chat_replies ENABLE ROW LEVEL SECURITY;

CREATE POLICY chat_replies_admin ON public.chat_replies TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY chat_replies_backup ON public.chat_replies FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY chat_replies_definer ON public.chat_replies TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY chat_replies_staff ON public.chat_replies FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM (public.chat_tests c
     JOIN public.inscriptions i ON ((i.id = c.inscription_id)))
  WHERE ((c.id = chat_replies.chat_test_id) AND (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))));

ALTER TABLE public.chat_tests ENABLE ROW LEVEL SECURITY;

CREATE POLICY chat_tests_admin ON public.chat_tests TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY chat_tests_backup ON public.chat_tests FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY chat_tests_definer ON public.chat_tests TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY chat_tests_staff ON public.chat_tests FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = chat_tests.inscription_id) AND (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))));

CREATE POLICY chat_tests_student ON public.chat_tests FOR SELECT TO masterclass_app USING ((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)));

ALTER TABLE public.consent_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY consent_events_admin_write ON public.consent_events FOR INSERT TO masterclass_app WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY consent_events_backup ON public.consent_events FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY consent_events_definer ON public.consent_events TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY consent_events_own ON public.consent_events FOR SELECT TO masterclass_app USING ((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)));

CREATE POLICY consent_events_staff ON public.consent_events FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.profile_id = consent_events.profile_id) AND (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))));

ALTER TABLE public.documents ENABLE ROW LEVEL SECURITY;

CREATE POLICY documents_backup ON public.documents FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY documents_definer_erase ON public.documents TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY documents_own ON public.documents TO masterclass_app USING ((owner_id = ( SELECT public.auth_uid() AS auth_uid))) WITH CHECK ((owner_id = ( SELECT public.auth_uid() AS auth_uid)));

ALTER TABLE public.idempotency_erased ENABLE ROW LEVEL SECURITY;

CREATE POLICY idempotency_erased_backup ON public.idempotency_erased FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY idempotency_erased_definer ON public.idempotency_erased TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY idempotency_erased_own ON public.idempotency_erased FOR SELECT TO masterclass_app USING ((caller = COALESCE((( SELECT public.auth_claims() AS auth_claims) ->> 'sub'::text), 'anon'::text)));

ALTER TABLE public.idempotency_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY idempotency_keys_backup ON public.idempotency_keys FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY idempotency_keys_definer ON public.idempotency_keys TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY idempotency_keys_own ON public.idempotency_keys TO masterclass_app USING ((caller = COALESCE((( SELECT public.auth_claims() AS auth_claims) ->> 'sub'::text), 'anon'::text))) WITH CHECK ((caller = COALESCE((( SELECT public.auth_claims() AS auth_claims) ->> 'sub'::text), 'anon'::text)));

CREATE POLICY incoming_definer ON public.incoming_messages TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.incoming_messages ENABLE ROW LEVEL SECURITY;

CREATE POLICY incoming_messages_admin ON public.incoming_messages TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY incoming_messages_backup ON public.incoming_messages FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY incoming_messages_staff ON public.incoming_messages FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.profile_id = incoming_messages.profile_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))));

ALTER TABLE public.inscription_scores ENABLE ROW LEVEL SECURITY;

CREATE POLICY inscription_scores_backup ON public.inscription_scores FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY inscription_scores_definer ON public.inscription_scores TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY inscription_scores_staff ON public.inscription_scores FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))));

ALTER TABLE public.inscription_tokens ENABLE ROW LEVEL SECURITY;

CREATE POLICY inscription_tokens_backup ON public.inscription_tokens FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY inscription_tokens_definer ON public.inscription_tokens TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY inscription_tokens_own_read ON public.inscription_tokens FOR SELECT TO masterclass_app USING (((( SELECT public.auth_role() AS auth_role) = 'student'::text) AND (inscription_id = ((( SELECT public.auth_claims() AS auth_claims) ->> 'inscription_id'::text))::uuid)));

CREATE POLICY inscription_tokens_own_revoke ON public.inscription_tokens FOR UPDATE TO masterclass_app USING (((( SELECT public.auth_role() AS auth_role) = 'student'::text) AND (inscription_id = ((( SELECT public.auth_claims() AS auth_claims) ->> 'inscription_id'::text))::uuid)));

CREATE POLICY inscription_tokens_registrar ON public.inscription_tokens TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND (i.whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number)))))) WITH CHECK ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND (i.whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number))))));

CREATE POLICY inscription_tokens_replication ON public.inscription_tokens TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY inscription_tokens_staff ON public.inscription_tokens TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))) WITH CHECK ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = inscription_tokens.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))));

ALTER TABLE public.inscriptions ENABLE ROW LEVEL SECURITY;

CREATE POLICY inscriptions_admin_delete ON public.inscriptions FOR DELETE TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY inscriptions_backup ON public.inscriptions FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY inscriptions_definer ON public.inscriptions FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY inscriptions_definer_erase ON public.inscriptions FOR UPDATE TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY inscriptions_definer_register ON public.inscriptions FOR INSERT TO masterclass_definer WITH CHECK (true);

CREATE POLICY inscriptions_definer_touch ON public.inscriptions FOR UPDATE TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY inscriptions_read ON public.inscriptions FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)) OR ((( SELECT public.auth_role() AS auth_role) = 'student'::text) AND (id = ((( SELECT public.auth_claims() AS auth_claims) ->> 'inscription_id'::text))::uuid))));

CREATE POLICY inscriptions_registrar ON public.inscriptions TO masterclass_app USING ((whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number))) WITH CHECK (((whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number)) AND public.auth_registrar_owns(profile_id) AND (EXISTS ( SELECT 1
   FROM public.masterclasses m
  WHERE ((m.id = inscriptions.masterclass_id) AND m.published AND (m.deleted_at IS NULL))))));

CREATE POLICY inscriptions_replication ON public.inscriptions TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY inscriptions_staff_write ON public.inscriptions FOR UPDATE TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))) WITH CHECK ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))));

ALTER TABLE public.limit_hits ENABLE ROW LEVEL SECURITY;

CREATE POLICY limit_hits_backup ON public.limit_hits FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY limit_hits_definer ON public.limit_hits TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.live_changes ENABLE ROW LEVEL SECURITY;

CREATE POLICY live_changes_backup ON public.live_changes FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY live_changes_definer ON public.live_changes TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.live_connections ENABLE ROW LEVEL SECURITY;

CREATE POLICY live_connections_backup ON public.live_connections FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY live_connections_definer ON public.live_connections TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.live_pokes ENABLE ROW LEVEL SECURITY;

CREATE POLICY live_pokes_backup ON public.live_pokes FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY live_pokes_definer ON public.live_pokes TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.masterclass_tutors ENABLE ROW LEVEL SECURITY;

CREATE POLICY masterclass_tutors_admin ON public.masterclass_tutors TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY masterclass_tutors_backup ON public.masterclass_tutors FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY masterclass_tutors_definer ON public.masterclass_tutors FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY masterclass_tutors_read ON public.masterclass_tutors FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (tutor_id = ( SELECT public.auth_uid() AS auth_uid))));

ALTER TABLE public.masterclasses ENABLE ROW LEVEL SECURITY;

CREATE POLICY masterclasses_admin_delete ON public.masterclasses FOR DELETE TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY masterclasses_admin_insert ON public.masterclasses FOR INSERT TO masterclass_app WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY masterclasses_admin_update ON public.masterclasses FOR UPDATE TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY masterclasses_backup ON public.masterclasses FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY masterclasses_definer ON public.masterclasses FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY masterclasses_read ON public.masterclasses FOR SELECT TO masterclass_app USING (((published AND (deleted_at IS NULL)) OR (( SELECT public.auth_is_admin() AS auth_is_admin) OR (id IN ( SELECT public.auth_tutored() AS auth_tutored))) OR ((( SELECT public.auth_role() AS auth_role) = 'student'::text) AND (id = ((( SELECT public.auth_claims() AS auth_claims) ->> 'masterclass_id'::text))::uuid))));

CREATE POLICY masterclasses_replication ON public.masterclasses TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY outbox_definer_erase ON public.outbox_messages FOR UPDATE TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY outbox_definer_queue ON public.outbox_messages FOR INSERT TO masterclass_definer WITH CHECK (true);

CREATE POLICY outbox_definer_read ON public.outbox_messages FOR SELECT TO masterclass_definer USING (true);

ALTER TABLE public.outbox_messages ENABLE ROW LEVEL SECURITY;

CREATE POLICY outbox_messages_backup ON public.outbox_messages FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY outbox_messages_replication ON public.outbox_messages FOR UPDATE TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY outbox_registrar_queue ON public.outbox_messages FOR INSERT TO masterclass_app WITH CHECK (((status = 'queued'::text) AND (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND (i.whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number)))))));

CREATE POLICY outbox_registrar_read ON public.outbox_messages FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND (i.whatsapp_number = ( SELECT public.auth_registrar_number() AS auth_registrar_number))))));

CREATE POLICY outbox_staff ON public.outbox_messages TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))))) WITH CHECK ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = outbox_messages.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))));

CREATE POLICY outbox_student_queue ON public.outbox_messages FOR INSERT TO masterclass_app WITH CHECK (((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)) AND (status = 'queued'::text)));

CREATE POLICY outbox_student_read ON public.outbox_messages FOR SELECT TO masterclass_app USING ((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)));

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

CREATE POLICY profiles_admin_write ON public.profiles FOR UPDATE TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY profiles_backup ON public.profiles FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY profiles_definer ON public.profiles FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY profiles_definer_create ON public.profiles FOR INSERT TO masterclass_definer WITH CHECK (true);

CREATE POLICY profiles_definer_erase ON public.profiles FOR UPDATE TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY profiles_read ON public.profiles FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR ((( SELECT public.auth_role() AS auth_role) = 'tuteur'::text) AND (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.profile_id = profiles.id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))))));

CREATE POLICY profiles_replication ON public.profiles TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

ALTER TABLE public.question_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY question_keys_backup ON public.question_keys FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY question_keys_definer ON public.question_keys FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY question_keys_replication ON public.question_keys TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY question_keys_staff ON public.question_keys TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.questions q
  WHERE ((q.id = question_keys.question_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (q.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))) WITH CHECK ((EXISTS ( SELECT 1
   FROM public.questions q
  WHERE ((q.id = question_keys.question_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (q.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))));

ALTER TABLE public.questions ENABLE ROW LEVEL SECURITY;

CREATE POLICY questions_backup ON public.questions FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY questions_definer ON public.questions FOR SELECT TO masterclass_definer USING (true);

CREATE POLICY questions_own_paper ON public.questions FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.test_papers p
  WHERE ((p.inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)) AND (questions.id = ANY (p.question_ids))))));

CREATE POLICY questions_replication ON public.questions TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY questions_staff ON public.questions TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))) WITH CHECK ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))));

ALTER TABLE public.staff_users ENABLE ROW LEVEL SECURITY;

CREATE POLICY staff_users_admin ON public.staff_users TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY staff_users_backup ON public.staff_users FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY staff_users_definer ON public.staff_users TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY staff_users_read ON public.staff_users FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR ((( SELECT public.auth_role() AS auth_role) = ANY (ARRAY['admin'::text, 'tuteur'::text])) AND (id = ( SELECT public.auth_uid() AS auth_uid)))));

ALTER TABLE public.sync_clients ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_clients_backup ON public.sync_clients FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_clients_own ON public.sync_clients TO masterclass_app USING ((owner_id = ( SELECT public.auth_uid() AS auth_uid))) WITH CHECK ((owner_id = ( SELECT public.auth_uid() AS auth_uid)));

ALTER TABLE public.sync_objects ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_objects_admin ON public.sync_objects TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_objects_backup ON public.sync_objects FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

ALTER TABLE public.sync_parked ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_parked_admin ON public.sync_parked TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_parked_backup ON public.sync_parked FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_parked_definer ON public.sync_parked TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.sync_peers ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_peers_admin ON public.sync_peers TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) AND (NOT ( SELECT public.auth_replicates() AS auth_replicates)))) WITH CHECK ((( SELECT public.auth_is_admin() AS auth_is_admin) AND (NOT ( SELECT public.auth_replicates() AS auth_replicates))));

CREATE POLICY sync_peers_backup ON public.sync_peers FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_peers_definer ON public.sync_peers TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY sync_peers_self ON public.sync_peers FOR SELECT TO masterclass_app USING ((( SELECT public.auth_replicates() AS auth_replicates) AND (id = ( SELECT public.auth_uid() AS auth_uid))));

ALTER TABLE public.sync_pokes ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_pokes_backup ON public.sync_pokes FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_pokes_deliver ON public.sync_pokes TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_pokes_queue ON public.sync_pokes FOR INSERT TO masterclass_app WITH CHECK ((( SELECT public.auth_role() AS auth_role) = ANY (ARRAY['admin'::text, 'tuteur'::text, 'student'::text])));

ALTER TABLE public.sync_queue ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_queue_admin ON public.sync_queue TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_queue_backup ON public.sync_queue FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_queue_definer ON public.sync_queue TO masterclass_definer USING (true) WITH CHECK (true);

ALTER TABLE public.sync_rejections ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_rejections_backup ON public.sync_rejections FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY sync_rejections_own ON public.sync_rejections TO masterclass_app USING ((owner_id = ( SELECT public.auth_uid() AS auth_uid))) WITH CHECK ((owner_id = ( SELECT public.auth_uid() AS auth_uid)));

ALTER TABLE public.sync_remotes ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_remotes_admin ON public.sync_remotes TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_remotes_backup ON public.sync_remotes FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

ALTER TABLE public.sync_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_runs_admin ON public.sync_runs TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY sync_runs_backup ON public.sync_runs FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

ALTER TABLE public.test_answers ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_answers_backup ON public.test_answers FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY test_answers_definer ON public.test_answers TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY test_answers_replication ON public.test_answers TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY test_answers_staff ON public.test_answers FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM (public.test_attempts a
     JOIN public.inscriptions i ON ((i.id = a.inscription_id)))
  WHERE ((a.id = test_answers.attempt_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))))));

CREATE POLICY test_answers_submit ON public.test_answers FOR INSERT TO masterclass_app WITH CHECK (((correct IS NULL) AND (EXISTS ( SELECT 1
   FROM public.test_attempts a
  WHERE ((a.id = test_answers.attempt_id) AND (a.inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)))))));

ALTER TABLE public.test_attempts ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_attempts_backup ON public.test_attempts FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY test_attempts_definer ON public.test_attempts TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY test_attempts_read ON public.test_attempts FOR SELECT TO masterclass_app USING (((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = test_attempts.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))));

CREATE POLICY test_attempts_replication ON public.test_attempts TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

CREATE POLICY test_attempts_submit ON public.test_attempts FOR INSERT TO masterclass_app WITH CHECK (((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)) AND (score IS NULL)));

ALTER TABLE public.test_drafts ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_drafts_admin ON public.test_drafts TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY test_drafts_backup ON public.test_drafts FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY test_drafts_definer ON public.test_drafts TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY test_drafts_staff ON public.test_drafts FOR SELECT TO masterclass_app USING ((EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = test_drafts.inscription_id) AND (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))));

CREATE POLICY test_drafts_student ON public.test_drafts TO masterclass_app USING ((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription))) WITH CHECK ((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)));

ALTER TABLE public.test_papers ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_papers_backup ON public.test_papers FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY test_papers_definer ON public.test_papers TO masterclass_definer USING (true) WITH CHECK (true);

CREATE POLICY test_papers_read ON public.test_papers FOR SELECT TO masterclass_app USING (((inscription_id = ( SELECT public.auth_student_inscription() AS auth_student_inscription)) OR (EXISTS ( SELECT 1
   FROM public.inscriptions i
  WHERE ((i.id = test_papers.inscription_id) AND (( SELECT public.auth_is_admin() AS auth_is_admin) OR (i.masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))))))));

CREATE POLICY test_papers_replication ON public.test_papers TO masterclass_app USING (( SELECT public.auth_replicates() AS auth_replicates)) WITH CHECK (( SELECT public.auth_replicates() AS auth_replicates));

ALTER TABLE public.test_windows ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_windows_backup ON public.test_windows FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY test_windows_read ON public.test_windows FOR SELECT TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)) OR (masterclass_id = ((( SELECT public.auth_claims() AS auth_claims) ->> 'masterclass_id'::text))::uuid)));

CREATE POLICY test_windows_staff ON public.test_windows TO masterclass_app USING ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored)))) WITH CHECK ((( SELECT public.auth_is_admin() AS auth_is_admin) OR (masterclass_id IN ( SELECT public.auth_tutored() AS auth_tutored))));

ALTER TABLE public.webhook_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY webhook_events_admin ON public.webhook_events TO masterclass_app USING (( SELECT public.auth_is_admin() AS auth_is_admin)) WITH CHECK (( SELECT public.auth_is_admin() AS auth_is_admin));

CREATE POLICY webhook_events_backup ON public.webhook_events FOR SELECT TO masterclass_app USING ((( SELECT public.auth_role() AS auth_role) = 'backup'::text));

CREATE POLICY webhook_events_definer ON public.webhook_events TO masterclass_definer USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_erased_by_token(p_token_hash bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_erased_by_token(p_token_hash bytea) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_record_login_success(p_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_record_login_success(p_id uuid) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_record_refused_login(p_email text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_record_refused_login(p_email text, p_reason text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_record_wrong_password(p_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_record_wrong_password(p_id uuid) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_staff_for_login(p_email text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_staff_for_login(p_email text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_staff_session(p_id uuid, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_staff_session(p_id uuid, p_version integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_student_session(p_token_hash bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_student_session(p_token_hash bytea) TO masterclass_app;

REVOKE ALL ON FUNCTION public.auth_sync_peer(p_secret_hash bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION public.auth_sync_peer(p_secret_hash bytea) TO masterclass_app;

GRANT ALL ON FUNCTION public.auth_tutored() TO masterclass_app;

REVOKE ALL ON FUNCTION public.ensure_test_paper(p_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ensure_test_paper(p_size integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.erase_traces(p_needles text[], p_record uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION public.limit_clear(p_bucket text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.limit_clear(p_bucket text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.limit_full(p_bucket text, p_limit integer, p_window_secs integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.limit_full(p_bucket text, p_limit integer, p_window_secs integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.limit_hit(p_bucket text, p_window_secs integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.limit_hit(p_bucket text, p_window_secs integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.limit_take(p_bucket text, p_limit integer, p_window_secs integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.limit_take(p_bucket text, p_limit integer, p_window_secs integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.live_connect(p_id text, p_endpoint text, p_staff uuid, p_inscription uuid, p_profile uuid, p_masterclass uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.live_connect(p_id text, p_endpoint text, p_staff uuid, p_inscription uuid, p_profile uuid, p_masterclass uuid) TO masterclass_app;

REVOKE ALL ON FUNCTION public.live_disconnect(p_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION public.live_disconnect(p_ids text[]) TO masterclass_app;

REVOKE ALL ON FUNCTION public.live_drain(p_endpoint text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.live_drain(p_endpoint text, p_limit integer) TO masterclass_app;

REVOKE ALL ON FUNCTION public.live_housekeeping(p_changes interval, p_connections interval) FROM PUBLIC;
GRANT ALL ON FUNCTION public.live_housekeeping(p_changes interval, p_connections interval) TO masterclass_app;

REVOKE ALL ON FUNCTION public.live_seen(p_endpoint text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.live_seen(p_endpoint text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.purge_idempotency_keys(p_older_than interval) FROM PUBLIC;
GRANT ALL ON FUNCTION public.purge_idempotency_keys(p_older_than interval) TO masterclass_app;

REVOKE ALL ON FUNCTION public.register_inscription(p_id uuid, p_masterclass_id uuid, p_full_name text, p_date_of_birth date, p_whatsapp_number text, p_consent_at timestamp with time zone, p_consent_version text, p_token_hash bytea, p_message_type text, p_message_data jsonb, p_message_body text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.register_inscription(p_id uuid, p_masterclass_id uuid, p_full_name text, p_date_of_birth date, p_whatsapp_number text, p_consent_at timestamp with time zone, p_consent_version text, p_token_hash bytea, p_message_type text, p_message_data jsonb, p_message_body text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamp with time zone, p_consent_version text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamp with time zone, p_consent_version text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.score_test_attempt(p_attempt uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.score_test_attempt(p_attempt uuid) TO masterclass_app;

REVOKE ALL ON FUNCTION public.student_search_ids(p_query text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.student_search_ids(p_query text) TO masterclass_app;

REVOKE ALL ON FUNCTION public.sync_hidden_masterclasses(p_after_xid xid8, p_after_version bigint, p_horizon xid8) FROM PUBLIC;
GRANT ALL ON FUNCTION public.sync_hidden_masterclasses(p_after_xid xid8, p_after_version bigint, p_horizon xid8) TO masterclass_app;

REVOKE ALL ON FUNCTION public.sync_masterclass_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION public.sync_masterclass_ids() TO masterclass_app;

REVOKE ALL ON FUNCTION public.sync_record_exists(p_collection text, p_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.sync_record_exists(p_collection text, p_id uuid) TO masterclass_app;

REVOKE ALL ON FUNCTION public.sync_touch_token() FROM PUBLIC;

GRANT SELECT,INSERT ON TABLE public.audit_log TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.audit_log TO masterclass_definer;

GRANT SELECT ON SEQUENCE public.audit_log_id_seq TO masterclass_app;

GRANT SELECT,INSERT,UPDATE ON TABLE public.backup_runs TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.chat_replies TO masterclass_app;
GRANT SELECT,DELETE ON TABLE public.chat_replies TO masterclass_definer;

GRANT SELECT ON SEQUENCE public.chat_replies_seq_seq TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.chat_tests TO masterclass_app;
GRANT SELECT,DELETE ON TABLE public.chat_tests TO masterclass_definer;

GRANT SELECT,INSERT ON TABLE public.consent_events TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.consent_events TO masterclass_definer;

GRANT SELECT ON SEQUENCE public.consent_events_id_seq TO masterclass_app;

GRANT SELECT,USAGE ON SEQUENCE public.sync_row_version TO masterclass_app;
GRANT USAGE ON SEQUENCE public.sync_row_version TO masterclass_definer;

GRANT SELECT,INSERT,UPDATE ON TABLE public.documents TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.documents TO masterclass_definer;

GRANT SELECT ON TABLE public.idempotency_erased TO masterclass_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.idempotency_erased TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.idempotency_keys TO masterclass_app;
GRANT SELECT,DELETE ON TABLE public.idempotency_keys TO masterclass_definer;

GRANT SELECT,INSERT,UPDATE ON TABLE public.incoming_messages TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.incoming_messages TO masterclass_definer;

GRANT SELECT ON TABLE public.inscription_scores TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.inscription_scores TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.inscription_tokens TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.inscription_tokens TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.inscriptions TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.inscriptions TO masterclass_definer;

GRANT SELECT ON TABLE public.limit_hits TO masterclass_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.limit_hits TO masterclass_definer;

GRANT SELECT ON TABLE public.live_changes TO masterclass_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.live_changes TO masterclass_definer;

GRANT SELECT ON SEQUENCE public.live_changes_id_seq TO masterclass_app;

GRANT SELECT ON TABLE public.live_connections TO masterclass_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.live_connections TO masterclass_definer;

GRANT SELECT ON TABLE public.live_pokes TO masterclass_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.live_pokes TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.masterclass_tutors TO masterclass_app;
GRANT SELECT ON TABLE public.masterclass_tutors TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.masterclasses TO masterclass_app;
GRANT SELECT ON TABLE public.masterclasses TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.outbox_messages TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.outbox_messages TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.profiles TO masterclass_app;
GRANT SELECT,INSERT,UPDATE ON TABLE public.profiles TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.question_keys TO masterclass_app;
GRANT SELECT ON TABLE public.question_keys TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.questions TO masterclass_app;
GRANT SELECT ON TABLE public.questions TO masterclass_definer;

GRANT SELECT ON TABLE public.schema_migrations TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.staff_users TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.staff_users TO masterclass_definer;

GRANT SELECT,INSERT,UPDATE ON TABLE public.sync_clients TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_objects TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_parked TO masterclass_app;
GRANT SELECT,DELETE,UPDATE ON TABLE public.sync_parked TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_peers TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.sync_peers TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_pokes TO masterclass_app;

GRANT SELECT ON SEQUENCE public.sync_pokes_id_seq TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_queue TO masterclass_app;
GRANT SELECT,DELETE,UPDATE ON TABLE public.sync_queue TO masterclass_definer;

GRANT SELECT,INSERT ON TABLE public.sync_rejections TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_remotes TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.sync_runs TO masterclass_app;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.test_answers TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.test_answers TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.test_attempts TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.test_attempts TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.test_drafts TO masterclass_app;
GRANT SELECT,DELETE ON TABLE public.test_drafts TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.test_papers TO masterclass_app;
GRANT SELECT,INSERT ON TABLE public.test_papers TO masterclass_definer;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.test_windows TO masterclass_app;

GRANT SELECT,INSERT ON TABLE public.webhook_events TO masterclass_app;
GRANT SELECT,UPDATE ON TABLE public.webhook_events TO masterclass_definer;

GRANT SELECT ON SEQUENCE public.webhook_events_id_seq TO masterclass_app;

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON SEQUENCES  TO masterclass_app;
