//! `blaigent key create|list|revoke|rotate --org ORG`.

use clap::Subcommand;
use engine::ids::{ApiKeyId, OrganizationId};
use engine::service::keys;
use engine::store::Store;
use serde_json::json;

use super::print_json;
use crate::config::Config;
use crate::wire::{opt_timestamp, timestamp};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a new key (the secret is shown once).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "default")]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key immediately.
    Revoke {
        #[arg(long)]
        org: String,
        #[arg(long)]
        key: String,
    },
    /// Issue a replacement; the old key keeps working for the grace period.
    Rotate {
        #[arg(long)]
        org: String,
        #[arg(long)]
        key: String,
        /// Grace period in seconds [default: BLAIGENT_KEY_ROTATION_GRACE_SECS].
        #[arg(long)]
        grace_secs: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &Store, config: &Config, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create { org, name, json } => {
            let org = existing_org(store, &org).await?;
            let issued = keys::create_key(store, &org, &name).await?;
            print_issued(&issued, json)?;
        }
        KeyCommand::List { org, json } => {
            let org = existing_org(store, &org).await?;
            let all = keys::list_keys(store, &org).await?;
            if json {
                print_json(&serde_json::to_value(&all)?)?;
            } else {
                for k in all {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(at), _) => format!("revoked {}", timestamp(at)),
                        (None, Some(at)) => format!("expires {}", timestamp(at)),
                        (None, None) => "active".to_owned(),
                    };
                    let used = opt_timestamp(k.last_used_at).unwrap_or_else(|| "never".into());
                    println!(
                        "{}\t{}…\t{}\t{}\tlast used {}",
                        k.id, k.prefix, k.name, state, used
                    );
                }
            }
        }
        KeyCommand::Revoke { org, key } => {
            let org = existing_org(store, &org).await?;
            let key = ApiKeyId::parse(&key)?;
            keys::revoke_key(store, &org, &key).await?;
            println!("revoked {key}");
        }
        KeyCommand::Rotate {
            org,
            key,
            grace_secs,
            json,
        } => {
            let org = existing_org(store, &org).await?;
            let key = ApiKeyId::parse(&key)?;
            let grace = grace_secs.unwrap_or(config.key_rotation_grace_secs);
            let issued = keys::rotate_key(store, &org, &key, grace).await?;
            print_issued(&issued, json)?;
            if !json {
                println!("(the old key {key} keeps working for {grace} s)");
            }
        }
    }
    Ok(())
}

async fn existing_org(store: &Store, raw: &str) -> anyhow::Result<OrganizationId> {
    let id = OrganizationId::parse(raw)?;
    store
        .organization(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organization {id}"))?;
    Ok(id)
}

fn print_issued(issued: &keys::IssuedKey, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&json!({
            "api_key_id": issued.key.id,
            "api_key": issued.secret,
            "prefix": issued.key.prefix,
            "name": issued.key.name,
        }))
    } else {
        println!("api_key_id: {}", issued.key.id);
        println!("api_key:    {}", issued.secret);
        println!("(the API key is shown only once; store it now)");
        Ok(())
    }
}
