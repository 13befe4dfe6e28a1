//! Messages to students (WhatsApp), in French.
//!
//! The messages are rendered and queued by [`crate::outbox`], on the floor below the use cases
//! (so that `services` can queue one without calling up into this module). Here: [`dispatch`]
//! delivers queued messages through a [`provider::Provider`]; [`webhook`] records what the
//! provider reports back; [`reminders`] queues the scheduled messages; [`chat`] runs the tests
//! taken in WhatsApp; [`admin`] is what staff send, list and retry (named apart from
//! `services::staff`, which is the staff accounts).

pub mod admin;
pub mod chat;
pub mod dispatch;
pub mod provider;
pub mod reminders;
pub mod webhook;
