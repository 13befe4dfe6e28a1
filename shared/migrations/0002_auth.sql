-- Identities and row-level security.
--
-- Functions log in as a role that is a member of `masterclass_app`: it owns nothing and has no
-- BYPASSRLS. Every request runs in a transaction that first does `set local role
-- masterclass_app` and sets the verified caller in `request.jwt.claims` (Supabase's convention);
-- the policies below read it. Tables holding personal or course data have RLS enabled and
-- FORCEd, so even their owner is subject to it (only a superuser is not).
--
-- Claims the server sets (never the raw token):
--   anonymous  {"role": "anon"}
--   staff      {"role": "admin" | "tuteur", "sub": <staff_users.id>, "email": ...}
--   student    {"role": "student", "sub": <profiles.id>, "inscription_id": ..., "masterclass_id": ...}

do $$
begin
    if not exists (select from pg_roles where rolname = 'masterclass_app') then
        create role masterclass_app nologin nobypassrls;
    end if;
    -- Owns the few SECURITY DEFINER functions below; the policies naming it let those functions
    -- (and nothing else) read the rows they need before a caller is known.
    if not exists (select from pg_roles where rolname = 'masterclass_definer') then
        create role masterclass_definer nologin nobypassrls;
    end if;
end $$;

grant masterclass_definer to current_user;

grant usage on schema public to masterclass_app;
grant usage on sequence sync_row_version to masterclass_app;

-- The verified caller, as set for this transaction.
create function auth_claims() returns jsonb language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create function auth_role() returns text language sql stable as $$
    select coalesce(auth_claims() ->> 'role', 'anon')
$$;

create function auth_uid() returns uuid language sql stable as $$
    select nullif(auth_claims() ->> 'sub', '')::uuid
$$;

create function auth_is_admin() returns boolean language sql stable as $$
    select auth_role() = 'admin'
$$;

-- Staff accounts. Passwords are argon2id PHC strings; an account signing in only through an
-- external identity provider (Supabase Auth, same JWT secret) has none.
create table staff_users (
    id                 uuid primary key default gen_random_uuid(),
    email              text not null,
    full_name          text not null,
    role               text not null,
    password_hash      text,
    active             boolean not null default true,
    failed_logins      integer not null default 0,
    locked_until       timestamptz,
    -- a token carries the version it was issued at (claim `ver`, absent = 0); bumping it on
    -- deactivation, role change or password reset revokes every token issued before
    token_version      integer not null default 0,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    row_version        bigint not null default nextval('sync_row_version'),
    constraint staff_users_email_unique unique (email),
    constraint staff_users_email_lowercase check (email = lower(email)),
    constraint staff_users_role check (role in ('admin', 'tuteur')),
    constraint staff_users_full_name_length check (char_length(full_name) between 1 and 200)
);

create trigger staff_users_touch before update on staff_users
    for each row execute function touch_row();

create table masterclass_tutors (
    masterclass_id uuid not null references masterclasses (id),
    tutor_id       uuid not null references staff_users (id),
    assigned_at    timestamptz not null default now(),
    primary key (masterclass_id, tutor_id)
);

create index masterclass_tutors_tutor on masterclass_tutors (tutor_id);

-- Is the caller staff of masterclass `mc`: an admin, or a tutor assigned to it?
create function auth_staffs(mc uuid) returns boolean language sql stable as $$
    select auth_is_admin()
        or (auth_role() = 'tuteur' and exists (
                select 1 from masterclass_tutors t where t.masterclass_id = mc and t.tutor_id = auth_uid()))
$$;

-- Students: one profile per person (by WhatsApp number), one inscription per masterclass.
create table profiles (
    id              uuid primary key default gen_random_uuid(),
    full_name       text not null,
    date_of_birth   date,
    whatsapp_number text not null,
    consent_at      timestamptz,
    consent_version text,
    opted_out_at    timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    row_version     bigint not null default nextval('sync_row_version'),
    field_clocks    jsonb not null default '{}',
    deleted_at      timestamptz,
    constraint profiles_whatsapp_unique unique (whatsapp_number),
    constraint profiles_whatsapp_e164 check (whatsapp_number ~ '^\+[1-9][0-9]{6,14}$')
);

create trigger profiles_touch before update on profiles
    for each row execute function touch_row();

create table inscriptions (
    id             uuid primary key default gen_random_uuid(),
    masterclass_id uuid not null references masterclasses (id),
    profile_id     uuid not null references profiles (id),
    attended       boolean not null default false,
    attendance_validated_at timestamptz,
    attendance_validated_by uuid references staff_users (id),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    row_version    bigint not null default nextval('sync_row_version'),
    field_clocks   jsonb not null default '{}',
    deleted_at     timestamptz,
    constraint inscriptions_one_per_person unique (masterclass_id, profile_id)
);

create trigger inscriptions_touch before update on inscriptions
    for each row execute function touch_row();

create index inscriptions_profile on inscriptions (profile_id);

-- A student's access token: random, shown once; only its SHA-256 is stored.
create table inscription_tokens (
    id             uuid primary key default gen_random_uuid(),
    inscription_id uuid not null references inscriptions (id),
    token_hash     bytea not null,
    created_at     timestamptz not null default now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    constraint inscription_tokens_hash_unique unique (token_hash)
);

create index inscription_tokens_inscription on inscription_tokens (inscription_id);

-- Idempotency keys belong to the caller that used them.
alter table idempotency_keys add column caller text not null default coalesce(auth_claims() ->> 'sub', 'anon');
alter table idempotency_keys drop constraint idempotency_keys_pkey;
alter table idempotency_keys add primary key (caller, scope, key);

-- Grants: the app role may touch rows; RLS decides which.
grant select, insert, update, delete on masterclasses, masterclass_tutors, staff_users, profiles,
    inscriptions, inscription_tokens, idempotency_keys to masterclass_app;

alter table masterclasses enable row level security;
alter table masterclasses force row level security;
alter table masterclass_tutors enable row level security;
alter table masterclass_tutors force row level security;
alter table staff_users enable row level security;
alter table staff_users force row level security;
alter table profiles enable row level security;
alter table profiles force row level security;
alter table inscriptions enable row level security;
alter table inscriptions force row level security;
alter table inscription_tokens enable row level security;
alter table inscription_tokens force row level security;
alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;

-- Masterclasses: the published catalogue is public; staff see theirs; a student sees their own.
create policy masterclasses_read on masterclasses for select to masterclass_app using (
    (published and deleted_at is null)
    or auth_staffs(id)
    or (auth_role() = 'student' and id = (auth_claims() ->> 'masterclass_id')::uuid)
);
create policy masterclasses_admin_insert on masterclasses for insert to masterclass_app
    with check (auth_is_admin());
create policy masterclasses_admin_update on masterclasses for update to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());
create policy masterclasses_admin_delete on masterclasses for delete to masterclass_app
    using (auth_is_admin());

