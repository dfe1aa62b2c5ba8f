//! The turn pipeline: the stages in order, the routing between them, and the memory writes.

use super::action::{handoff, ActionContext};
use super::answer::{acknowledgement, memory_answer, small_talk, stream_sentences, Draft, Source};
use super::model_path::ModelOutcome;
use super::stream::EventSink;
use super::{smalltalk, ActionOutcome, Agent, Reply, Role, Turn, TOP_K};
use crate::error::Result;
use crate::index::SearchFilter;
use crate::knowledge::{ScoredPassage, SearchMode};
use crate::memory::{self, CustomerMemory, NewFact};
use crate::policy::escalation::consecutive_failures;
use crate::policy::pii::{self, PiiKind};
use crate::policy::{self, injection, Escalation, Inbound};
use crate::respond::channel::{shape, Frame};
use crate::respond::templates::{is_fallback_text, phrases};
use crate::retrieval::SearchRequest;
use crate::rewrite::rewrite;
use crate::store::memory::FactOrigin;
use crate::store::now_ms;
use crate::text::content_stems;

/// Intents the classifier may return that the agent answers with a fixed phrase.
const SMALL_TALK: [&str; 3] = ["greeting", "thanks", "goodbye"];
/// The classifier must be at least this sure before its small-talk label wins over retrieval.
const SMALL_TALK_CONFIDENCE: f32 = 0.8;

impl Agent {
    pub(super) async fn run(&self, turn: &Turn, sink: EventSink) -> Result<Reply> {
        let started = std::time::Instant::now();
        // 1. Language.
        let language = crate::language::resolve(
            turn.language.as_deref(),
            &turn.message,
            &turn.config.default_language,
        );

        // 2. Policy in.
        let inbound = policy::inspect(
            &turn.message,
            &turn.config.guardrails,
            &turn.history,
            is_fallback_text,
        );
        let mut flags: Vec<String> = Vec::new();
        if !inbound.pii_found.is_empty() {
            flags.push("pii_redacted".into());
        }
        if inbound.injection.is_some() {
            flags.push("prompt_injection".into());
        }
        if inbound.blocked_topic.is_some() {
            flags.push("blocked_topic".into());
        }

        // 3. Memory: extract from the message (payment data and national ids never), recall.
        let new_facts = extract_facts(&turn.message, inbound.injection.is_some());
        let mut memory = self.recall(turn).await;
        memory.merge(&new_facts, now_ms());

        // 4. Intent.
        let (mut intent, mut confidence) = self.intent(turn, &inbound).await;
        if matches!(inbound.escalation, Some(Escalation::HumanRequested)) {
            intent = "human_handoff".into();
            confidence = confidence.max(0.9);
        }

        // 6. Organization actions first: a pending follow-up ("A1234", "yes") belongs to them.
        let action_reply = self
            .action_stage(turn, &inbound, &intent, confidence, &language, &memory)
            .await;
        // 5-7. Route and answer.
        let mut actions: Vec<ActionOutcome> = Vec::new();
        let mut handoff_reason: Option<String> = None;
        let mut draft = match action_reply {
            Some(reply) => {
                if let Some(label) = reply.intent {
                    intent = label;
                }
                handoff_reason = reply.handoff_reason;
                actions.push(reply.outcome);
                let mut draft = Draft::canned(reply.text);
                draft.flags = reply.flags;
                draft
            }
            None => {
                self.route(
                    turn, &inbound, &intent, confidence, &language, &memory, &new_facts, &sink,
                )
                .await
            }
        };

        // 6. Action selection (the handoff on escalation, organization actions later).
        let context = ActionContext {
            turn,
            inbound: &inbound,
            intent: &intent,
            confidence,
        };
        let mut selected = self.selectors.iter().find_map(|s| s.select(context));
        // Repeated failure counts this turn too: the Nth "I don't know" hands off.
        if selected.is_none() && !draft.answered {
            let failed_turns = consecutive_failures(&turn.history, is_fallback_text) + 1;
            let max = turn.config.guardrails.max_failed_turns;
            if max > 0 && failed_turns >= max {
                selected = Some(handoff(&Escalation::RepeatedFailure { failed_turns }));
            }
        }
        if let Some(action) = selected {
            if action.name == super::HUMAN_HANDOFF {
                handoff_reason = Some(action.reason.clone());
                if draft.source != Source::Canned || !draft.answered {
                    draft = Draft::canned(phrases(&language).handoff);
                }
            }
            actions.push(ActionOutcome {
                name: action.name,
                status: "succeeded".into(),
                detail: Some(action.reason),
            });
        }

        // 8. Policy out: channel shaping (model answers were checked in their route).
        let frame = Frame {
            agent_name: &turn.config.name,
            customer_name: memory.first_name(),
            language: &language,
        };
        let response = shape(&draft.text, turn.channel, frame);
        if draft.source != Source::Model {
            stream_sentences(&sink, &response).await;
        }
        flags.extend(draft.flags.iter().cloned());

        // Memory writes: facts and the conversation summary.
        self.remember(turn, &new_facts, &memory, &intent).await;

        tracing::info!(
            intent = %intent,
            confidence,
            language = %language,
            answered = draft.answered,
            handoff = handoff_reason.is_some(),
            citations = draft.citations.len(),
            facts_learned = new_facts.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "turn handled"
        );
        Ok(Reply {
            response,
            intent,
            confidence,
            language,
            citations: draft.citations,
            handoff: handoff_reason.is_some(),
            handoff_reason,
            actions,
            stored_message: inbound.redacted,
            flags,
        })
    }

