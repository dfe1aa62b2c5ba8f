//! Channels: the agent on SMS, WhatsApp, voice, e-mail and Instagram, through provider
//! accounts (Twilio, Meta, Mailgun) that each organization configures.
//!
//! One turn from a provider, whatever the provider:
//!
//! ```text
//! provider webhook ──> api/src/routes/inbound/<provider>.rs
//!   1 load the channel (its id is in the URL) and open its credentials ([`config`])
//!   2 verify the provider's signature ──────────────> 403, nothing stored, nothing run
//!   3 parse the payload into an [`InboundMessage`]   (one parser per provider file)
//!   4 inbound::process  ([`inbound`]):
//!       dedupe by (channel, provider message id) ──> a retry gets the stored answer
//!       identity -> customer ([`identity`]) -> the open conversation of the thread
//!       service::chat::chat (the same turn as the HTTP API)
//!       shape the reply for the channel (respond::channel)
//!       enqueue an [`OutboundMessage`] ([`outbound`]) ── or answer inline (voice TwiML)
//! outbound dispatcher: claims due sends, calls the provider's [`ChannelSender`], records the
//! provider's message id or error code, retries on the ladder; a human's inbox reply to a
//! conversation carried by a channel is picked up and sent the same way.
//! ```
//!
//! Modules:
//! - [`crypto`]: credentials sealed at rest (ChaCha20-Poly1305, `BLAIGENT_CHANNEL_SECRET_KEY`).
//! - [`settings`]: server-wide settings (`BLAIGENT_CHANNEL_*`, `BLAIGENT_PUBLIC_URL`).
//! - [`config`]: an organization's channels: create, list, update, delete; inbound URLs.
//! - [`identity`]: phone numbers, e-mail addresses and Instagram ids linked to customers.
//! - [`inbound`]: the shared inbound path above.
//! - [`outbound`]: the durable send queue and its dispatcher.
//! - [`twilio`], [`twiml`], [`voice`]: Twilio SMS/WhatsApp and Voice.
//!
//! **Adding a provider** (Meta, Mailgun): a module here with (a) a signature check, (b) a
//! parser producing [`InboundMessage`], (c) a [`ChannelSender`] registered in
//! [`Channels::new`] (one line: `senders.insert(Provider::X, Arc::new(...))`); and a route file
//! `api/src/routes/inbound/<provider>.rs` that calls [`Channels::load_inbound`] then
//! [`inbound::process`]. [`Provider`], its inbound URLs ([`config::inbound_urls`]) and the
//! credential fields ([`config::ChannelSecrets`]) already list every provider.

pub mod config;
pub mod crypto;
pub mod identity;
pub mod inbound;
pub mod mailgun;
pub mod meta;
pub mod outbound;
pub mod settings;
pub mod twilio;
pub mod twilio_lookup;
pub mod twiml;
pub mod voice;

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::channel::Channel;
use crate::error::{Error, Result, ResultExt};
use crate::ssrf::GuardedResolver;
use crate::store::Store;
use crate::webhooks::UrlGuard;

pub use config::{ChannelConfig, ChannelSecrets, LoadedChannel};
pub use crypto::SecretCipher;
pub use settings::ChannelSettings;

/// A provider account type an organization can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Twilio: SMS, WhatsApp and Voice on one account.
    Twilio,
    /// Meta WhatsApp Cloud API.
    MetaWhatsapp,
    /// Meta Messenger API for Instagram DMs.
    MetaInstagram,
    /// Mailgun inbound routes and messages API.
    Mailgun,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Twilio,
        Provider::MetaWhatsapp,
        Provider::MetaInstagram,
        Provider::Mailgun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Twilio => "twilio",
            Provider::MetaWhatsapp => "meta_whatsapp",
            Provider::MetaInstagram => "meta_instagram",
            Provider::Mailgun => "mailgun",
        }
    }

    pub fn parse(raw: &str) -> Result<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| {
                Error::unprocessable(format!(
                    "provider: must be one of twilio, meta_whatsapp, meta_instagram, mailgun (got '{}')",
                    raw.chars().take(30).collect::<String>()
                ))
            })
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A media attachment of an inbound message (kept as a link; never fetched by the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: Option<String>,
}

/// One inbound message, as every provider's parser produces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's id of this delivery (Twilio `MessageSid`, Meta `wamid...`, Mailgun
    /// `Message-Id`): retried deliveries carry the same id and are answered once.
    pub provider_message_id: String,
    /// Which channel of the agent this is (sms, whatsapp, voice, email, instagram).
    pub channel: Channel,
    /// Who wrote, as the provider names them (`+15551234567`, `whatsapp:+1555...`, an e-mail
    /// address, an Instagram-scoped id).
    pub from: String,
    /// The organization's address it was sent to.
    pub to: String,
    /// Groups messages into one conversation: the sender for chats, the call for voice, the
    /// thread root for e-mail. Empty: the sender's identity.
    pub thread_key: String,
    pub text: String,
    pub media: Vec<Media>,
    /// E-mail subject (used to thread the reply).
    pub subject: Option<String>,
    /// Provider thread state kept for replies (e-mail `Message-Id`, `References`).
    pub thread_headers: Vec<(String, String)>,
    /// The sender's display name, when the provider gives one.
    pub display_name: Option<String>,
}