-- Tutor assignments: admins manage them; a tutor sees their own.
create policy masterclass_tutors_read on masterclass_tutors for select to masterclass_app
    using (auth_is_admin() or tutor_id = auth_uid());
create policy masterclass_tutors_admin on masterclass_tutors for all to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());

-- Staff accounts: admins manage them; a staff member sees their own.
create policy staff_users_read on staff_users for select to masterclass_app
    using (auth_is_admin() or (auth_role() in ('admin', 'tuteur') and id = auth_uid()));
create policy staff_users_admin on staff_users for all to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());

-- Inscriptions: staff of the masterclass, or the student themself.
create policy inscriptions_read on inscriptions for select to masterclass_app using (
    auth_staffs(masterclass_id)
    or (auth_role() = 'student' and id = (auth_claims() ->> 'inscription_id')::uuid)
);
create policy inscriptions_staff_write on inscriptions for update to masterclass_app
    using (auth_staffs(masterclass_id)) with check (auth_staffs(masterclass_id));
create policy inscriptions_admin_delete on inscriptions for delete to masterclass_app
    using (auth_is_admin());

-- Profiles: visible to staff of a masterclass the person is inscribed in, or to themself.
create policy profiles_read on profiles for select to masterclass_app using (
    auth_is_admin()
    or (auth_role() = 'student' and id = auth_uid())
    or (auth_role() = 'tuteur' and exists (
            select 1 from inscriptions i where i.profile_id = profiles.id and auth_staffs(i.masterclass_id)))
);
create policy profiles_admin_write on profiles for update to masterclass_app
    using (auth_is_admin()) with check (auth_is_admin());

-- Access tokens: staff of the masterclass may list, issue and revoke them.
create policy inscription_tokens_staff on inscription_tokens for all to masterclass_app using (
    exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
) with check (
    exists (select 1 from inscriptions i where i.id = inscription_id and auth_staffs(i.masterclass_id))
);
create policy inscription_tokens_own_revoke on inscription_tokens for update to masterclass_app
    using (auth_role() = 'student' and inscription_id = (auth_claims() ->> 'inscription_id')::uuid);
