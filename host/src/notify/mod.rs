//! Reaching people: notification channels (Slack, Telegram, signed JSON
//! webhooks), used by approvals, alerts and budgets alike.
//!
//! * [`Channel`] ([`channel`]): where a notification goes, as a policy
//!   names it (`slack:#deploy-approvals`, `telegram:-100…`, `webhook:pager`).
//! * [`NotifySettings`] ([`settings`]): the server configuration's
//!   `notify:` section: each channel's address, secrets from the
//!   environment, retries and the timeout.
//! * [`Message`] ([`message`]): what a notification says, rendered for each
//!   kind of channel (Slack blocks with Approve / Deny buttons, Telegram
//!   text, a JSON body), with what agents wrote escaped.
//! * [`send`] ([`deliver`]): one try, blocking, bounded by the timeout.
//! * [`Outbox`] ([`outbox`]): durable (in the project's state), delivered
//!   off the decision path, retried with backoff and jitter, every try
//!   kept on the notification.
//! * [`sign`]: the signature on the webhooks Palisade sends, and the check
//!   of the ones Slack sends back.

pub mod channel;
pub mod deliver;
pub mod message;
pub mod outbox;
pub mod settings;
pub mod sign;

pub use channel::Channel;
pub use deliver::{Delivery, send};
pub use message::Message;
pub use outbox::{Attempt, Notification, Outbox, Stage};
pub use settings::NotifySettings;

#[cfg(test)]
mod tests;
