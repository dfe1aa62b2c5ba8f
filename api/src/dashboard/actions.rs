//! The Actions page: the organization's action hooks (schemas, backend, kind), a form to add
//! one, a test call, and the execution log. The tables are filled by the page's script from
//! `GET /api/v1/dashboard/actions` and `GET /api/v1/platform/actions/executions` (the actions
//! capability's own API, so this page follows its shapes without sharing its code); the forms
//! post to the same API.

use axum::response::IntoResponse;
use engine::store::users::Role;

use super::html;
use super::session::{PageResult, Viewer};

/// `GET /dashboard/actions`.
pub async fn page(viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    let body = "<h1>Actions</h1><p>Backend calls the agent can make (order lookup, refunds, bookings). \
Secrets are write-only.</p><noscript><p class=\"error\">This page needs JavaScript to list actions.</p></noscript>\
<div class=\"table\"><table data-load=\"/api/v1/dashboard/actions\" data-items=\"actions\" \
data-cols=\"name:Name,description:Description,kind:Kind,method:Method,url:URL,parameters.properties:Parameters,requires_confirmation:Confirm\"></table></div>\
<h2>Built-in actions</h2><div class=\"table\"><table data-load=\"/api/v1/dashboard/actions\" data-items=\"builtin\" \
data-cols=\"name:Name,description:Description\"></table></div>\
<div class=\"grid\"><form class=\"stack card\" data-api=\"POST /api/v1/dashboard/actions\" data-then=\"none\" data-done=\"Action saved.\">\
<h2>Add an action</h2><label>Name (snake_case) <input name=\"name\" required pattern=\"[a-z0-9_]+\"></label>\
<label>Description <input name=\"description\" required placeholder=\"Look up the status of an order\"></label>\
<label>Backend URL <input type=\"url\" name=\"url\" required></label>\
<label>Method <select name=\"method\"><option>POST</option><option>PUT</option><option>PATCH</option></select></label>\
<label>Kind <select name=\"kind\"><option>read</option><option>write</option></select></label>\
<label>Parameters (JSON Schema) <textarea name=\"parameters\" data-type=\"json\" required>\
{\"type\": \"object\", \"properties\": {\"order_id\": {\"type\": \"string\"}}, \"required\": [\"order_id\"]}</textarea></label>\
<label><span><input type=\"checkbox\" name=\"requires_confirmation\"> Ask the customer to confirm first</span></label>\
<button type=\"submit\" class=\"primary\">Save action</button></form>\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/actions/{name}/test\" data-result=\"#test-result\" data-then=\"none\" data-done=\"Test call made.\">\
<h2>Test call</h2><label>Action name <input name=\"name\" required></label>\
<label>Parameters (JSON) <textarea name=\"parameters\" data-type=\"json\">{}</textarea></label>\
<button type=\"submit\">Call it</button><pre id=\"test-result\" hidden tabindex=\"-1\"></pre></form></div>\
<h2>Execution log</h2><div class=\"table\"><table data-load=\"/api/v1/platform/actions/executions\" data-items=\"executions\" \
data-cols=\"created_at:When,action:Action,status:Status,http_status:HTTP,latency_ms:ms,conversation_id:Conversation,error:Error\"></table></div>";
    Ok(html::layout(&viewer, "actions", "Actions", body).into_response())
}