    /// Runs the organization's actions unless the inbound policy already decided the turn
    /// (escalation, injection, blocked topic).
    async fn action_stage(
        &self,
        turn: &Turn,
        inbound: &Inbound,
        intent: &str,
        confidence: f32,
        language: &str,
        memory: &CustomerMemory,
    ) -> Option<super::ActionReply> {
        let stage = self.actions.as_ref()?;
        if inbound.escalation.is_some()
            || inbound.injection.is_some()
            || inbound.blocked_topic.is_some()
        {
            return None;
        }
        stage
            .run(super::ActionTurn {
                turn,
                text: &inbound.working_text,
                intent,
                confidence,
                language,
                memory,
                model: self.model.as_ref(),
            })
            .await
    }

    async fn recall(&self, turn: &Turn) -> CustomerMemory {
        let Some(store) = &self.store else {
            return CustomerMemory::default();
        };
        match store
            .customer_memory(&turn.organization_id, &turn.customer_record_id)
            .await
        {
            Ok(memory) => memory,
            Err(e) => {
                tracing::warn!(error = %e, "memory recall failed; answering without memory");
                CustomerMemory::default()
            }
        }
    }

    async fn intent(&self, turn: &Turn, inbound: &Inbound) -> (String, f32) {
        if let Some(label) = smalltalk::classify(&inbound.working_text) {
            return (label.into(), 0.95);
        }
        let text = inbound.working_text.trim();
        if let (Some(detector), false) = (&self.intents, text.is_empty()) {
            match detector.detect(&turn.organization_id, text).await {
                Ok(prediction) => return (prediction.label, prediction.confidence),
                Err(e) => tracing::warn!(error = %e, "intent detection failed"),
            }
        }
        (crate::intent::OTHER.into(), 0.0)
    }

