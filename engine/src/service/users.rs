//! Dashboard team members: password hashing (argon2id), sign-in, sessions, invitations and
//! role changes. The dashboard's HTTP layer and the `blaigent user` command call these.
//!
//! - Passwords are hashed with argon2id at the `argon2` crate's defaults (19 MiB, 2 passes,
//!   1 lane: the OWASP baseline) with a random salt, stored as a PHC string.
//! - Sign-in with an unknown e-mail still runs one verification against a fixed hash, so the
//!   response time does not tell which addresses have accounts.
//! - Session and invitation secrets are 256-bit random tokens; only their SHA-256 is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, ResultExt};
use crate::ids::{OrganizationId, UserId};
use crate::store::users::{NewUser, Role, SessionRecord, User};
use crate::store::{now_ms, Store};

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask a little more).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: bounds the hashing work an attacker can ask for.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// How long an invitation link stays valid.
pub const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Hashes a password with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing the password failed: {e}")))
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash verified when the e-mail is unknown, so both paths cost the same.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never used").unwrap_or_default())
}

/// Returns 64 hex characters of OS randomness.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Returns the hex SHA-256 of a session or invitation token, the form it is stored in.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Lowercases and checks an e-mail address (one `@`, something on each side, no spaces).
pub fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(Error::unprocessable("email: must be an e-mail address"))
    }
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::unprocessable(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Error::unprocessable(format!(
            "password: must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Runs argon2 on the blocking pool: it takes tens of milliseconds of CPU on purpose.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .or_internal("the password hashing task failed")
}

/// Creates a team member with a password (the command line's `blaigent user create`).
#[tracing::instrument(skip_all, fields(org = %org, role = role.as_str()))]
pub async fn create_user(
    store: &Store,
    org: &OrganizationId,
    email: &str,
    display_name: &str,
    role: Role,
    password: &str,
) -> Result<User> {
    let email = normalize_email(email)?;
    validate_password(password)?;
    if store.organization(org).await?.is_none() {
        return Err(Error::not_found(format!(
            "organization {org} does not exist"
        )));
    }
    let password = password.to_owned();
    let hash = blocking(move || hash_password(&password)).await??;
    let display_name = display_name.trim();
    store
        .insert_user(&NewUser {
            id: UserId::new(),
            organization_id: org.clone(),
            display_name: if display_name.is_empty() {
                email.clone()
            } else {
                display_name.to_owned()
            },
            email,
            role,
            password_hash: Some(hash),
            invite_hash: None,
            invite_expires_at: None,
        })
        .await
}

/// Checks an e-mail and password; the same "wrong e-mail or password" error for every
/// failure so callers cannot probe for accounts.
#[tracing::instrument(skip_all)]
pub async fn verify_credentials(store: &Store, email: &str, password: &str) -> Result<User> {
    let refused = || Error::unauthorized("wrong e-mail or password");
    let email = email.trim().to_lowercase();
    let found = store.user_credentials_by_email(&email).await?;
    let phc = found
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password = password.to_owned();
    let matches = blocking(move || verify_password(&password, &phc)).await?;
    match found {
        Some(creds) if matches && creds.password_hash.is_some() => {
            if creds.user.disabled_at.is_some() {
                return Err(refused());
            }
            store.touch_user_login(&creds.user.id).await?;
            Ok(creds.user)
        }
        _ => Err(refused()),
    }
}

/// A session just opened: the cookie secret (shown to the browser once) and its CSRF token.
#[derive(Clone)]
pub struct OpenedSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for OpenedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Opens a session for `user` lasting `ttl_ms`.
pub async fn open_session(store: &Store, user: &User, ttl_ms: i64) -> Result<OpenedSession> {
    let token = random_token();
    let csrf_token = random_token();
    let expires_at = now_ms() + ttl_ms;
    store
        .insert_session(&hash_token(&token), user, &csrf_token, expires_at)
        .await?;
    Ok(OpenedSession {
        token,
        csrf_token,
        expires_at,
    })
}

/// Resolves a cookie's token to a live session, sliding its expiry forward at most once a
/// minute. Unknown, expired and disabled-user sessions are None.
pub async fn resolve_session(
    store: &Store,
    token: &str,
    ttl_ms: i64,
) -> Result<Option<SessionRecord>> {
    let hash = hash_token(token);
    let Some(mut session) = store.session(&hash).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if session.expires_at <= now || session.user.disabled_at.is_some() {
        store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - session.last_seen_at > 60_000 {
        session.expires_at = now + ttl_ms;
        store.extend_session(&hash, session.expires_at).await?;
    }
    Ok(Some(session))
}

/// Ends the session behind `token` (sign-out).
pub async fn close_session(store: &Store, token: &str) -> Result<()> {
    store.delete_session(&hash_token(token)).await
}

/// Invites a team member: stores the user without a password and returns the invitation
/// token (the link is shown once to the inviting owner).
#[tracing::instrument(skip_all, fields(org = %org, role = role.as_str()))]
pub async fn invite_user(
    store: &Store,
    org: &OrganizationId,
    email: &str,
    display_name: &str,
    role: Role,
) -> Result<(User, String)> {
    let email = normalize_email(email)?;
    let token = random_token();
    let display_name = display_name.trim();
    let user = store
        .insert_user(&NewUser {
            id: UserId::new(),
            organization_id: org.clone(),
            display_name: if display_name.is_empty() {
                email.clone()
            } else {
                display_name.to_owned()
            },
            email,
            role,
            password_hash: None,
            invite_hash: Some(hash_token(&token)),
            invite_expires_at: Some(now_ms() + INVITE_TTL_MS),
        })
        .await?;
    Ok((user, token))
}

/// Returns the user a live invitation token belongs to.
pub async fn invited_user(store: &Store, token: &str) -> Result<User> {
    let user = store
        .user_by_invite_hash(&hash_token(token))
        .await?
        .ok_or_else(|| Error::not_found("this invitation link is not valid"))?;
    if user.invite_expires_at.is_some_and(|at| at <= now_ms()) {
        return Err(Error::not_found("this invitation link has expired"));
    }
    Ok(user)
}

/// Accepts an invitation: sets the password and returns the now active user.
pub async fn accept_invite(store: &Store, token: &str, password: &str) -> Result<User> {
    validate_password(password)?;
    let mut user = invited_user(store, token).await?;
    let password = password.to_owned();
    let hash = blocking(move || hash_password(&password)).await??;
    store.set_user_password(&user.id, &hash).await?;
    user.active = true;
    Ok(user)
}

/// Changes a member's role; the last active owner cannot be demoted.
pub async fn change_role(
    store: &Store,
    org: &OrganizationId,
    id: &UserId,
    role: Role,
) -> Result<User> {
    let mut user = store
        .user(org, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("team member {id} not found")))?;
    if user.role == Role::Owner
        && role != Role::Owner
        && user.active
        && store.count_active_owners(org).await? <= 1
    {
        return Err(Error::conflict(
            "the organization's last owner cannot be demoted; make someone else owner first",
        ));
    }
    store.set_user_role(org, id, role).await?;
    store.delete_user_sessions(id).await?;
    user.role = role;
    Ok(user)
}

/// Removes a member; the last active owner cannot be removed.
pub async fn remove_user(store: &Store, org: &OrganizationId, id: &UserId) -> Result<()> {
    let user = store
        .user(org, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("team member {id} not found")))?;
    if user.role == Role::Owner && user.active && store.count_active_owners(org).await? <= 1 {
        return Err(Error::conflict(
            "the organization's last owner cannot be removed",
        ));
    }
    store.delete_user(org, id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterz", &phc));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email(" Ann@Shop.Example ").unwrap(),
            "ann@shop.example"
        );
        assert!(normalize_email("ann").is_err());
        assert!(normalize_email("ann@shop").is_err());
        assert!(normalize_email("a nn@shop.example").is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
    }
}
