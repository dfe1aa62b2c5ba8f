//! `blaigent user create|list --org ORG`: dashboard team members. The first owner of an
//! organization is created here; later members can be invited from the dashboard's Team page.
//!
//! The password is read from standard input with `--password-stdin` (first line, for
//! scripts: `printf '%s\n' "$PW" | blaigent user create ... --password-stdin`), else prompted
//! for twice on the terminal without echo. It is never accepted as an argument (arguments are
//! visible to other users of the machine and end up in shell history).

use std::io::BufRead;

use anyhow::{bail, Context};
use clap::Subcommand;
use engine::ids::OrganizationId;
use engine::service::users;
use engine::store::users::Role;
use engine::store::Store;
use serde_json::json;

use super::print_json;
use crate::wire::opt_timestamp;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a team member who can sign in to the dashboard.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin or agent.
        #[arg(long, default_value = "owner")]
        role: String,
        /// Display name [default: the e-mail address].
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List an organization's team members.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            org,
            email,
            role,
            name,
            password_stdin,
            json,
        } => {
            let org = OrganizationId::parse(&org)?;
            let role = Role::parse(&role)?;
            let password = if password_stdin {
                read_stdin_password()?
            } else {
                prompt_password()?
            };
            let user = users::create_user(store, &org, &email, &name, role, &password)
                .await
                .context("creating the team member")?;
            if json {
                print_json(&json!({
                    "id": user.id,
                    "organization_id": user.organization_id,
                    "email": user.email,
                    "role": user.role,
                }))?;
            } else {
                println!(
                    "created {} ({}) in {}: sign in at /dashboard/login",
                    user.email,
                    user.role.as_str(),
                    user.organization_id
                );
            }
        }
        UserCommand::List { org, json } => {
            let org = OrganizationId::parse(&org)?;
            let team = store.users(&org).await?;
            if json {
                print_json(&serde_json::to_value(&team)?)?;
            } else {
                for u in team {
                    println!(
                        "{}\t{}\t{}\t{}\tlast sign-in {}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        if u.active { "active" } else { "invited" },
                        opt_timestamp(u.last_login_at).unwrap_or_else(|| "never".into())
                    );
                }
            }
        }
    }
    Ok(())
}

fn read_stdin_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

fn prompt_password() -> anyhow::Result<String> {
    let first = rpassword::prompt_password("Password: ")
        .context("reading the password (use --password-stdin when not on a terminal)")?;
    let second = rpassword::prompt_password("Repeat the password: ")
        .context("reading the password again")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