/// One outbound message, as the queue hands it to a provider's [`ChannelSender`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub channel: Channel,
    /// The recipient in the provider's format (`+1555...`, `whatsapp:+1555...`, an address).
    pub to: String,
    /// The sender: the channel's address unless the thread says otherwise.
    pub from: String,
    pub text: String,
    /// Media links to attach (WhatsApp, MMS).
    pub media_urls: Vec<String>,
    /// E-mail subject.
    pub subject: Option<String>,
    /// Threading headers (e-mail `In-Reply-To`, `References`).
    pub thread_headers: Vec<(String, String)>,
    /// Choices the agent offers (quick-reply buttons where the channel has them).
    pub choices: Vec<String>,
    /// The customer's message this answers (e-mail quotes it below the answer).
    pub quoted_text: Option<String>,
}

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the sent message (Twilio `SM...`, Meta `wamid...`).
    pub provider_message_id: Option<String>,
}

/// A provider refused or could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Whether trying again later can help (5xx, 429, timeouts) or not (bad number, 4xx).
    pub transient: bool,
    /// The HTTP status, when there was a response.
    pub status_code: Option<u16>,
    /// The provider's own error code (Twilio `21211`, Meta `131047`, ...).
    pub error_code: Option<String>,
    pub detail: String,
    /// The request went out but no answer came back (a timeout, a connection cut mid-way):
    /// the provider may have accepted the message.
    pub in_doubt: bool,
}

impl SendFailure {
    /// A failure that retrying cannot fix (missing settings or credentials, a refused number).
    pub fn permanent(detail: impl Into<String>) -> SendFailure {
        SendFailure {
            transient: false,
            status_code: None,
            error_code: None,
            detail: detail.into(),
            in_doubt: false,
        }
    }

    /// No response from `provider` (timeout, refused or failed connection): worth retrying.
    /// Unless the connection was never made, the request may have been accepted.
    pub fn unreachable(provider: &str, err: &reqwest::Error) -> SendFailure {
        let detail = if err.is_timeout() {
            format!("{provider} did not answer in time")
        } else {
            format!("{provider} could not be reached")
        };
        SendFailure {
            transient: true,
            status_code: None,
            error_code: None,
            detail,
            in_doubt: !err.is_connect(),
        }
    }
}

/// Everything a sender needs besides the message: the channel (with its opened credentials),
/// the shared HTTP client and the queued send it works on.
#[derive(Debug)]
pub struct SendContext<'a> {
    pub channel: &'a LoadedChannel,
    pub http: &'a reqwest::Client,
    /// The outbox row's id (`out_...`): the same on every attempt, so a provider that keeps
    /// custom data with a message can be searched for it.
    pub send_id: &'a str,
    /// When the send was queued (Unix milliseconds): no attempt is older.
    pub queued_at: i64,
}

/// What a provider says about a message an earlier, unanswered attempt may have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The provider has it: it must not be sent again.
    Delivered { provider_message_id: Option<String> },
    /// The provider has no such message: sending it is safe.
    NotDelivered,
    /// The provider offers no way to ask.
    CannotTell,
}

/// Sends messages through one provider's API.
pub trait ChannelSender: Send + Sync {
    fn send<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, std::result::Result<Sent, SendFailure>>;

    /// Asks the provider whether it already accepted `message` (queued at
    /// [`SendContext::queued_at`]) from an attempt whose answer never arrived. Providers
    /// without a way to ask keep this default.
    fn find_sent<'a>(
        &'a self,
        _ctx: &'a SendContext<'a>,
        _message: &'a OutboundMessage,
    ) -> BoxFuture<'a, std::result::Result<Lookup, SendFailure>> {
        Box::pin(std::future::ready(Ok(Lookup::CannotTell)))
    }
}

/// The channels runtime: credentials cipher, settings, HTTP client and the senders per
/// provider. Held by the server's state; cheap to clone.
#[derive(Clone)]
pub struct Channels {
    inner: Arc<ChannelsInner>,
}

struct ChannelsInner {
    store: Store,
    cipher: SecretCipher,
    settings: ChannelSettings,
    http: reqwest::Client,
    guard: UrlGuard,
    senders: HashMap<Provider, Arc<dyn ChannelSender>>,
    /// Wakes the outbound dispatcher when a send is queued in this process.
    queued: Notify,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Channels {
    /// Builds the runtime; the cipher's key comes from the settings or the data folder.
    pub fn new(
        store: Store,
        settings: ChannelSettings,
        data_dir: &std::path::Path,
    ) -> Result<Channels> {
        let cipher = SecretCipher::load(settings.secret_key.as_deref(), data_dir)?;
        let guard = UrlGuard::new(settings.allow_networks.clone());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Blaigent/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .build()
            .or_internal("building the channel HTTP client")?;
        let mut senders: HashMap<Provider, Arc<dyn ChannelSender>> = HashMap::new();
        senders.insert(Provider::Twilio, Arc::new(twilio::TwilioSender));
        senders.insert(Provider::MetaWhatsapp, Arc::new(meta::MetaSender));
        senders.insert(Provider::MetaInstagram, Arc::new(meta::MetaSender));
        senders.insert(Provider::Mailgun, Arc::new(mailgun::MailgunSender));
        Ok(Channels {
            inner: Arc::new(ChannelsInner {
                store,
                cipher,
                settings,
                http,
                guard,
                senders,
                queued: Notify::new(),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> &ChannelSettings {
        &self.inner.settings
    }

    pub fn cipher(&self) -> &SecretCipher {
        &self.inner.cipher
    }

    /// The SSRF guard applied to provider base URLs.
    pub fn guard(&self) -> &UrlGuard {
        &self.inner.guard
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn sender(&self, provider: Provider) -> Option<Arc<dyn ChannelSender>> {
        self.inner.senders.get(&provider).cloned()
    }

    pub(crate) fn notify_queued(&self) {
        self.inner.queued.notify_one();
    }

    pub(crate) async fn queued(&self) {
        self.inner.queued.notified().await;
    }
}
