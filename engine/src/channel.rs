//! The channels a customer can reach the agent on.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where a message came from (and where the reply goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Web,
    Whatsapp,
    Sms,
    Email,
    Voice,
    Instagram,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Web,
        Channel::Whatsapp,
        Channel::Sms,
        Channel::Email,
        Channel::Voice,
        Channel::Instagram,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Whatsapp => "whatsapp",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Voice => "voice",
            Channel::Instagram => "instagram",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "channel must be one of web, whatsapp, sms, email, voice, instagram (got '{}')",
                    raw.chars().take(30).collect::<String>()
                ))
            })
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
