//! The service functions behind the widget endpoints. Each takes the raw organization id of
//! the URL and the page's `Origin` (as the browser sent it) and refuses before doing any work
//! when the organization does not exist or the origin is not in its `allowed_origins`.
//!
//! Who a visitor is:
//! - anonymous: a random visitor id (`visitor_` + 32 hex characters) that the server mints on the
//!   first session and the widget keeps in `localStorage`; it becomes the `customer_id`. The
//!   prefix keeps it apart from the site's own customer ids, and its 128 random bits make it
//!   unguessable, so it works as a bearer credential for that visitor's own thread only;
//! - known: the site passes its own customer id with a signature made with the organization's
//!   widget secret ([`super::signature`]); a wrong or missing signature is refused.

use serde::Serialize;

use super::{origin, signature, token};
use crate::agent::Role;
use crate::channel::Channel;
use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::ids::OrganizationId;
use crate::service::chat::{self, ChatCaller, ChatInput, ChatOutcome, TurnHandler};
use crate::service::conversations::parse_conversation_id;
use crate::store::conversations::ConversationStatus;
use crate::store::lifecycle::CsatOutcome;
use crate::store::messages::Message;
use crate::store::orgs::Organization;
use crate::store::{now_ms, Store};

/// Prefix of anonymous visitors' customer ids.
pub const VISITOR_PREFIX: &str = "visitor_";

/// The configuration a page may read: how the widget looks and greets. Nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicConfig {
    pub organization_id: String,
    pub agent_name: String,
    pub avatar_url: Option<String>,
    pub accent_color: String,
    pub greeting: String,
    pub language: String,
}

/// Who is asking for a session.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    /// A visitor id from an earlier session (kept by the widget); `None` mints a new one.
    pub visitor_id: Option<String>,
    /// The site's own id for a signed-in customer.
    pub customer_id: Option<String>,
    /// Hex HMAC-SHA256 of `customer_id` with the widget secret.
    pub customer_signature: Option<String>,
}

/// A started session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitorSession {
    /// Sent as `Authorization: Bearer <token>` on chat and message requests.
    pub token: String,
    /// The customer id chats run as.
    pub customer_id: String,
    /// The anonymous visitor id to keep, `None` for signed customers.
    pub visitor_id: Option<String>,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// An authenticated visitor.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub organization: Organization,
    pub config: AgentConfig,
    pub customer_id: String,
    pub origin: String,
}

/// A conversation's status and its messages after a point.
#[derive(Debug, Clone, Serialize)]
pub struct Thread {
    pub status: ConversationStatus,
    pub messages: Vec<Message>,
}

/// Where a request comes from: the page's `Origin` header and, when the server's own demo
/// page is enabled, the server's own origin (which is then allowed too).
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOrigin<'a> {
    pub origin: Option<&'a str>,
    pub own_origin: Option<&'a str>,
}

/// Loads an organization and its agent configuration by the raw id of a URL; 404 when unknown.
async fn load_org(store: &Store, raw_org: &str) -> Result<(Organization, AgentConfig)> {
    let unknown = || Error::not_found("no such organization");
    let id = OrganizationId::parse(raw_org).map_err(|_| unknown())?;
    let organization = store.organization(&id).await?.ok_or_else(unknown)?;
    let config = store.agent_config(&id).await?.unwrap_or_default();
    Ok((organization, config))
}

/// Checks the page's origin against the configuration and returns it normalised; a page with
/// no `Origin` header is refused (browsers always send one on cross-origin and POST requests).
pub fn check_origin(config: &AgentConfig, page: PageOrigin<'_>) -> Result<String> {
    let raw = page.origin.ok_or_else(|| {
        Error::forbidden("the widget must be loaded from a web page (no Origin header)")
    })?;
    let normalised = origin::normalise(raw).ok_or_else(|| refused_origin(raw))?;
    let own = page.own_origin.and_then(origin::normalise);
    if origin::is_allowed(&config.allowed_origins, &normalised)
        || own.as_deref() == Some(&normalised)
    {
        Ok(normalised)
    } else {
        Err(refused_origin(raw))
    }
}

fn refused_origin(raw: &str) -> Error {
    Error::forbidden(format!(
        "the origin '{}' may not embed this organization's widget; add it to allowed_origins \
         in the agent configuration",
        raw.chars().take(100).collect::<String>()
    ))
}

