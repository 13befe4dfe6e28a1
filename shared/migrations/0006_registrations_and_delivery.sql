-- Two fixes found by trying the platform from outside.
--
-- 1. A registration keeps what it was registered with. Registering a number that already has a
--    profile used to return that profile's name, let the new token read its date of birth, and
--    lift its STOP opt-out. Now each inscription carries the name, date of birth, number and
--    consent submitted with it; a student (and the anonymous registrar) can no longer read the
--    profile row at all; and nothing but the number's own messages (STOP / START) changes its
--    opt-out.
-- 2. WhatsApp delivery that never sends a message twice by accident: a run claims messages
--    (`claimed`) only until its own deadline, marks each `sending` right before its HTTP call,
--    and hands back what it did not start. A send whose outcome is unknown (a timeout after the
--    request was written, a run that died mid-call) is `in_doubt` until the provider has been
--    asked whether it has it.

-- Backfilling as a table owner that is not a superuser (RDS, Supabase): FORCEd row-level
-- security would hide every row from the owner, so it is lifted for the update only.
alter table inscriptions no force row level security;

alter table inscriptions
    add column full_name       text,
    add column date_of_birth   date,
    add column whatsapp_number text,
    add column consent_at      timestamptz,
    add column consent_version text;

update inscriptions i set
    full_name = p.full_name, date_of_birth = p.date_of_birth, whatsapp_number = p.whatsapp_number,
    consent_at = coalesce(p.consent_at, i.created_at), consent_version = p.consent_version
from profiles p where p.id = i.profile_id;

alter table inscriptions
    alter column full_name set not null,
    alter column whatsapp_number set not null,
    alter column consent_at set not null,
    add constraint inscriptions_full_name_length check (char_length(full_name) between 1 and 200),
    add constraint inscriptions_whatsapp_e164 check (whatsapp_number ~ '^\+[1-9][0-9]{6,14}$');

alter table inscriptions force row level security;

-- Profiles: staff as before; students and the registrar no longer read them.
drop policy profiles_read on profiles;
create policy profiles_read on profiles for select to masterclass_app using (
    auth_is_admin()
    or (auth_role() = 'tuteur' and exists (
            select 1 from inscriptions i where i.profile_id = profiles.id and auth_staffs(i.masterclass_id)))
);
drop policy profiles_registrar on profiles;

-- The registrar's profile: created with what this registration submitted if the number has
-- none, and in any case only its id returned. A definer function, so that the registrar has no
-- policy on profiles at all.
create function register_profile(p_full_name text, p_date_of_birth date, p_consent_at timestamptz,
                                 p_consent_version text)
returns uuid language plpgsql volatile security definer set search_path = public as $$
declare
    v_number text := auth_registrar_number();
    v_id uuid;
begin
    if v_number is null then
        raise exception 'only a registration creates a profile' using errcode = '42501';
    end if;
    insert into profiles (full_name, date_of_birth, whatsapp_number, consent_at, consent_version)
    values (p_full_name, p_date_of_birth, v_number, p_consent_at, p_consent_version)
    on conflict (whatsapp_number) do nothing
    returning id into v_id;
    if v_id is null then
        -- A new statement, so a profile another registration just committed is seen.
        select id into v_id from profiles where whatsapp_number = v_number;
    end if;
    return v_id;
end $$;

grant insert on profiles to masterclass_definer;
create policy profiles_definer_create on profiles for insert to masterclass_definer with check (true);

-- Handed to `masterclass_definer` while it may create in the schema, as in 0002.
grant create on schema public to masterclass_definer;
alter function register_profile(text, date, timestamptz, text) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function register_profile(text, date, timestamptz, text) from public;
grant execute on function register_profile(text, date, timestamptz, text) to masterclass_app;

-- Delivery states.
alter table outbox_messages drop constraint outbox_messages_status;
alter table outbox_messages add constraint outbox_messages_status check (status in ('queued', 'claimed',
    'sending', 'in_doubt', 'sent', 'delivered', 'read', 'failed', 'dead', 'suppressed'));
-- The claiming run's deadline: a `claimed` message past it was never started and goes back to
-- the queue; a `sending` one past it is in doubt.
alter table outbox_messages add column claim_expires_at timestamptz;
-- When the HTTP call of the current attempt started (what the provider is asked about).
alter table outbox_messages add column sending_at timestamptz;
-- Set once a message in doubt was not found at the provider and was queued again: a second
-- doubt is not resent, so a student gets at most two copies.
alter table outbox_messages add column resent_after_doubt boolean not null default false;

create index outbox_messages_claimed on outbox_messages (claim_expires_at) where status in ('claimed', 'sending');
create index outbox_messages_in_doubt on outbox_messages (status_at) where status = 'in_doubt';

create or replace function message_status_rank(status text) returns integer language sql immutable as $$
    select case status
        when 'queued' then 0 when 'claimed' then 0 when 'sending' then 1 when 'in_doubt' then 1
        when 'sent' then 2 when 'delivered' then 3 when 'read' then 4
        when 'failed' then 5 when 'dead' then 5 when 'suppressed' then 5 else -1 end
$$;

-- Messages a dispatcher was sending when this migration ran keep the old five-minute lease.
alter table outbox_messages no force row level security;
update outbox_messages set claim_expires_at = claimed_at + interval '5 minutes' where status = 'sending';
alter table outbox_messages force row level security;
