//! An organization's channels: one provider account each, with public settings (addresses,
//! the handoff number, the provider's base URL) and write-only credentials sealed at rest.
//! These are the plain functions behind `/api/v1/dashboard/channels`.

use serde::{Deserialize, Serialize};

use super::{Channels, Provider};
use crate::error::{Error, Result, ResultExt};
use crate::ids::{ChannelId, OrganizationId};
use crate::store::channels::ChannelRow;
use crate::store::now_ms;

/// Longest name, address or setting value, in characters.
pub const MAX_FIELD_CHARS: usize = 300;

/// Public settings of a channel (returned by the API). Which ones a provider uses:
/// - Twilio: `account_sid`, `handoff_number`, `voice`, `voice_greeting`, `api_base_url`.
/// - Meta: `phone_number_id` / `page_id` in `account_id`, `api_base_url`.
/// - Mailgun: `domain` in `account_id`, `from_name`, `api_base_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicSettings {
    /// The provider's account: Twilio Account SID, Meta phone-number or page id, Mailgun domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Where voice handoffs are dialled (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_number: Option<String>,
    /// The provider API's base URL; unset means the provider's public API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Text-to-speech voice (e.g. `Polly.Joanna`); unset: chosen from the language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// What a caller hears first; unset: the agent's greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_greeting: Option<String>,
    /// Sender name of e-mails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

/// Credentials of a channel: written, never read back through the API.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSecrets {
    /// Twilio auth token (signs webhooks, authenticates the REST API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Meta access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Meta app secret (signs webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// Meta webhook verify token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// Mailgun API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Mailgun webhook signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

impl std::fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelSecrets({:?})", self.names())
    }
}

impl ChannelSecrets {
    /// The names of the credentials that are set (what the API shows instead of values).
    pub fn names(&self) -> Vec<&'static str> {
        let fields = [
            ("auth_token", &self.auth_token),
            ("access_token", &self.access_token),
            ("app_secret", &self.app_secret),
            ("verify_token", &self.verify_token),
            ("api_key", &self.api_key),
            ("signing_key", &self.signing_key),
        ];
        fields
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| n)
            .collect()
    }

    /// Overlays the fields `patch` sets (an empty string removes a credential).
    fn merge(&mut self, patch: ChannelSecrets) {
        let apply = |slot: &mut Option<String>, value: Option<String>| {
            if let Some(v) = value {
                *slot = (!v.is_empty()).then_some(v);
            }
        };
        apply(&mut self.auth_token, patch.auth_token);
        apply(&mut self.access_token, patch.access_token);
        apply(&mut self.app_secret, patch.app_secret);
        apply(&mut self.verify_token, patch.verify_token);
        apply(&mut self.api_key, patch.api_key);
        apply(&mut self.signing_key, patch.signing_key);
    }
}

/// A channel as the API shows it (no credentials, only their names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelConfig {
    pub id: ChannelId,
    pub organization_id: OrganizationId,
    pub provider: Provider,
    pub name: String,
    /// The organization's side: phone number, WhatsApp number, page id, inbound address.
    pub address: String,
    pub settings: PublicSettings,
    /// Which credentials are set.
    pub credentials_set: Vec<&'static str>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A channel with its credentials opened, for inbound checks and sends.
#[derive(Debug, Clone)]
pub struct LoadedChannel {
    pub config: ChannelConfig,
    pub secrets: ChannelSecrets,
}

/// What a new channel starts with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub provider: String,
    #[serde(default)]
    pub name: Option<String>,
    pub address: String,
    #[serde(default)]
    pub settings: PublicSettings,
    #[serde(default)]
    pub credentials: ChannelSecrets,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A partial update: absent fields keep their value; `settings` replaces the settings;
/// `credentials` sets (or with `""` removes) only the credentials it names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub settings: Option<PublicSettings>,
    pub credentials: Option<ChannelSecrets>,
    pub enabled: Option<bool>,
}

/// The URLs to paste into the provider's console, by purpose.
pub fn inbound_urls(base: &str, provider: Provider, id: &ChannelId) -> Vec<(&'static str, String)> {
    let root = format!("{}/api/v1/channels/{}", base.trim_end_matches('/'), id);
    match provider {
        Provider::Twilio => vec![
            ("messaging", format!("{root}/twilio/messages")),
            ("voice", format!("{root}/twilio/voice")),
            (
                "voice_status_callback",
                format!("{root}/twilio/voice/status"),
            ),
        ],
        Provider::MetaWhatsapp | Provider::MetaInstagram => {
            vec![("webhook", format!("{root}/meta"))]
        }
        Provider::Mailgun => vec![("inbound_route", format!("{root}/mailgun"))],
    }
}