/// Returns the public widget configuration. A request without `Origin` (a same-origin `GET`
/// or a non-browser client) gets it too: it holds nothing secret; a browser page on an origin
/// that is not allowed is refused.
#[tracing::instrument(skip_all, fields(org = raw_org))]
pub async fn public_config(
    store: &Store,
    raw_org: &str,
    page: PageOrigin<'_>,
) -> Result<PublicConfig> {
    let (organization, config) = load_org(store, raw_org).await?;
    if page.origin.is_some() {
        check_origin(&config, page)?;
    }
    Ok(PublicConfig {
        organization_id: organization.id.into_string(),
        agent_name: config.name,
        avatar_url: config.brand.avatar_url,
        accent_color: config.brand.accent_color,
        greeting: config.greeting,
        language: config.default_language,
    })
}

/// Starts a visitor session: checks the origin, works out the customer id (minting a visitor
/// id, or verifying the site's signature) and issues a token valid for `ttl_secs`.
#[tracing::instrument(skip_all, fields(org = raw_org))]
pub async fn start_session(
    store: &Store,
    raw_org: &str,
    page: PageOrigin<'_>,
    request: SessionRequest,
    ttl_secs: u64,
) -> Result<VisitorSession> {
    let (organization, config) = load_org(store, raw_org).await?;
    let origin = check_origin(&config, page)?;
    let org = &organization.id;
    let (customer_id, visitor_id) = match (request.customer_id, request.customer_signature) {
        (Some(customer_id), Some(signature)) => {
            let secret = store.widget_customer_secret(org).await?.ok_or_else(|| {
                Error::unauthorized(
                    "this organization has no widget secret yet, so signed customer ids \
                     cannot be verified; create one in the dashboard",
                )
            })?;
            if customer_id.trim().is_empty()
                || customer_id.chars().count() > chat::MAX_CUSTOMER_ID_CHARS
                || customer_id.chars().any(char::is_control)
            {
                return Err(Error::unprocessable(format!(
                    "customer_id: must be 1 to {} characters without control characters",
                    chat::MAX_CUSTOMER_ID_CHARS
                )));
            }
            if !signature::verify(&secret, &customer_id, &signature) {
                return Err(Error::unauthorized(
                    "customer_signature does not match customer_id",
                ));
            }
            (customer_id, None)
        }
        (Some(_), None) => {
            return Err(Error::unauthorized(
                "customer_id needs customer_signature (HMAC-SHA256 with the widget secret)",
            ))
        }
        (None, _) => {
            let visitor = match request.visitor_id {
                Some(id) if is_visitor_id(&id) => id,
                Some(_) => {
                    return Err(Error::unprocessable(
                        "visitor_id: must be an id issued by this server (visitor_...)",
                    ))
                }
                None => new_visitor_id(),
            };
            (visitor.clone(), Some(visitor))
        }
    };
    let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let expires_at = now_ms().saturating_add(ttl_ms);
    let key = store.widget_token_key(org).await?;
    let claims = token::Claims {
        organization_id: org.as_str().to_owned(),
        customer_id: customer_id.clone(),
        origin,
        expires_at,
    };
    Ok(VisitorSession {
        token: token::issue(&key, &claims)?,
        customer_id,
        visitor_id,
        expires_at,
    })
}

/// Returns a new visitor id: the prefix and 128 random bits in hex (not a time-ordered id:
/// it serves as the visitor's credential, so nothing in it may be guessable).
fn new_visitor_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    format!("{VISITOR_PREFIX}{}", hex::encode(bytes))
}

