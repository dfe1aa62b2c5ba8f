//! Mailgun: e-mail in through an inbound route, out through the messages API. Pure wire
//! formats, no I/O: the inbound route and the outbound sender use these.
//!
//! - [`signature`]: `timestamp`/`token`/`signature` verification, freshness and replay.
//! - [`inbound`]: the inbound route's form fields read into an [`InboundEmail`].
//! - [`outbound`]: the threaded reply's form (`Re:` subject, `In-Reply-To`, `References`, the
//!   customer's text quoted) and the API's errors.
//! - [`flow`]: the glue to the channel flow: inbound conversion and [`MailgunSender`].
//! - [`lookup`]: whether Mailgun already accepted a send whose answer never arrived.

pub mod flow;
pub mod inbound;
pub mod lookup;
pub mod outbound;
pub mod signature;

pub use flow::{to_inbound, MailgunSender};
pub use inbound::{Attachment, InboundEmail};
pub use outbound::{message_form, MailgunError, Quote, Reply};
pub use signature::{Rejection, TokenCache};
