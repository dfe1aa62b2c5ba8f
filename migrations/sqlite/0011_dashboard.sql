-- Dashboard: team members who sign in with e-mail and password, their sessions, and the audit
-- log of configuration changes. Timestamps are unix milliseconds (BIGINT).

create table users (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    -- Lowercased; one account per address across the installation, so sign-in needs no
    -- organization.
    email text not null unique,
    display_name text not null,
    -- owner | admin | agent
    role text not null,
    -- argon2id PHC string; null while an invitation has not been accepted.
    password_hash text,
    -- SHA-256 of the invitation token; null once accepted.
    invite_hash text unique,
    invite_expires_at bigint,
    disabled_at bigint,
    last_login_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index users_org on users (organization_id, created_at);

create table dashboard_sessions (
    -- SHA-256 of the cookie's secret: a stolen database cannot be replayed as a cookie.
    id text primary key,
    user_id text not null references users (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    -- The synchronizer token every state-changing request must echo.
    csrf_token text not null,
    expires_at bigint not null,
    last_seen_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index dashboard_sessions_user on dashboard_sessions (user_id);

create table audit_log (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    -- Who: a team member's e-mail, or 'api key key_...'.
    actor text not null,
    -- What: a short verb phrase such as 'PATCH /api/v1/dashboard/agent-config'.
    action text not null,
    -- The request path (resource ids included).
    target text not null,
    -- JSON object with details (changed field names, never secrets).
    detail text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index audit_log_org on audit_log (organization_id, created_at);
