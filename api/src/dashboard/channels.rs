//! The Channels page: the organization's provider accounts (Twilio, Meta WhatsApp, Meta
//! Instagram, Mailgun) with the inbound URLs to paste into each provider's console, and a form
//! to connect one. Filled by the page's script from `GET /api/v1/dashboard/channels` (the
//! channels capability's own API); credentials are write-only there, so they never reach
//! this page.

use axum::response::IntoResponse;
use engine::store::users::Role;

use super::html;
use super::session::{PageResult, Viewer};

/// `GET /dashboard/channels`.
pub async fn page(viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    let body = "<h1>Channels</h1><p>Connect WhatsApp, SMS and voice (Twilio), Instagram (Meta) and e-mail \
(Mailgun). Paste the inbound URLs shown into the provider's console.</p>\
<noscript><p class=\"error\">This page needs JavaScript to list channels.</p></noscript>\
<div class=\"table\"><table data-load=\"/api/v1/dashboard/channels\" data-items=\"items\" \
data-cols=\"provider:Provider,name:Name,address:Address,enabled:Enabled,credentials_set:Credentials set,inbound_urls:Inbound URLs\"></table></div>\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/channels\" data-then=\"none\" data-done=\"Channel connected.\">\
<h2>Connect a channel</h2>\
<label>Provider <select name=\"provider\"><option>twilio</option><option>meta_whatsapp</option>\
<option>meta_instagram</option><option>mailgun</option></select></label>\
<label>Name <input name=\"name\"></label>\
<label>Address (phone number, page id or inbound e-mail) <input name=\"address\" required></label>\
<label>Credentials (JSON, write-only) <textarea name=\"credentials\" data-type=\"json\" placeholder='{\"auth_token\": \"...\"}'></textarea></label>\
<label>Settings (JSON) <textarea name=\"settings\" data-type=\"json\" placeholder='{\"account_id\": \"AC...\"}'></textarea></label>\
<button type=\"submit\" class=\"primary\">Connect</button></form>";
    Ok(html::layout(&viewer, "channels", "Channels", body).into_response())
}
