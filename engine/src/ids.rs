//! Typed identifiers. Every id is an opaque string with a type prefix (`org_`, `conv_`, ...)
//! followed by 26 characters of a time-ordered UUIDv7 in Crockford base32, so ids sort by
//! creation time and a mixed-up id (a conversation id where a document id belongs) is
//! rejected at parse time instead of silently matching nothing.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Returns 26 lowercase Crockford base32 characters encoding a fresh UUIDv7.
pub fn fresh_suffix() -> String {
    let value = uuid::Uuid::now_v7().as_u128();
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

fn suffix_is_valid(suffix: &str) -> bool {
    // Accept any reasonably sized token of safe characters: ids minted by older versions or
    // supplied by importers stay usable; what matters is the prefix and the absence of
    // characters that could confuse logs or URLs.
    (1..=64).contains(&suffix.len())
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this type starts with, underscore included.
            pub const PREFIX: &'static str = concat!($prefix, "_");

            /// Mints a new, unique, time-ordered id.
            pub fn new() -> Self {
                Self(format!("{}{}", Self::PREFIX, fresh_suffix()))
            }

            /// Parses an id, checking its prefix and characters.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                match raw.strip_prefix(Self::PREFIX) {
                    Some(suffix) if suffix_is_valid(suffix) => Ok(Self(raw.to_owned())),
                    _ => Err(Error::invalid(format!(
                        "'{}' is not a valid {} id (expected '{}...')",
                        truncate_for_message(raw),
                        stringify!($name),
                        Self::PREFIX
                    ))),
                }
            }

            /// Wraps a value read back from our own database without re-validating it.
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn truncate_for_message(raw: &str) -> String {
    raw.chars().take(40).collect()
}

typed_id!(/// An organization (tenant).
    OrganizationId, "org");
typed_id!(/// A customer record inside one organization (distinct from the caller's own customer id).
    CustomerRecordId, "cust");
typed_id!(/// A conversation (also exposed as the session id of the chat API).
    ConversationId, "conv");
typed_id!(/// A chat session handle; maps one-to-one onto a conversation.
    SessionId, "sess");
typed_id!(/// One message of a conversation.
    MessageId, "msg");
typed_id!(/// A knowledge document.
    DocumentId, "doc");
typed_id!(/// An API key (the id, never the secret).
    ApiKeyId, "key");
typed_id!(/// An event in the outbox.
    EventId, "evt");
typed_id!(/// An action definition or execution.
    ActionId, "act");
typed_id!(/// A memory fact about a customer.
    FactId, "fact");
typed_id!(/// A background job.
    JobId, "job");
typed_id!(/// A webhook endpoint.
    WebhookId, "whk");
typed_id!(/// An intent definition owned by an organization.
    IntentId, "int");
typed_id!(/// A channel: one provider account of an organization (Twilio, Meta, Mailgun).
    ChannelId, "chan");
typed_id!(/// A dashboard team member (a person who signs in).
    UserId, "usr");
typed_id!(/// An entry of the configuration audit log.
    AuditEntryId, "aud");
typed_id!(/// A recorded turn (recording and replay).
    RecordingId, "rec");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_carry_their_prefix_and_parse_back() {
        let id = ConversationId::new();
        assert!(id.as_str().starts_with("conv_"));
        assert_eq!(id.as_str().len(), "conv_".len() + 26);
        assert_eq!(ConversationId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn an_id_with_the_wrong_prefix_is_rejected() {
        let doc = DocumentId::new();
        let err = ConversationId::parse(doc.as_str()).unwrap_err();
        assert!(err.to_string().contains("conv_"), "{err}");
    }

    #[test]
    fn ids_minted_later_sort_later() {
        let a = MessageId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = MessageId::new();
        assert!(a < b);
    }

    #[test]
    fn ids_with_unsafe_characters_are_rejected() {
        assert!(OrganizationId::parse("org_abc def").is_err());
        assert!(OrganizationId::parse("org_").is_err());
        assert!(OrganizationId::parse("org_../../etc").is_err());
    }
}
