//! Twilio Voice: a phone call as a conversation, spoken through TwiML.
//!
//! - Incoming call (`/twilio/voice`): the greeting inside `<Gather input="speech">`.
//! - Each gather callback (`/twilio/voice/gather?turn=N`): the caller's `SpeechResult` is one
//!   turn of the conversation (channel `voice`, thread = the call); the answer is spoken with
//!   `<Say>` inside the next `<Gather>`. When the agent hands off and the channel has a
//!   `handoff_number`, the answer is followed by `<Dial>` to that number. Silence gets one
//!   prompt, then a goodbye.
//! - Status callback (`/twilio/voice/status`): `completed` (or another final status) closes the
//!   call's conversation.
//!
//! Voice and language follow the conversation's language (the agent's default language for
//! the greeting); a channel's `voice` setting overrides the voice.

use super::inbound::{process, InboundResponse, ReplyMode, TurnResult};
use super::twiml::{response, Verb};
use super::{Channels, InboundMessage, LoadedChannel};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::service::chat::TurnHandler;
use crate::service::lifecycle::{self, Action};

/// Twilio's final call statuses: the call is over.
pub const FINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// The Twilio `language` tag and Amazon Polly voice for an ISO 639-1 language.
pub fn voice_for(language: &str) -> (&'static str, &'static str) {
    match language {
        "de" => ("de-DE", "Polly.Vicki"),
        "fr" => ("fr-FR", "Polly.Lea"),
        "es" => ("es-ES", "Polly.Lucia"),
        "it" => ("it-IT", "Polly.Bianca"),
        "pt" => ("pt-BR", "Polly.Camila"),
        "nl" => ("nl-NL", "Polly.Laura"),
        "pl" => ("pl-PL", "Polly.Ola"),
        "sv" => ("sv-SE", "Polly.Elin"),
        "da" => ("da-DK", "Polly.Sofie"),
        "ja" => ("ja-JP", "Polly.Takumi"),
        "ko" => ("ko-KR", "Polly.Seoyeon"),
        "tr" => ("tr-TR", "Polly.Filiz"),
        _ => ("en-US", "Polly.Joanna"),
    }
}

fn say(channel: &LoadedChannel, text: &str, language: &str) -> Verb {
    let (tag, voice) = voice_for(language);
    Verb::Say {
        text: text.to_owned(),
        voice: Some(
            channel
                .config
                .settings
                .voice
                .clone()
                .unwrap_or_else(|| voice.to_owned()),
        ),
        language: Some(tag.to_owned()),
    }
}

