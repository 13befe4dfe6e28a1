-- The registrar's policies compare numbers instead of calling a function per row.
--
-- A registration runs as a `registrar` caller that may touch only the inscriptions of the number
-- being registered, and their tokens and messages. Ownership was checked by
-- `auth_registrar_owns(profile_id)`, a SECURITY DEFINER function that looks the profile up:
-- called once per row and per nested policy, it made the token and message inserts of a
-- registration cost several milliseconds each. Since 0006 every inscription carries the number
-- it was registered with (the profile's number), so reads compare that column with the claims;
-- only writing an inscription still proves, once, that its profile is that number's.

drop policy inscriptions_registrar on inscriptions;
create policy inscriptions_registrar on inscriptions for all to masterclass_app
    using (whatsapp_number = (select auth_registrar_number()))
    with check (
        whatsapp_number = (select auth_registrar_number())
        and auth_registrar_owns(profile_id)
        and exists (select 1 from masterclasses m
                    where m.id = inscriptions.masterclass_id and m.published and m.deleted_at is null)
    );

drop policy inscription_tokens_registrar on inscription_tokens;
create policy inscription_tokens_registrar on inscription_tokens for all to masterclass_app
    using (exists (select 1 from inscriptions i
                   where i.id = inscription_tokens.inscription_id
                     and i.whatsapp_number = (select auth_registrar_number())))
    with check (exists (select 1 from inscriptions i
                        where i.id = inscription_tokens.inscription_id
                          and i.whatsapp_number = (select auth_registrar_number())));

drop policy outbox_registrar_read on outbox_messages;
create policy outbox_registrar_read on outbox_messages for select to masterclass_app
    using (exists (select 1 from inscriptions i
                   where i.id = outbox_messages.inscription_id
                     and i.whatsapp_number = (select auth_registrar_number())));

drop policy outbox_registrar_queue on outbox_messages;
create policy outbox_registrar_queue on outbox_messages for insert to masterclass_app
    with check (status = 'queued' and exists (
        select 1 from inscriptions i
        where i.id = outbox_messages.inscription_id
          and i.whatsapp_number = (select auth_registrar_number())));
