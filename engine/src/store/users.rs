//! Dashboard team members, their sign-in sessions and the configuration audit log, as stored.
//!
//! Passwords are argon2id PHC strings (hashing lives in [`crate::service::users`]); sessions
//! and invitations are stored as the SHA-256 of their secret, so a copy of the database cannot
//! be replayed as a cookie or an invitation link.

use serde::Serialize;

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::{AuditEntryId, OrganizationId, UserId};

/// What a team member may do in the dashboard and, with a session cookie, in the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The inbox and conversations only.
    Agent,
    /// Everything an agent does, plus configuration, knowledge, actions, webhooks, channels
    /// and the widget.
    Admin,
    /// Everything, including API keys, the team and the audit log.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses `owner`, `admin` or `agent`.
    pub fn parse(raw: &str) -> Result<Role> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            _ => Err(Error::unprocessable(
                "role: must be one of owner, admin, agent",
            )),
        }
    }
}

/// A team member as listed (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// False while an invitation has not been accepted.
    pub active: bool,
    pub disabled_at: Option<i64>,
    pub last_login_at: Option<i64>,
    pub invite_expires_at: Option<i64>,
    pub created_at: i64,
}

/// A user row with its credentials, for sign-in only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    organization_id: String,
    email: String,
    display_name: String,
    role: String,
    password_hash: Option<String>,
    invite_expires_at: Option<i64>,
    disabled_at: Option<i64>,
    last_login_at: Option<i64>,
    created_at: i64,
}

impl UserRow {
    fn into_credentials(self) -> UserCredentials {
        // A role we cannot parse (a manual edit) gets the least rights, never more.
        let role = Role::parse(&self.role).unwrap_or(Role::Agent);
        UserCredentials {
            user: User {
                id: UserId::from_trusted(self.id),
                organization_id: OrganizationId::from_trusted(self.organization_id),
                email: self.email,
                display_name: self.display_name,
                role,
                active: self.password_hash.is_some(),
                disabled_at: self.disabled_at,
                last_login_at: self.last_login_at,
                invite_expires_at: self.invite_expires_at,
                created_at: self.created_at,
            },
            password_hash: self.password_hash,
        }
    }
}

const USER_COLUMNS: &str = "id, organization_id, email, display_name, role, password_hash, \
                            invite_expires_at, disabled_at, last_login_at, created_at";

/// A user about to be stored: with a password hash (created by an owner on the command line)
/// or an invitation hash (invited from the dashboard).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub invite_hash: Option<String>,
    pub invite_expires_at: Option<i64>,
}

/// A signed-in session: who, which organization, and the CSRF token it must echo.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
    pub last_seen_at: i64,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf_token: String,
    expires_at: i64,
    last_seen_at: i64,
    id: String,
    organization_id: String,
    email: String,
    display_name: String,
    role: String,
    password_hash: Option<String>,
    invite_expires_at: Option<i64>,
    disabled_at: Option<i64>,
    last_login_at: Option<i64>,
    created_at: i64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    created_at: i64,
}

impl Store {
    /// Stores a new team member. A duplicate e-mail is a conflict.
    pub async fn insert_user(&self, new: &NewUser) -> Result<User> {
        let now = now_ms();
        sqlx::query(
            "insert into users (id, organization_id, email, display_name, role, password_hash, \
             invite_hash, invite_expires_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(new.id.as_str())
        .bind(new.organization_id.as_str())
        .bind(&new.email)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(new.password_hash.as_deref())
        .bind(new.invite_hash.as_deref())
        .bind(new.invite_expires_at)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| match Error::from(e) {
            err if matches!(err.kind(), crate::error::ErrorKind::Conflict) => Error::conflict(
                format!("a team member with the e-mail {} already exists", new.email),
            ),
            err => err,
        })?;
        Ok(User {
            id: new.id.clone(),
            organization_id: new.organization_id.clone(),
            email: new.email.clone(),
            display_name: new.display_name.clone(),
            role: new.role,
            active: new.password_hash.is_some(),
            disabled_at: None,
            last_login_at: None,
            invite_expires_at: new.invite_expires_at,
            created_at: now,
        })
    }