create policy inscription_tokens_own_read on inscription_tokens for select to masterclass_app
    using (auth_role() = 'student' and inscription_id = (auth_claims() ->> 'inscription_id')::uuid);

create policy idempotency_keys_own on idempotency_keys for all to masterclass_app
    using (caller = coalesce(auth_claims() ->> 'sub', 'anon'))
    with check (caller = coalesce(auth_claims() ->> 'sub', 'anon'));

-- The narrow paths that run before a caller is known. SECURITY DEFINER functions owned by the
-- migration role; each returns only what its caller needs.

-- Sign-in: the account behind an e-mail, for password verification.
create function auth_staff_for_login(p_email text)
returns table (id uuid, role text, full_name text, password_hash text, active boolean, locked_until timestamptz,
               token_version integer)
language sql stable security definer set search_path = public as $$
    select id, role, full_name, password_hash, active, locked_until, token_version
    from staff_users where email = lower(p_email)
$$;

-- After a failed password: count it, and lock the account for `lock_for` once `max_failures`
-- failures have piled up.
create function auth_record_login_failure(p_id uuid, max_failures integer, lock_for interval)
returns void language sql volatile security definer set search_path = public as $$
    update staff_users set
        failed_logins = case when failed_logins + 1 >= max_failures then 0 else failed_logins + 1 end,
        locked_until = case when failed_logins + 1 >= max_failures then now() + lock_for else locked_until end
    where id = p_id
$$;

create function auth_record_login_success(p_id uuid)
returns void language sql volatile security definer set search_path = public as $$
    update staff_users set failed_logins = 0, locked_until = null where id = p_id and (failed_logins <> 0 or locked_until is not null)
$$;

-- A verified token's account: still there, active, and the token not revoked since.
create function auth_staff_session(p_id uuid, p_version integer)
returns table (role text, email text, full_name text)
language sql stable security definer set search_path = public as $$
    select role, email, full_name from staff_users
    where id = p_id and active and token_version = p_version
$$;

-- A student's bearer token: the inscription it opens, if not revoked. Notes when it was last
-- used, at most every five minutes, so reads stay reads.
create function auth_student_session(p_token_hash bytea)
returns table (inscription_id uuid, profile_id uuid, masterclass_id uuid)
language plpgsql volatile security definer set search_path = public as $$
begin
    update inscription_tokens t set last_used_at = now()
    where t.token_hash = p_token_hash and t.revoked_at is null
      and (t.last_used_at is null or t.last_used_at < now() - interval '5 minutes');
    return query
        select i.id, i.profile_id, i.masterclass_id
        from inscription_tokens t join inscriptions i on i.id = t.inscription_id
        where t.token_hash = p_token_hash and t.revoked_at is null and i.deleted_at is null;
end $$;

grant select, update on staff_users, inscription_tokens to masterclass_definer;
grant usage on sequence sync_row_version to masterclass_definer;
grant select on inscriptions to masterclass_definer;
create policy staff_users_definer on staff_users for all to masterclass_definer using (true) with check (true);
create policy inscription_tokens_definer on inscription_tokens for all to masterclass_definer using (true) with check (true);
create policy inscriptions_definer on inscriptions for select to masterclass_definer using (true);

-- A definer function may be handed to `masterclass_definer` only while that role may create in
-- the schema (a superuser skips the check; the RDS or Supabase owner does not): granted for the
-- hand-over and taken back at once.
grant create on schema public to masterclass_definer;
alter function auth_staff_for_login(text) owner to masterclass_definer;
alter function auth_record_login_failure(uuid, integer, interval) owner to masterclass_definer;
alter function auth_record_login_success(uuid) owner to masterclass_definer;
alter function auth_staff_session(uuid, integer) owner to masterclass_definer;
alter function auth_student_session(bytea) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;

revoke all on function auth_staff_for_login(text), auth_record_login_failure(uuid, integer, interval),
    auth_record_login_success(uuid), auth_staff_session(uuid, integer), auth_student_session(bytea) from public;
grant execute on function auth_staff_for_login(text), auth_record_login_failure(uuid, integer, interval),
    auth_record_login_success(uuid), auth_staff_session(uuid, integer), auth_student_session(bytea) to masterclass_app;
