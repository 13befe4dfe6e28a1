-- Housekeeping run by the dispatcher: saved Idempotency-Key answers are kept for a while (a
-- retry comes within minutes, a day is plenty), then dropped. They belong to their callers
-- under RLS, so the purge is a narrow SECURITY DEFINER function.

create function purge_idempotency_keys(p_older_than interval) returns bigint
language sql volatile security definer set search_path = public as $$
    with purged as (delete from idempotency_keys where created_at < now() - p_older_than returning 1)
    select count(*) from purged
$$;

grant select, delete on idempotency_keys to masterclass_definer;
create policy idempotency_keys_definer on idempotency_keys for all to masterclass_definer using (true) with check (true);
grant create on schema public to masterclass_definer;
alter function purge_idempotency_keys(interval) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function purge_idempotency_keys(interval) from public;
grant execute on function purge_idempotency_keys(interval) to masterclass_app;
