//! Which role a JSON API request needs when it comes with a dashboard session (an API key
//! always acts with full rights on its organization).
//!
//! - `owner`: API keys (`/api/v1/dashboard/api-keys...`) and anything not listed below that
//!   is owner business (the team and audit pages check their role themselves).
//! - `agent`: the inbox and conversations (`/api/v1/platform/inbox`,
//!   `/api/v1/platform/conversations...`: reading threads, replying, taking, returning,
//!   resolving).
//! - `admin`: everything else: configuration, knowledge, intents, actions, webhooks,
//!   channels, widget, analytics, memory and the test chat. New routes fall here by default,
//!   so a route added later is never open to agents by accident.

use engine::store::users::Role;

/// Returns the least role that may call `path` with a session.
pub fn required_for_api(path: &str) -> Role {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/api/v1/dashboard/api-keys") {
        Role::Owner
    } else if under("/api/v1/platform/inbox") || under("/api/v1/platform/conversations") {
        Role::Agent
    } else {
        Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_need_an_owner_and_the_inbox_an_agent() {
        assert_eq!(required_for_api("/api/v1/dashboard/api-keys"), Role::Owner);
        assert_eq!(
            required_for_api("/api/v1/dashboard/api-keys/key_1/rotate"),
            Role::Owner
        );
        assert_eq!(required_for_api("/api/v1/platform/inbox"), Role::Agent);
        assert_eq!(
            required_for_api("/api/v1/platform/conversations/conv_1/messages"),
            Role::Agent
        );
        assert_eq!(
            required_for_api("/api/v1/dashboard/agent-config"),
            Role::Admin
        );
        assert_eq!(required_for_api("/api/v1/dashboard/api-keysx"), Role::Admin);
        assert_eq!(
            required_for_api("/api/v1/platform/analytics/summary"),
            Role::Admin
        );
    }
}