fn check_text(field: &str, value: &str, required: bool) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(Error::unprocessable(format!("{field}: must not be empty")));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(Error::unprocessable(format!(
            "{field}: must be at most {MAX_FIELD_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::unprocessable(format!(
            "{field}: must not contain control characters"
        )));
    }
    Ok(())
}

fn validate_settings(channels: &Channels, settings: &PublicSettings) -> Result<()> {
    let fields = [
        ("settings.account_id", &settings.account_id),
        ("settings.handoff_number", &settings.handoff_number),
        ("settings.api_base_url", &settings.api_base_url),
        ("settings.voice", &settings.voice),
        ("settings.voice_greeting", &settings.voice_greeting),
        ("settings.from_name", &settings.from_name),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            check_text(name, v, true)?;
        }
    }
    if let Some(number) = &settings.handoff_number {
        super::identity::normalize_phone(number).map_err(|_| {
            Error::unprocessable(
                "settings.handoff_number: must be a phone number like +15551234567",
            )
        })?;
    }
    if let Some(url) = &settings.api_base_url {
        channels
            .guard()
            .check_url(url)
            .map_err(|e| Error::unprocessable(format!("settings.api_base_url: {}", e.message())))?;
    }
    Ok(())
}

fn validate_secrets(secrets: &ChannelSecrets) -> Result<()> {
    let fields = [
        ("credentials.auth_token", &secrets.auth_token),
        ("credentials.access_token", &secrets.access_token),
        ("credentials.app_secret", &secrets.app_secret),
        ("credentials.verify_token", &secrets.verify_token),
        ("credentials.api_key", &secrets.api_key),
        ("credentials.signing_key", &secrets.signing_key),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            if v.chars().count() > 2_000 || v.chars().any(char::is_control) {
                return Err(Error::unprocessable(format!(
                    "{name}: must be at most 2000 characters without control characters"
                )));
            }
        }
    }
    Ok(())
}

