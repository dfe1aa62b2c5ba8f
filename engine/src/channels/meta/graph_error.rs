//! Graph API error responses: what failed, and whether sending again later can help.
//!
//! A failed Graph call answers with
//! `{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`.
//! The numeric `code` is recorded on the outbound message; it also decides the retry:
//! throttling (`4`, `17`, `32`, `613`, `80007`, WhatsApp `130429`, `131048`, `131056`),
//! temporary platform failures (`1`, `2`, WhatsApp `131000`, `131016`) and any HTTP 5xx are
//! transient; everything else (a bad token `190`, a closed 24-hour window `131047`, an invalid
//! recipient `131026`, a malformed parameter `100`, ...) is permanent and retrying only repeats
//! the failure.

use serde_json::Value;

/// A Graph API failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// The numeric error code as text (`"131047"`), or `http_<status>` when the body had none.
    pub code: String,
    pub subcode: Option<i64>,
    /// The provider's message with its details, for the operator (never shown to customers).
    pub message: String,
    /// Whether a later retry can succeed.
    pub transient: bool,
}

const TRANSIENT_CODES: [i64; 12] = [
    1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048, 131056,
];

/// Reads the error of a failed Graph call from its HTTP status and body.
pub fn parse_error(status: u16, body: &[u8]) -> GraphError {
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let code = error
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    let subcode = error
        .as_ref()
        .and_then(|e| e.get("error_subcode"))
        .and_then(Value::as_i64);
    let text = |key: &str| {
        error
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let details = error
        .as_ref()
        .and_then(|e| e.pointer("/error_data/details"))
        .and_then(Value::as_str);
    let mut message = text("message").unwrap_or_else(|| format!("HTTP {status}"));
    if let Some(details) = details {
        message = format!("{message} ({details})");
    }
    let transient =
        status >= 500 || status == 429 || code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
    GraphError {
        code: code.map_or_else(|| format!("http_{status}"), |c| c.to_string()),
        subcode,
        message,
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_customer_service_window_is_a_permanent_error_with_its_code() {
        // The shape of WhatsApp's error for a message sent more than 24 hours after the
        // customer's last message.
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException",
            "code":131047,"error_data":{"messaging_product":"whatsapp",
            "details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
            "fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let e = parse_error(400, body);
        assert_eq!(e.code, "131047");
        assert!(!e.transient);
        assert!(e
            .message
            .starts_with("(#131047) Re-engagement message (Message failed"));
    }

    #[test]
    fn throttling_and_outages_are_transient() {
        let throttled = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"x"}}"#;
        assert!(parse_error(400, throttled).transient);
        let app_limit = br#"{"error":{"message":"Application request limit reached","type":"OAuthException","code":4,"error_subcode":1349193}}"#;
        let e = parse_error(400, app_limit);
        assert!(e.transient);
        assert_eq!(e.subcode, Some(1_349_193));
        let outage = parse_error(503, b"<html>Service Unavailable</html>");
        assert!(outage.transient);
        assert_eq!(outage.code, "http_503");
        assert_eq!(outage.message, "HTTP 503");
    }

    #[test]
    fn a_bad_token_is_permanent() {
        let body = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"x"}}"#;
        let e = parse_error(401, body);
        assert_eq!((e.code.as_str(), e.transient), ("190", false));
    }
}
