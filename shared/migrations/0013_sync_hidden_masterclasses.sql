-- A masterclass that is unpublished or deleted leaves the view of every caller who saw it only
-- because it was public (students of other masterclasses, tutors who do not staff it): row-level
-- security then hides the very change that should tell their devices to drop it. This function
-- lists, for a pull, the masterclasses written in a window of the stream that are no longer
-- public: ids and positions only (no title, nothing personal). The pull keeps those the caller
-- cannot see and hands them out as tombstones; a caller who still sees one gets its row instead.
-- Unbounded on purpose: the pull filters by visibility before it pages, so a limit here could
-- skip a position; masterclasses number in the hundreds.

create function sync_hidden_masterclasses(p_after_xid xid8, p_after_version bigint,
                                          p_horizon xid8)
returns table (id uuid, x xid8, v bigint)
language sql stable security definer set search_path = public, pg_temp as $$
    select m.id, m.sync_xid, m.row_version from masterclasses m
    where (m.sync_xid, m.row_version) > (p_after_xid, p_after_version)
      and m.sync_xid < p_horizon
      and not (m.published and m.deleted_at is null)
$$;

-- Handed to `masterclass_definer` (which may read every masterclass, see 0010) while it may
-- create in the schema, as in 0002.
grant create on schema public to masterclass_definer;
alter function sync_hidden_masterclasses(xid8, bigint, xid8) owner to masterclass_definer;
revoke create on schema public from masterclass_definer;
revoke all on function sync_hidden_masterclasses(xid8, bigint, xid8) from public;
grant execute on function sync_hidden_masterclasses(xid8, bigint, xid8) to masterclass_app;
