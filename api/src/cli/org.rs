//! `blaigent org create|list`.

use clap::Subcommand;
use engine::service::orgs;
use engine::store::orgs::NewOrganization;
use engine::store::Store;
use serde_json::json;

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its first API key (the key is shown once).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// free, starter, growth, scale or enterprise.
        #[arg(long, default_value = "starter")]
        plan: String,
        /// Requests per minute, overriding the plan's limit.
        #[arg(long)]
        rate_limit_per_min: Option<i64>,
        /// New conversations per calendar month, overriding the plan's quota.
        #[arg(long)]
        monthly_conversation_quota: Option<i64>,
        /// Print JSON (`{"organization_id", "api_key"}`).
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: &Store, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create {
            name,
            plan,
            rate_limit_per_min,
            monthly_conversation_quota,
            json,
        } => {
            let plan = orgs::parse_plan(&plan)?;
            let created = orgs::create_org(
                store,
                NewOrganization {
                    name,
                    plan,
                    rate_limit_per_min,
                    monthly_conversation_quota,
                },
            )
            .await?;
            if json {
                print_json(&json!({
                    "organization_id": created.organization.id,
                    "api_key": created.key.secret,
                    "api_key_id": created.key.key.id,
                    "name": created.organization.name,
                    "plan": created.organization.plan,
                }))?;
            } else {
                println!("organization_id: {}", created.organization.id);
                println!("api_key:         {}", created.key.secret);
                println!("(the API key is shown only once; store it now)");
            }
        }
        OrgCommand::List { json } => {
            let all = orgs::list_orgs(store).await?;
            if json {
                print_json(&serde_json::to_value(&all)?)?;
            } else {
                for org in all {
                    println!("{}\t{}\t{}", org.id, org.plan, org.name);
                }
            }
        }
    }
    Ok(())
}
