//! What the store's unit tests share: a migrated SQLite store in a temporary folder, and an
//! organization in it.

use super::orgs::{NewOrganization, Plan};
use super::Store;
use crate::ids::OrganizationId;

/// A migrated store on a new SQLite file; keep the folder alive as long as the store.
pub(crate) async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .expect("the store opens");
    store.migrate().await.expect("the migrations run");
    (store, dir)
}

/// A new organization on the growth plan.
pub(crate) async fn organization(store: &Store) -> OrganizationId {
    store
        .insert_organization(&NewOrganization {
            name: "Shop".into(),
            plan: Plan::Growth,
            rate_limit_per_min: None,
            monthly_conversation_quota: None,
        })
        .await
        .expect("the organization is stored")
        .id
}
