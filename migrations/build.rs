//! Rebuilds the crate when a migration file is added or changed, so `sqlx::migrate!` embeds the
//! current set.

fn main() {
    println!("cargo:rerun-if-changed=sqlite");
    println!("cargo:rerun-if-changed=postgres");
}
