//! Extractive conversation summaries (offline): the conversation's intents, most frequent
//! first, and the open issues the customer raised, in one short line such as
//! "Asked about refund request, shipping. Open issue: order 4411 hasn't arrived."

use super::NewFact;

/// Intents that say nothing about what the conversation was about.
fn is_small_talk(intent: &str) -> bool {
    matches!(
        intent,
        "greeting" | "thanks" | "goodbye" | "other" | "unanswered" | ""
    )
}

/// Builds the summary line from a conversation's intents (oldest first) and open issues.
/// Returns `None` when there is nothing worth remembering.
pub fn summarize(intents: &[String], open_issues: &[String]) -> Option<String> {
    let mut topics: Vec<&str> = Vec::new();
    for intent in intents.iter().rev() {
        if !is_small_talk(intent) && !topics.contains(&intent.as_str()) {
            topics.push(intent);
        }
    }
    topics.truncate(4);
    let mut parts = Vec::new();
    if !topics.is_empty() {
        let readable: Vec<String> = topics.iter().map(|t| t.replace('_', " ")).collect();
        parts.push(format!("Asked about {}.", readable.join(", ")));
    }
    if let Some(issue) = open_issues.last() {
        let issue: String = issue.chars().take(160).collect();
        let issue = issue.trim_end_matches(['.', '!', '?']);
        parts.push(format!("Open issue: {issue}."));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The open issues among freshly extracted facts.
pub fn open_issues(facts: &[NewFact]) -> Vec<String> {
    facts
        .iter()
        .filter(|f| f.key == "open_issue")
        .map(|f| f.value.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_lists_recent_topics_and_the_last_open_issue() {
        let intents = vec![
            "greeting".to_string(),
            "order_tracking".to_string(),
            "refund_request".to_string(),
            "order_tracking".to_string(),
            "thanks".to_string(),
        ];
        let summary = summarize(&intents, &["My order 4411 hasn't arrived!".into()]).unwrap();
        assert_eq!(
            summary,
            "Asked about order tracking, refund request. Open issue: My order 4411 hasn't arrived."
        );
    }

    #[test]
    fn small_talk_alone_is_not_summarised() {
        assert_eq!(summarize(&["greeting".into(), "thanks".into()], &[]), None);
    }
}
