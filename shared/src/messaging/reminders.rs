//! Scheduled messages: a reminder before a masterclass starts (`REMINDER_HOURS_BEFORE`), and an
//! invitation to the POST test once it has ended (to students who have not taken it, within a
//! week). Each is queued once per student: its dedupe key is the inscription.

use crate::outbox::{MessageType, Outgoing, enqueue_all, templates};
use crate::{AppState, auth::Caller, db, error::Result};

/// Queues what is due. Returns how many messages were queued.
///
/// An instance with a remote (a venue server) queues none: once they have synced, both would
/// hold the same inscriptions and each would send the reminder. The remote (the cloud) queues
/// them for everyone it holds, the venue's registrations included once they have reached it.
pub async fn queue_due(state: &AppState) -> Result<u64> {
    if state.config.sync.remote.is_some() {
        return Ok(0);
    }
    let queued = db::transact(&state.db, &Caller::System, async |tx| {
        let due = db::outbox::due_scheduled(tx, state.config.messaging.reminder_before).await?;
        let messages: Vec<Outgoing<'_>> = due
            .iter()
            .map(|due| Outgoing {
                message_type: if due.kind == "reminder" {
                    MessageType::Reminder
                } else {
                    MessageType::PostTestInvitation
                },
                inscription_id: Some(due.inscription_id),
                profile_id: Some(due.profile_id),
                to_number: &due.whatsapp_number,
                data: serde_json::json!({
                    "prenom": templates::first_name(&due.full_name),
                    "masterclass": due.masterclass_title,
                    "date": templates::french_date(due.starts_at),
                }),
                dedupe_key: format!("{}:{}", due.kind, due.inscription_id),
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