    /// Finds a user by (lowercased) e-mail, with the password hash.
    pub async fn user_credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users where email = $1"
        ))
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(UserRow::into_credentials))
    }

    /// Finds a pending invitation by the hash of its token.
    pub async fn user_by_invite_hash(&self, invite_hash: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users where invite_hash = $1"
        ))
        .bind(invite_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.into_credentials().user))
    }

    /// Sets a user's password and clears any invitation.
    pub async fn set_user_password(&self, id: &UserId, password_hash: &str) -> Result<()> {
        sqlx::query(
            "update users set password_hash = $1, invite_hash = null, invite_expires_at = null, \
             updated_at = $2 where id = $3",
        )
        .bind(password_hash)
        .bind(now_ms())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lists an organization's team, oldest first.
    pub async fn users(&self, org: &OrganizationId) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users where organization_id = $1 order by created_at, id"
        ))
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_credentials().user)
            .collect())
    }

    /// One user of `org`, or None (another organization's user looks missing).
    pub async fn user(&self, org: &OrganizationId, id: &UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users where organization_id = $1 and id = $2"
        ))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.into_credentials().user))
    }

    /// Counts the organization's active, enabled owners.
    pub async fn count_active_owners(&self, org: &OrganizationId) -> Result<i64> {
        let n: i64 = sqlx::query_scalar(
            "select cast(count(*) as bigint) from users where organization_id = $1 \
             and role = 'owner' and disabled_at is null and password_hash is not null",
        )
        .bind(org.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Changes a user's role.
    pub async fn set_user_role(&self, org: &OrganizationId, id: &UserId, role: Role) -> Result<()> {
        sqlx::query(
            "update users set role = $1, updated_at = $2 where organization_id = $3 and id = $4",
        )
        .bind(role.as_str())
        .bind(now_ms())
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a user (and, by cascade, their sessions).
    pub async fn delete_user(&self, org: &OrganizationId, id: &UserId) -> Result<bool> {
        let done = sqlx::query("delete from users where organization_id = $1 and id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a successful sign-in.
    pub async fn touch_user_login(&self, id: &UserId) -> Result<()> {
        let now = now_ms();
        sqlx::query("update users set last_login_at = $1, updated_at = $1 where id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores a session under the hash of its secret.
    pub async fn insert_session(
        &self,
        session_hash: &str,
        user: &User,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into dashboard_sessions (id, user_id, organization_id, csrf_token, \
             expires_at, last_seen_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $6, $6)",
        )
        .bind(session_hash)
        .bind(user.id.as_str())
        .bind(user.organization_id.as_str())
        .bind(csrf_token)
        .bind(expires_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Loads a session and its user, or None when unknown.
    pub async fn session(&self, session_hash: &str) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "select s.csrf_token, s.expires_at, s.last_seen_at, u.id, u.organization_id, \
             u.email, u.display_name, u.role, u.password_hash, u.invite_expires_at, \
             u.disabled_at, u.last_login_at, u.created_at \
             from dashboard_sessions s join users u on u.id = s.user_id where s.id = $1",
        )
        .bind(session_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            let user = UserRow {
                id: r.id,
                organization_id: r.organization_id,
                email: r.email,
                display_name: r.display_name,
                role: r.role,
                password_hash: r.password_hash,
                invite_expires_at: r.invite_expires_at,
                disabled_at: r.disabled_at,
                last_login_at: r.last_login_at,
                created_at: r.created_at,
            }
            .into_credentials()
            .user;
            SessionRecord {
                user,
                csrf_token: r.csrf_token,
                expires_at: r.expires_at,
                last_seen_at: r.last_seen_at,
            }
        }))
    }

    /// Slides a session's expiry forward.
    pub async fn extend_session(&self, session_hash: &str, expires_at: i64) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "update dashboard_sessions set expires_at = $1, last_seen_at = $2, updated_at = $2 \
             where id = $3",
        )
        .bind(expires_at)
        .bind(now)
        .bind(session_hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, session_hash: &str) -> Result<()> {
        sqlx::query("delete from dashboard_sessions where id = $1")
            .bind(session_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user (role change, removal, password change).
    pub async fn delete_user_sessions(&self, id: &UserId) -> Result<()> {
        sqlx::query("delete from dashboard_sessions where user_id = $1")
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Appends an audit log entry.
    pub async fn insert_audit(
        &self,
        org: &OrganizationId,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditEntryId> {
        let id = AuditEntryId::new();
        let now = now_ms();
        sqlx::query(
            "insert into audit_log (id, organization_id, actor, action, target, detail, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// The newest `limit` audit entries of `org`, newest first.
    pub async fn audit_entries(&self, org: &OrganizationId, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "select id, actor, action, target, detail, created_at from audit_log \
             where organization_id = $1 order by created_at desc, id desc limit $2",
        )
        .bind(org.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: AuditEntryId::from_trusted(r.id),
                actor: r.actor,
                action: r.action,
                target: r.target,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                created_at: r.created_at,
            })
            .collect())
    }
}
