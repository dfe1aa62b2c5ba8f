//! Channel identities: the phone number, e-mail address or Instagram id a person writes
//! from, linked to one customer of the organization. The same person on SMS, WhatsApp, voice
//! and web chat is one customer when their identities point at one customer record: memory
//! and history follow the record.
//!
//! An identity seen for the first time gets a customer of its own, whose id is the identity
//! itself (`phone:+15551234567`); the organization can link it to its own customer id
//! ([`link_identity`]), after which new turns from that number belong to that customer.

use serde::Serialize;

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::ids::{CustomerRecordId, OrganizationId};
use crate::store::Store;

/// What kind of address an identity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Phone,
    Email,
    Instagram,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Email => "email",
            IdentityKind::Instagram => "instagram",
        }
    }

    pub fn parse(raw: &str) -> Result<IdentityKind> {
        match raw {
            "phone" => Ok(IdentityKind::Phone),
            "email" => Ok(IdentityKind::Email),
            "instagram" => Ok(IdentityKind::Instagram),
            _ => Err(Error::unprocessable(
                "kind: must be one of phone, email, instagram",
            )),
        }
    }

    /// The kind of identity a channel's senders have.
    pub fn of_channel(channel: Channel) -> IdentityKind {
        match channel {
            Channel::Email => IdentityKind::Email,
            Channel::Instagram => IdentityKind::Instagram,
            _ => IdentityKind::Phone,
        }
    }
}

/// A normalized identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// Normalizes `raw` as an identity of `kind`.
    pub fn parse(kind: IdentityKind, raw: &str) -> Result<Identity> {
        let value = match kind {
            IdentityKind::Phone => normalize_phone(raw)?,
            IdentityKind::Email => normalize_email(raw)?,
            IdentityKind::Instagram => {
                let id = raw.trim();
                if id.is_empty()
                    || id.len() > 64
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                {
                    return Err(Error::unprocessable("value: not an Instagram id"));
                }
                id.to_owned()
            }
        };
        Ok(Identity { kind, value })
    }

    /// The identity of a sender on `channel`, as the provider names them.
    pub fn of_sender(channel: Channel, from: &str) -> Result<Identity> {
        Identity::parse(IdentityKind::of_channel(channel), from)
    }

    /// The customer id given to a customer first met through this identity.
    pub fn customer_id(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.value)
    }
}

/// Normalizes a phone number to `+` and digits (E.164), dropping a `whatsapp:`, `sms:` or
/// `tel:` scheme and separators.
pub fn normalize_phone(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let bare = ["whatsapp:", "sms:", "tel:", "client:"]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p))
        .unwrap_or(trimmed);
    let digits: String = bare.chars().filter(char::is_ascii_digit).collect();
    let allowed = bare
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !allowed || !(6..=15).contains(&digits.len()) {
        return Err(Error::unprocessable(
            "value: not a phone number (expected E.164, like +15551234567)",
        ));
    }
    Ok(format!("+{digits}"))
}

/// Normalizes an e-mail address: the part in `<...>` when a display name is given, trimmed,
/// lowercased.
pub fn normalize_email(raw: &str) -> Result<String> {
    let inner = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => &raw[start + 1..end],
        _ => raw,
    };
    let address = inner.trim().to_lowercase();
    let valid = address.len() <= 254
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(Error::unprocessable("value: not an e-mail address"));
    }
    Ok(address)
}

/// Returns the customer (record id, the organization's customer id) of `identity`, creating
/// a customer for an identity seen for the first time.
#[tracing::instrument(skip_all, fields(org = %org, kind = identity.kind.as_str()))]
pub async fn resolve_customer(
    store: &Store,
    org: &OrganizationId,
    identity: &Identity,
) -> Result<(CustomerRecordId, String)> {
    if let Some(found) = store
        .identity_customer(org, identity.kind.as_str(), &identity.value)
        .await?
    {
        return Ok(found);
    }
    let external = identity.customer_id();
    let record = store.ensure_customer(org, &external).await?;
    store
        .link_identity(org, identity.kind.as_str(), &identity.value, &record)
        .await?;
    // A concurrent first message may have linked it to another record first: read the winner.
    store
        .identity_customer(org, identity.kind.as_str(), &identity.value)
        .await?
        .ok_or_else(|| Error::internal("a linked identity vanished"))
}

/// A linked identity as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedIdentity {
    pub id: String,
    pub customer_id: String,
    pub kind: String,
    pub value: String,
    pub created_at: i64,
}

/// Links `identity` to the organization's customer `customer_id` (created when new); turns
/// from that identity then belong to that customer.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn link_identity(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
    identity: &Identity,
) -> Result<LinkedIdentity> {
    let customer_id = customer_id.trim();
    if customer_id.is_empty()
        || customer_id.chars().count() > 128
        || customer_id.chars().any(char::is_control)
    {
        return Err(Error::unprocessable(
            "customer_id: must be 1 to 128 characters without control characters",
        ));
    }
    let record = store.ensure_customer(org, customer_id).await?;
    let row = store
        .link_identity(org, identity.kind.as_str(), &identity.value, &record)
        .await?;
    Ok(LinkedIdentity {
        id: row.id,
        customer_id: customer_id.to_owned(),
        kind: row.kind,
        value: row.value,
        created_at: row.created_at,
    })
}

/// The identities linked to the organization's customer `customer_id` (404 when unknown).
pub async fn identities(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
) -> Result<Vec<LinkedIdentity>> {
    let record = store
        .customer_by_external_id(org, customer_id)
        .await?
        .ok_or_else(|| Error::not_found("no such customer in this organization"))?;
    Ok(store
        .identities_of(org, &record)
        .await?
        .into_iter()
        .map(|row| LinkedIdentity {
            id: row.id,
            customer_id: customer_id.to_owned(),
            kind: row.kind,
            value: row.value,
            created_at: row.created_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_lose_their_scheme_and_separators() {
        assert_eq!(
            normalize_phone("whatsapp:+14155238886").unwrap(),
            "+14155238886"
        );
        assert_eq!(
            normalize_phone("+1 (415) 523-8886").unwrap(),
            "+14155238886"
        );
        assert!(normalize_phone("call me").is_err());
        assert!(normalize_phone("+12").is_err());
    }

    #[test]
    fn e_mail_addresses_are_taken_from_display_form_and_lowercased() {
        assert_eq!(
            normalize_email("Dana Smith <Dana@Example.COM>").unwrap(),
            "dana@example.com"
        );
        assert!(normalize_email("not-an-address").is_err());
    }

    #[test]
    fn sms_and_whatsapp_senders_are_the_same_phone_identity() {
        let sms = Identity::of_sender(Channel::Sms, "+15551234567").unwrap();
        let whatsapp = Identity::of_sender(Channel::Whatsapp, "whatsapp:+15551234567").unwrap();
        assert_eq!(sms, whatsapp);
        assert_eq!(sms.customer_id(), "phone:+15551234567");
    }
}
