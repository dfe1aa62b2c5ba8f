//! Twilio messaging (SMS and WhatsApp): the webhook signature, the inbound payload, and the
//! Messages REST call that sends replies. Voice lives in [`super::voice`].
//!
//! Signature (`X-Twilio-Signature`), as Twilio documents it: take the full URL Twilio
//! requested (scheme, host, path, query), append every POST parameter sorted by name as
//! `name` + `value` with no separators, HMAC-SHA1 the result with the account's auth token,
//! and base64 the digest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::{
    ChannelSender, InboundMessage, Lookup, Media, OutboundMessage, SendContext, SendFailure, Sent,
};
use crate::channel::Channel;
use crate::error::{Error, Result};

/// Twilio's public REST API (used when a channel sets no `api_base_url`).
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// Most media items read from one message (Twilio sends at most 10).
const MAX_MEDIA: usize = 10;

/// Computes the signature Twilio sends for a POST to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = String::from(url);
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `header` against the signature of the request (constant time).
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<()> {
    let refused = || Error::forbidden("the request signature is missing or does not match");
    let header = header.ok_or_else(refused)?;
    if auth_token.is_empty() {
        return Err(refused());
    }
    let expected = signature(auth_token, url, params);
    if bool::from(expected.as_bytes().ct_eq(header.trim().as_bytes())) {
        Ok(())
    } else {
        Err(refused())
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a messaging webhook (SMS or WhatsApp, told apart by the `whatsapp:` prefix).
pub fn parse_message(params: &[(String, String)]) -> Result<InboundMessage> {
    let missing =
        |name: &str| Error::unprocessable(format!("{name}: missing from the Twilio payload"));
    let sid = param(params, "MessageSid")
        .or_else(|| param(params, "SmsMessageSid"))
        .ok_or_else(|| missing("MessageSid"))?;
    let from = param(params, "From").ok_or_else(|| missing("From"))?;
    let to = param(params, "To").unwrap_or_default();
    let channel = if from.starts_with("whatsapp:") {
        Channel::Whatsapp
    } else {
        Channel::Sms
    };
    let count: usize = param(params, "NumMedia")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let media = (0..count.min(MAX_MEDIA))
        .filter_map(|i| {
            let url = param(params, &format!("MediaUrl{i}"))?;
            Some(Media {
                url: url.to_owned(),
                content_type: param(params, &format!("MediaContentType{i}")).map(str::to_owned),
            })
        })
        .collect();
    Ok(InboundMessage {
        provider_message_id: sid.to_owned(),
        channel,
        from: from.to_owned(),
        to: to.to_owned(),
        thread_key: String::new(),
        text: param(params, "Body").unwrap_or_default().to_owned(),
        media,
        subject: None,
        thread_headers: Vec::new(),
        display_name: param(params, "ProfileName").map(str::to_owned),
    })
}

/// Twilio's error body (`{"code": 21211, "message": "...", "status": 400}`).
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TwilioMessage {
    sid: Option<String>,
}

/// Sends SMS and WhatsApp messages with the Messages REST call
/// (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, basic auth).
#[derive(Debug, Clone, Copy, Default)]
pub struct TwilioSender;

impl ChannelSender for TwilioSender {
    fn send<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, std::result::Result<Sent, SendFailure>> {
        Box::pin(send_message(ctx, message))
    }

    fn find_sent<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, std::result::Result<Lookup, SendFailure>> {
        Box::pin(super::twilio_lookup::find_sent(ctx, message))
    }
}

/// The account SID, auth token and Messages list URL of the channel.
pub(crate) fn messages_endpoint<'a>(
    ctx: &'a SendContext<'a>,
) -> std::result::Result<(&'a str, &'a str, String), SendFailure> {
    let config = &ctx.channel.config;
    let account = config.settings.account_id.as_deref().ok_or_else(|| {
        SendFailure::permanent("the channel has no settings.account_id (Twilio Account SID)")
    })?;
    let token = ctx
        .channel
        .secrets
        .auth_token
        .as_deref()
        .ok_or_else(|| SendFailure::permanent("the channel has no credentials.auth_token"))?;
    let base = config
        .settings
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let url = format!("{base}/2010-04-01/Accounts/{account}/Messages.json");
    Ok((account, token, url))
}

#[tracing::instrument(skip_all, fields(channel = %ctx.channel.config.id))]
async fn send_message(
    ctx: &SendContext<'_>,
    message: &OutboundMessage,
) -> std::result::Result<Sent, SendFailure> {
    let (account, token, url) = messages_endpoint(ctx)?;
    let mut form: Vec<(&str, &str)> = vec![
        ("To", message.to.as_str()),
        ("From", message.from.as_str()),
        ("Body", message.text.as_str()),
    ];
    for media in &message.media_urls {
        form.push(("MediaUrl", media.as_str()));
    }
    let response = ctx
        .http
        .post(&url)
        .basic_auth(account, Some(token))
        .form(&form)
        .send()
        .await
        .map_err(|err| SendFailure::unreachable("the provider", &err))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        let sid = serde_json::from_str::<TwilioMessage>(&body)
            .ok()
            .and_then(|m| m.sid);
        return Ok(Sent {
            provider_message_id: sid,
        });
    }
    Err(refusal(status, &body))
}

/// Twilio's answer to a request it refused.
pub(crate) fn refusal(status: reqwest::StatusCode, body: &str) -> SendFailure {
    let error: Option<TwilioError> = serde_json::from_str(body).ok();
    SendFailure {
        transient: status.is_server_error() || status.as_u16() == 429,
        status_code: Some(status.as_u16()),
        error_code: error.as_ref().and_then(|e| e.code).map(|c| c.to_string()),
        detail: error
            .and_then(|e| e.message)
            .unwrap_or_else(|| format!("HTTP {status}"))
            .chars()
            .take(300)
            .collect(),
        in_doubt: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The worked example of Twilio's security documentation ("Validating Requests are coming
    /// from Twilio", also in TwilioDevEd/api-snippets `security/signature_validation`):
    /// auth token `12345`, URL `https://mycompany.com/myapp.php?foo=1&bar=2`, POST parameters
    /// CallSid=CA1234567890ABCDE, Caller=+14158675309, Digits=1234, From=+14158675309,
    /// To=+18005551212; the expected `X-Twilio-Signature` is `RSOYDt4T1cUTdK1PDd93/VVr8B8=`.
    #[test]
    fn the_documented_twilio_example_verifies() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify("12345", url, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")).is_ok());
        assert!(verify("12346", url, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")).is_err());
        assert!(verify("12345", url, &params, None).is_err());
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(verify(
            "12345",
            url,
            &tampered,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        )
        .is_err());
    }

    #[test]
    fn whatsapp_messages_with_media_are_parsed() {
        let message = parse_message(&pairs(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+15551234567"),
            ("To", "whatsapp:+14155238886"),
            ("Body", ""),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://media.example/a.jpg"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://media.example/b.pdf"),
        ]))
        .unwrap();
        assert_eq!(message.channel, Channel::Whatsapp);
        assert_eq!(message.media.len(), 2);
        assert_eq!(message.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert!(parse_message(&pairs(&[("From", "+1555")])).is_err());
    }
}