fn to_config(row: &ChannelRow) -> Result<(ChannelConfig, String)> {
    let corrupt = |what: &str| Error::internal(format!("a stored channel has {what}"));
    let settings: PublicSettings =
        serde_json::from_str(&row.settings).map_err(|_| corrupt("unreadable settings"))?;
    Ok((
        ChannelConfig {
            id: ChannelId::from_trusted(row.id.clone()),
            organization_id: OrganizationId::from_trusted(row.organization_id.clone()),
            provider: Provider::parse(&row.provider).map_err(|_| corrupt("an unknown provider"))?,
            name: row.name.clone(),
            address: row.address.clone(),
            settings,
            credentials_set: Vec::new(),
            enabled: row.enabled != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        row.secrets.clone(),
    ))
}

impl Channels {
    fn open_row(&self, row: &ChannelRow) -> Result<LoadedChannel> {
        let (mut config, sealed) = to_config(row)?;
        let plain = self.cipher().open(&sealed, &row.id)?;
        let secrets: ChannelSecrets = serde_json::from_slice(&plain)
            .or_internal("stored channel credentials are unreadable")?;
        config.credentials_set = secrets.names();
        Ok(LoadedChannel { config, secrets })
    }

    fn seal(&self, secrets: &ChannelSecrets, id: &ChannelId) -> Result<String> {
        let plain = serde_json::to_vec(secrets).or_internal("encoding channel credentials")?;
        self.cipher().seal(&plain, id.as_str())
    }

    /// Creates a channel for `org`.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn create_channel(
        &self,
        org: &OrganizationId,
        new: NewChannel,
    ) -> Result<ChannelConfig> {
        let provider = Provider::parse(&new.provider)?;
        let name = new.name.unwrap_or_else(|| provider.as_str().to_owned());
        check_text("name", &name, true)?;
        check_text("address", &new.address, true)?;
        validate_settings(self, &new.settings)?;
        validate_secrets(&new.credentials)?;
        let id = ChannelId::new();
        let now = now_ms();
        let row = ChannelRow {
            id: id.as_str().to_owned(),
            organization_id: org.as_str().to_owned(),
            provider: provider.as_str().to_owned(),
            name: name.trim().to_owned(),
            address: new.address.trim().to_owned(),
            settings: serde_json::to_string(&new.settings).or_internal("encoding settings")?,
            secrets: self.seal(&new.credentials, &id)?,
            enabled: i64::from(new.enabled.unwrap_or(true)),
            created_at: now,
            updated_at: now,
        };
        self.store().insert_channel(&row).await?;
        Ok(self.open_row(&row)?.config)
    }

    /// The organization's channels.
    pub async fn list_channels(&self, org: &OrganizationId) -> Result<Vec<ChannelConfig>> {
        let rows = self.store().channels(org).await?;
        rows.iter().map(|r| Ok(self.open_row(r)?.config)).collect()
    }

    /// The organization's channel `id` (404 otherwise).
    pub async fn get_channel(&self, org: &OrganizationId, id: &str) -> Result<LoadedChannel> {
        let id = parse_channel_id(id)?;
        let row = self
            .store()
            .channel(org, &id)
            .await?
            .ok_or_else(|| not_found(&id))?;
        self.open_row(&row)
    }

    /// Applies `patch` to the organization's channel `id`.
    #[tracing::instrument(skip_all, fields(org = %org, channel = id))]
    pub async fn update_channel(
        &self,
        org: &OrganizationId,
        id: &str,
        patch: ChannelPatch,
    ) -> Result<ChannelConfig> {
        let current = self.get_channel(org, id).await?;
        let mut config = current.config;
        let mut secrets = current.secrets;
        if let Some(name) = patch.name {
            check_text("name", &name, true)?;
            config.name = name.trim().to_owned();
        }
        if let Some(address) = patch.address {
            check_text("address", &address, true)?;
            config.address = address.trim().to_owned();
        }
        if let Some(settings) = patch.settings {
            validate_settings(self, &settings)?;
            config.settings = settings;
        }
        if let Some(credentials) = patch.credentials {
            validate_secrets(&credentials)?;
            secrets.merge(credentials);
        }
        if let Some(enabled) = patch.enabled {
            config.enabled = enabled;
        }
        let row = ChannelRow {
            id: config.id.as_str().to_owned(),
            organization_id: org.as_str().to_owned(),
            provider: config.provider.as_str().to_owned(),
            name: config.name.clone(),
            address: config.address.clone(),
            settings: serde_json::to_string(&config.settings).or_internal("encoding settings")?,
            secrets: self.seal(&secrets, &config.id)?,
            enabled: i64::from(config.enabled),
            created_at: config.created_at,
            updated_at: now_ms(),
        };
        if !self.store().update_channel(&row).await? {
            return Err(not_found(&config.id));
        }
        Ok(self.open_row(&row)?.config)
    }

    /// Deletes the organization's channel `id`.
    pub async fn delete_channel(&self, org: &OrganizationId, id: &str) -> Result<()> {
        let id = parse_channel_id(id)?;
        if self.store().delete_channel(org, &id).await? {
            Ok(())
        } else {
            Err(not_found(&id))
        }
    }

    /// Loads the channel an inbound webhook names, for `provider`. An unknown, disabled or
    /// other-provider channel is a 404 (the same answer, so ids cannot be probed).
    pub async fn load_inbound(&self, id: &str, provider: Provider) -> Result<LoadedChannel> {
        let missing = || Error::not_found("no such channel");
        let id = ChannelId::parse(id).map_err(|_| missing())?;
        let row = self.store().channel_by_id(&id).await?.ok_or_else(missing)?;
        let loaded = self.open_row(&row)?;
        if !loaded.config.enabled || loaded.config.provider != provider {
            return Err(missing());
        }
        Ok(loaded)
    }

    /// Loads any channel by id, for the dispatcher.
    pub(crate) async fn load_any(&self, id: &ChannelId) -> Result<Option<LoadedChannel>> {
        match self.store().channel_by_id(id).await? {
            Some(row) => Ok(Some(self.open_row(&row)?)),
            None => Ok(None),
        }
    }
}

fn parse_channel_id(raw: &str) -> Result<ChannelId> {
    ChannelId::parse(raw).map_err(|_| {
        Error::not_found(format!(
            "no channel '{}' in this organization",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

fn not_found(id: &ChannelId) -> Error {
    Error::not_found(format!("no channel '{id}' in this organization"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_lists_messaging_voice_and_status_urls() {
        let id = ChannelId::new();
        let urls = inbound_urls("https://x.example/", Provider::Twilio, &id);
        assert_eq!(
            urls[0].1,
            format!("https://x.example/api/v1/channels/{id}/twilio/messages")
        );
        assert_eq!(urls.len(), 3);
    }

    #[test]
    fn credential_patches_set_and_remove_only_what_they_name() {
        let mut secrets = ChannelSecrets {
            auth_token: Some("a".into()),
            api_key: Some("b".into()),
            ..ChannelSecrets::default()
        };
        secrets.merge(ChannelSecrets {
            auth_token: Some(String::new()),
            verify_token: Some("s3cr3t-verify".into()),
            ..ChannelSecrets::default()
        });
        assert_eq!(secrets.names(), vec!["verify_token", "api_key"]);
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
    }
}