fn gather(action: String, language: &str, nested: Vec<Verb>) -> Verb {
    Verb::Gather {
        action,
        language: Some(voice_for(language).0.to_owned()),
        nested,
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What callers hear when the agent is lost for words.
const SILENCE_PROMPT: &str = "Sorry, I did not catch that. How can I help you?";
const GOODBYE: &str = "Thank you for calling. Goodbye.";

/// Answers an incoming call with the greeting and the first gather. `gather_url` is this
/// channel's gather callback for turn 1.
#[tracing::instrument(skip_all, fields(channel = %channel.config.id))]
pub async fn incoming(
    channels: &Channels,
    channel: &LoadedChannel,
    gather_url: &str,
) -> Result<String> {
    let agent = channels
        .store()
        .agent_config(&channel.config.organization_id)
        .await?
        .unwrap_or_default();
    let language = agent.default_language.as_str();
    let greeting = channel
        .config
        .settings
        .voice_greeting
        .clone()
        .unwrap_or_else(|| agent.greeting.clone());
    Ok(response(&[
        gather(
            gather_url.to_owned(),
            language,
            vec![say(channel, &greeting, language)],
        ),
        say(channel, GOODBYE, language),
    ]))
}

/// Handles a gather callback: one spoken turn. `next_gather_url(silent)` is the callback URL
/// of the following gather (`silent`: the caller said nothing this time).
#[tracing::instrument(skip_all, fields(channel = %channel.config.id))]
pub async fn gathered(
    channels: &Channels,
    turns: &dyn TurnHandler,
    channel: &LoadedChannel,
    params: &[(String, String)],
    turn: u32,
    silent_before: bool,
    next_gather_url: &(dyn Fn(bool) -> String + Send + Sync),
) -> Result<InboundResponse> {
    let call = param(params, "CallSid")
        .ok_or_else(|| Error::unprocessable("CallSid: missing from the Twilio payload"))?;
    let from = param(params, "From")
        .ok_or_else(|| Error::unprocessable("From: missing from the Twilio payload"))?;
    let speech = param(params, "SpeechResult").unwrap_or_default().trim();
    if speech.is_empty() {
        let agent = channels
            .store()
            .agent_config(&channel.config.organization_id)
            .await?
            .unwrap_or_default();
        let language = agent.default_language.as_str();
        let body = if silent_before {
            response(&[say(channel, GOODBYE, language), Verb::Hangup])
        } else {
            response(&[
                gather(
                    next_gather_url(true),
                    language,
                    vec![say(channel, SILENCE_PROMPT, language)],
                ),
                say(channel, GOODBYE, language),
            ])
        };
        return Ok(InboundResponse {
            body,
            duplicate: false,
            turn: None,
        });
    }
    let message = InboundMessage {
        provider_message_id: format!("{call}/gather/{turn}"),
        channel: Channel::Voice,
        from: from.to_owned(),
        to: param(params, "To").unwrap_or_default().to_owned(),
        thread_key: format!("call:{call}"),
        text: speech.to_owned(),
        ..InboundMessage::default()
    };
    let handoff_number = channel.config.settings.handoff_number.clone();
    let next = next_gather_url(false);
    let render = move |turn: Option<&TurnResult>| -> String {
        let Some(turn) = turn else {
            // A retry while the first delivery runs: keep the caller listening.
            return response(&[Verb::Gather {
                action: next.clone(),
                language: None,
                nested: Vec::new(),
            }]);
        };
        let language = turn.reply.language.as_str();
        let answer = say(channel, &turn.shaped, language);
        match (&handoff_number, turn.reply.handoff) {
            (Some(number), true) => response(&[
                answer,
                Verb::Dial {
                    number: number.clone(),
                },
            ]),
            _ => response(&[
                gather(next.clone(), language, vec![answer]),
                say(channel, GOODBYE, language),
            ]),
        }
    };
    process(
        channels,
        turns,
        channel,
        message,
        ReplyMode::Inline,
        &render,
    )
    .await
}

/// Handles a call-status callback: a final status closes the call's conversation.
#[tracing::instrument(skip_all, fields(channel = %channel.config.id))]
pub async fn status(
    channels: &Channels,
    channel: &LoadedChannel,
    params: &[(String, String)],
) -> Result<()> {
    let status = param(params, "CallStatus").unwrap_or_default();
    if !FINAL_STATUSES.contains(&status) {
        return Ok(());
    }
    let (Some(call), Some(from)) = (param(params, "CallSid"), param(params, "From")) else {
        return Err(Error::unprocessable(
            "CallSid and From: required in a status callback",
        ));
    };
    let store = channels.store();
    let org = &channel.config.organization_id;
    let identity = super::identity::Identity::of_sender(Channel::Voice, from)?;
    let Some((record, _)) = store
        .identity_customer(org, identity.kind.as_str(), &identity.value)
        .await?
    else {
        return Ok(());
    };
    let Some(conversation) = store
        .open_thread_conversation(&channel.config.id, &format!("call:{call}"), &record)
        .await?
    else {
        return Ok(());
    };
    let closed = lifecycle::apply(
        store,
        org,
        conversation.as_str(),
        Action::Close {
            resolved_by: None,
            actor: "caller".to_owned(),
            reason: Some(format!("call {status}")),
        },
    )
    .await;
    match closed {
        Ok(_) => Ok(()),
        // Closed meanwhile (or by a human): nothing left to do.
        Err(err) if err.kind() == crate::error::ErrorKind::Conflict => Ok(()),
        Err(err) => Err(err),
    }
}
