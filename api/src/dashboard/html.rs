//! HTML building blocks: escaping (every value that reaches a page goes through [`esc`]), the
//! page layout with its navigation (only the pages the viewer's role may open), and small
//! formatting helpers.

use axum::response::Html;
use engine::store::users::Role;

use super::session::Viewer;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM UTC` in a `<time>` element.
pub fn time(ms: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let iso = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "<time datetime=\"{}\">{:04}-{:02}-{:02} {:02}:{:02} UTC</time>",
        esc(&iso),
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// Formats an optional timestamp, `—` when absent.
pub fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_owned(), time)
}

/// The navigation: path, key, label, least role.
pub const NAV: &[(&str, &str, &str, Role)] = &[
    ("/dashboard", "overview", "Overview", Role::Admin),
    ("/dashboard/inbox", "inbox", "Inbox", Role::Agent),
    (
        "/dashboard/conversations",
        "conversations",
        "Conversations",
        Role::Agent,
    ),
    (
        "/dashboard/knowledge",
        "knowledge",
        "Knowledge",
        Role::Admin,
    ),
    ("/dashboard/agent", "agent", "Agent", Role::Admin),
    ("/dashboard/actions", "actions", "Actions", Role::Admin),
    ("/dashboard/webhooks", "webhooks", "Webhooks", Role::Admin),
    ("/dashboard/channels", "channels", "Channels", Role::Admin),
    ("/dashboard/widget", "widget", "Widget", Role::Admin),
    ("/dashboard/api-keys", "api-keys", "API keys", Role::Owner),
    ("/dashboard/team", "team", "Team", Role::Owner),
    ("/dashboard/audit", "audit", "Audit log", Role::Owner),
];

/// A full dashboard page for a signed-in viewer.
pub fn layout(viewer: &Viewer, active: &str, title: &str, body: &str) -> Html<String> {
    let mut nav = String::new();
    for (href, key, label, role) in NAV {
        if viewer.user.role < *role {
            continue;
        }
        let current = if *key == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        nav.push_str(&format!("<li><a href=\"{href}\"{current}>{label}</a></li>"));
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"csrf-token\" content=\"{csrf}\">\
<title>{title} · Blaigent</title>\
<link rel=\"stylesheet\" href=\"/dashboard/assets/dashboard.css\">\
<script src=\"/dashboard/assets/dashboard.js\" defer></script></head>\
<body data-org=\"{org}\"><a class=\"skip\" href=\"#main\">Skip to content</a>\
<header class=\"top\"><a class=\"brand\" href=\"/dashboard\">Blaigent</a>\
<span class=\"who\">{email} · <span class=\"role\">{role}</span></span>\
<form method=\"post\" action=\"/dashboard/logout\" class=\"inline\">\
<input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\"><button type=\"submit\">Sign out</button></form>\
</header><nav aria-label=\"Dashboard\"><ul>{nav}</ul></nav>\
<main id=\"main\" tabindex=\"-1\">{body}</main>\
<div id=\"toast\" role=\"status\" aria-live=\"polite\"></div></body></html>",
        csrf = esc(&viewer.csrf),
        title = esc(title),
        org = esc(viewer.user.organization_id.as_str()),
        email = esc(&viewer.user.email),
        role = viewer.user.role.as_str(),
    ))
}

/// A page without navigation (sign-in, errors).
pub fn bare_page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · Blaigent</title><link rel=\"stylesheet\" href=\"/dashboard/assets/dashboard.css\">\
</head><body class=\"bare\"><main id=\"main\" class=\"card narrow\">{body}</main></body></html>",
        esc(title)
    ))
}

/// A hidden CSRF field for a server-handled form.
pub fn csrf_field(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"_csrf\" value=\"{}\">",
        esc(&viewer.csrf)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc("<img src=x onerror=\"a('b')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn times_are_utc_minutes() {
        assert!(time(0).contains("1970-01-01 00:00 UTC"));
    }
}
