//! Meta: WhatsApp through the Cloud API and Instagram direct messages through the Messenger
//! API for Instagram. Pure wire formats, no I/O: the inbound routes and the outbound sender
//! use these.
//!
//! - [`signature`]: the `GET` subscription handshake and `X-Hub-Signature-256` verification.
//! - [`webhook`]: webhook deliveries parsed into provider-neutral inbound messages.
//! - [`send`]: the Graph API request bodies for replies (text, reply buttons, media links).
//! - [`graph_error`]: error codes of failed Graph calls and whether to retry.
//! - [`flow`]: the glue to the channel flow: inbound conversion and [`MetaSender`].

pub mod flow;
pub mod graph_error;
pub mod send;
pub mod signature;
pub mod webhook;

pub use flow::{inbound_for, platform_of, MetaSender};
pub use graph_error::{parse_error, GraphError};
pub use send::{instagram_requests, whatsapp_requests, GraphRequest, MediaLink, Outgoing};
pub use signature::{verify_handshake, verify_signature, Handshake, SIGNATURE_HEADER};
pub use webhook::{parse, Delivery, InboundMessage, MessageKind, Platform};
