//! Scheduled messages: a reminder before a masterclass starts (`REMINDER_HOURS_BEFORE`), and an
//! invitation to the POST test once it has ended (to students who have not taken it, within a
//! week). Each is queued once per student: its dedupe key is the inscription.

use uuid::Uuid;

use super::{MessageType, Outgoing, enqueue_all, templates};
use crate::{AppState, auth::Caller, db, http::Result};

/// Queues what is due. Returns how many messages were queued.
pub async fn queue_due(state: &AppState) -> Result<u64> {
    let queued = db::transact(&state.db, &Caller::System, async |tx| {
        let window = state.config.messaging.reminder_before.as_secs_f64();
        let candidates = tx
            .query(
                "select 'reminder' as kind, i.id, i.profile_id, i.whatsapp_number, i.full_name, m.title, m.starts_at
                 from inscriptions i join masterclasses m on m.id = i.masterclass_id
                 where i.deleted_at is null and m.deleted_at is null
                   and m.starts_at > now() and m.starts_at <= now() + make_interval(secs => $1)
                   and not exists (select 1 from outbox_messages o where o.dedupe_key = 'reminder:' || i.id)
                 union all
                 select 'post_test_invitation', i.id, i.profile_id, i.whatsapp_number, i.full_name, m.title, m.starts_at
                 from inscriptions i join masterclasses m on m.id = i.masterclass_id
                 where i.deleted_at is null and m.deleted_at is null
                   and m.ends_at <= now() and m.ends_at > now() - interval '7 days'
                   and not exists (select 1 from test_attempts a where a.inscription_id = i.id and a.kind = 'POST')
                   and not exists (select 1 from outbox_messages o where o.dedupe_key = 'post_test_invitation:' || i.id)",
                &[&window],
            )
            .await?;
        let numbers: Vec<String> = candidates.iter().map(|row| row.get(3)).collect();
        let messages: Vec<Outgoing<'_>> = candidates
            .iter()
            .zip(&numbers)
            .map(|(row, number)| {
                let kind: String = row.get(0);
                let inscription_id: Uuid = row.get(1);
                let full_name: String = row.get(4);
                Outgoing {
                    message_type: if kind == "reminder" {
                        MessageType::Reminder
                    } else {
                        MessageType::PostTestInvitation
                    },
                    inscription_id: Some(inscription_id),
                    profile_id: Some(row.get(2)),
                    to_number: number,
                    data: serde_json::json!({
                        "prenom": templates::first_name(&full_name),
                        "masterclass": row.get::<_, String>(5),
                        "date": templates::french_date(row.get(6)),
                    }),
                    dedupe_key: format!("{kind}:{inscription_id}"),
                }
            })
            .collect();
        // One statement for all of them, however many are due.
        let queued = enqueue_all(tx, &messages).await?;
        Ok(queued)
    })
    .await?;
    if queued > 0 {
        tracing::info!(queued, "scheduled messages queued");
    }
    Ok(queued)
}