/// Tells whether `raw` looks like a visitor id this server mints.
fn is_visitor_id(raw: &str) -> bool {
    raw.strip_prefix(VISITOR_PREFIX).is_some_and(|suffix| {
        (16..=64).contains(&suffix.len())
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Authenticates a visitor token presented from `page`: the token must be this
/// organization's, unexpired, issued to the same origin, and that origin still allowed.
#[tracing::instrument(skip_all, fields(org = raw_org))]
pub async fn authenticate(
    store: &Store,
    raw_org: &str,
    page: PageOrigin<'_>,
    presented: &str,
) -> Result<Visitor> {
    let (organization, config) = load_org(store, raw_org).await?;
    let origin = check_origin(&config, page)?;
    let key = store.widget_token_key(&organization.id).await?;
    let claims = token::verify(&key, presented, now_ms())?;
    if claims.organization_id != organization.id.as_str() || claims.origin != origin {
        return Err(Error::unauthorized(
            "the visitor session token was issued for another organization or page",
        ));
    }
    Ok(Visitor {
        organization,
        config,
        customer_id: claims.customer_id,
        origin,
    })
}

/// A visitor's message.
#[derive(Debug, Clone, Default)]
pub struct WidgetMessage {
    pub message: String,
    /// The conversation to continue (`conv_...`), `None` to start one.
    pub session_id: Option<String>,
    pub language: Option<String>,
}

/// Builds the chat service's caller and input for a visitor's message: the visitor's customer
/// id, the web channel, and metadata saying the message came through the widget (and from
/// which page origin).
pub fn chat_request(visitor: &Visitor, message: WidgetMessage) -> (ChatCaller, ChatInput) {
    let caller = ChatCaller {
        organization_id: visitor.organization.id.clone(),
        plan: visitor.organization.plan,
        monthly_conversation_quota: visitor.organization.monthly_conversation_quota,
    };
    let mut metadata = serde_json::Map::new();
    metadata.insert("source".into(), "widget".into());
    metadata.insert("origin".into(), visitor.origin.clone().into());
    let input = ChatInput {
        organization_id: visitor.organization.id.as_str().to_owned(),
        customer_id: visitor.customer_id.clone(),
        message: message.message,
        channel: Channel::Web,
        session_id: message.session_id,
        language: message.language,
        metadata,
    };
    (caller, input)
}

/// Runs one chat turn for `visitor`, through the same service function as the REST chat.
#[tracing::instrument(skip_all, fields(org = %visitor.organization.id))]
pub async fn chat(
    store: &Store,
    turns: &dyn TurnHandler,
    visitor: &Visitor,
    message: WidgetMessage,
) -> Result<ChatOutcome> {
    let (caller, input) = chat_request(visitor, message);
    chat::chat(store, turns, &caller, input).await
}

/// Finds the visitor's own conversation; another customer's (or a malformed id) is not found.
async fn own_conversation(
    store: &Store,
    visitor: &Visitor,
    session_id: &str,
) -> Result<crate::store::conversations::Conversation> {
    let id = parse_conversation_id(session_id)?;
    store
        .conversation(&visitor.organization.id, &id)
        .await?
        .filter(|c| c.customer_id == visitor.customer_id)
        .ok_or_else(|| Error::not_found("no such conversation for this visitor"))
}

/// Records the visitor's satisfaction rating (1 to 5) of their own conversation, through the
/// same service function as the platform API (a second rating replaces the first).
#[tracing::instrument(skip_all, fields(org = %visitor.organization.id))]
pub async fn submit_csat(
    store: &Store,
    visitor: &Visitor,
    session_id: &str,
    rating: i64,
    comment: Option<String>,
) -> Result<CsatOutcome> {
    let conversation = own_conversation(store, visitor, session_id).await?;
    crate::service::csat::submit_csat(
        store,
        &visitor.organization.id,
        conversation.id.as_str(),
        rating,
        comment,
    )
    .await
}

/// Returns the status of the visitor's conversation and its messages created after
/// `after_ms` (all of them when `None`); another customer's conversation is not found.
#[tracing::instrument(skip_all, fields(org = %visitor.organization.id))]
pub async fn thread(
    store: &Store,
    visitor: &Visitor,
    session_id: &str,
    after_ms: Option<i64>,
) -> Result<Thread> {
    let org = &visitor.organization.id;
    let conversation = own_conversation(store, visitor, session_id).await?;
    let messages = store
        .messages(org, &conversation.id)
        .await?
        .into_iter()
        .filter(|m| after_ms.is_none_or(|after| m.created_at > after))
        // Internal notes of a human agent would carry their own role; the three roles a
        // customer may see are exactly these.
        .filter(|m| matches!(m.role, Role::Customer | Role::Agent | Role::Human))
        .collect();
    Ok(Thread {
        status: conversation.status,
        messages,
    })
}

/// Creates or replaces the organization's widget secret and returns it (shown once).
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn rotate_secret(store: &Store, org: &OrganizationId) -> Result<String> {
    let secret = signature::new_secret();
    store.set_widget_customer_secret(org, &secret).await?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_ids_are_only_those_this_server_could_mint() {
        let minted = new_visitor_id();
        assert!(is_visitor_id(&minted), "{minted}");
        assert!(!is_visitor_id("cust_42"));
        assert!(!is_visitor_id("visitor_short"));
        assert!(!is_visitor_id("visitor_<script>alert(1)</script>xxxxxx"));
    }

    #[test]
    fn the_server_own_origin_is_allowed_only_when_passed() {
        let config = AgentConfig {
            allowed_origins: vec!["https://shop.example".into()],
            ..AgentConfig::default()
        };
        let page = |origin, own| PageOrigin {
            origin,
            own_origin: own,
        };
        assert!(check_origin(&config, page(Some("https://shop.example"), None)).is_ok());
        assert!(check_origin(&config, page(Some("http://localhost:8080"), None)).is_err());
        assert!(check_origin(
            &config,
            page(Some("http://localhost:8080"), Some("http://localhost:8080"))
        )
        .is_ok());
        assert!(check_origin(&config, page(None, None)).is_err());
    }
}