    #[allow(clippy::too_many_arguments)]
    async fn route(
        &self,
        turn: &Turn,
        inbound: &Inbound,
        intent: &str,
        confidence: f32,
        language: &str,
        memory: &CustomerMemory,
        new_facts: &[NewFact],
        sink: &EventSink,
    ) -> Draft {
        let p = phrases(language);
        if inbound.escalation.is_some() {
            return Draft::canned(p.handoff);
        }
        if inbound.injection.is_some() && content_stems(&inbound.working_text).is_empty() {
            return Draft::canned(p.injection_decline);
        }
        if let Some(topic) = &inbound.blocked_topic {
            return Draft::canned(p.blocked_topic.replace("{topic}", topic));
        }
        // The rules recognise small talk on their own; the classifier's small-talk label is
        // trusted only for very short messages that ask nothing ("hi there, is my order
        // shipped?" must reach retrieval).
        let ruled = smalltalk::classify(&inbound.working_text).is_some();
        let short = inbound.working_text.split_whitespace().count() <= 4
            && !inbound.working_text.contains('?');
        if SMALL_TALK.contains(&intent) && (ruled || (confidence >= SMALL_TALK_CONFIDENCE && short))
        {
            return small_talk(intent, turn, language, memory);
        }
        if let Some(question) = memory::answer::classify(&inbound.working_text) {
            return memory_answer(question, memory, language);
        }

        // Knowledge: rewrite follow-ups, retrieve, answer.
        let rewritten = rewrite(&inbound.working_text, &turn.history);
        let passages = self.retrieve(turn, &rewritten.query).await;
        let mut draft = None;
        let mut fell_back = false;
        if let (Some(model), false) = (&self.model, passages.is_empty()) {
            match self
                .model_answer(
                    model.as_ref(),
                    turn,
                    &inbound.working_text,
                    &passages,
                    language,
                    memory,
                    sink,
                )
                .await
            {
                ModelOutcome::Answered(d) => draft = Some(d),
                ModelOutcome::Failed | ModelOutcome::Ungrounded => fell_back = true,
            }
        }
        let mut draft = match draft {
            Some(d) => d,
            None => {
                self.offline_answer(turn, &rewritten.query, &passages, language, memory)
                    .await
            }
        };
        if fell_back {
            draft.flags.push("model_fallback".into());
        }
        // The customer told us something (name, order number) but asked nothing we can
        // answer: acknowledge it instead of a bare "I don't know".
        if !draft.answered {
            if let Some(ack) = acknowledgement(new_facts, language) {
                let asks = inbound.working_text.contains('?')
                    || new_facts.iter().any(|f| f.key == "open_issue");
                draft.text = if asks {
                    format!("{ack} {}", draft.text)
                } else {
                    format!("{ack} {}", p.anything_else)
                };
                draft.answered = !asks;
            }
        }
        draft
    }

    async fn retrieve(&self, turn: &Turn, query: &str) -> Vec<ScoredPassage> {
        let Some(retriever) = &self.retriever else {
            return Vec::new();
        };
        let request = SearchRequest {
            query: query.to_string(),
            top_k: TOP_K,
            filter: SearchFilter::default(),
            mode: SearchMode::Hybrid,
        };
        match retriever.search(&turn.organization_id, &request).await {
            Ok(passages) => {
                super::recorder::note_retrieval(&passages);
                passages
            }
            Err(e) => {
                tracing::warn!(error = %e, "retrieval failed; answering without knowledge");
                Vec::new()
            }
        }
    }

    async fn remember(
        &self,
        turn: &Turn,
        new_facts: &[NewFact],
        memory: &CustomerMemory,
        intent: &str,
    ) {
        let Some(store) = &self.store else {
            return;
        };
        let org = &turn.organization_id;
        let customer = &turn.customer_record_id;
        if !new_facts.is_empty() {
            let origin = FactOrigin {
                conversation: Some(&turn.conversation_id),
                channel: Some(turn.channel),
            };
            if let Err(e) = store.upsert_facts(org, customer, new_facts, origin).await {
                tracing::warn!(error = %e, "storing learned facts failed");
            }
        }
        let mut intents: Vec<String> = turn
            .history
            .iter()
            .filter(|m| m.role == Role::Customer)
            .filter_map(|m| m.intent.clone())
            .collect();
        intents.push(intent.to_string());
        let mut issues: Vec<String> = memory
            .facts
            .iter()
            .filter(|f| {
                f.key == "open_issue"
                    && f.source_conversation_id.as_ref() == Some(&turn.conversation_id)
            })
            .map(|f| f.value.clone())
            .collect();
        issues.extend(memory::summary::open_issues(new_facts));
        if let Some(summary) = memory::summary::summarize(&intents, &issues) {
            if let Err(e) = store
                .upsert_summary(
                    org,
                    customer,
                    &turn.conversation_id,
                    turn.channel,
                    &summary,
                    &intents,
                )
                .await
            {
                tracing::warn!(error = %e, "storing the conversation summary failed");
            }
        }
    }
}

/// Facts from the customer's message: payment data and national ids are removed first (never
/// remembered), and an injection attempt contributes only its legitimate sentences.
fn extract_facts(message: &str, injection_found: bool) -> Vec<NewFact> {
    let safe = pii::redact(
        message,
        &[PiiKind::Card, PiiKind::Iban, PiiKind::NationalId],
    )
    .text;
    let text = if injection_found {
        injection::detect(&safe)
            .map(|f| f.legitimate_part)
            .unwrap_or(safe)
    } else {
        safe
    };
    memory::extract::extract(&text)
}
