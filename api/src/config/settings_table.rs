//! The `[settings]` table of the configuration file: any setting that is otherwise read from
//! a `BLAIGENT_*` environment variable, named in lowercase without the prefix
//! (`webhook_timeout = "10s"` is `BLAIGENT_WEBHOOK_TIMEOUT`). The environment wins over the
//! file, so a deployment keeps its shared settings in the file and its secrets and
//! per-machine values in the environment.
//!
//! The loader asks for settings by variable name ([`SettingsTable::get`]) and the table
//! remembers what was asked. A key nobody asked for is refused at the end
//! ([`SettingsTable::check_all_used`]): a misspelt key, or one of the few settings that are
//! read from the environment only, must not be ignored in silence.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::bail;

/// The prefix every environment variable of the server carries.
const PREFIX: &str = "BLAIGENT_";

/// `[settings]` of one file, by environment variable name.
#[derive(Debug, Default)]
pub struct SettingsTable {
    values: HashMap<String, String>,
    asked: RefCell<BTreeSet<String>>,
    file: PathBuf,
}

impl SettingsTable {
    /// Reads the table of `file` (absent: an empty table).
    pub fn new(
        table: Option<HashMap<String, toml::Value>>,
        file: &Path,
    ) -> anyhow::Result<SettingsTable> {
        let mut values = HashMap::new();
        for (key, value) in table.unwrap_or_default() {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!(
                    "{}: [settings] key '{key}' must be lowercase letters, digits and _",
                    file.display()
                );
            }
            let text = as_text(&value).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: [settings] {key} must be a string, a number, a boolean or a list of them",
                    file.display()
                )
            })?;
            values.insert(format!("{PREFIX}{}", key.to_ascii_uppercase()), text);
        }
        Ok(SettingsTable {
            values,
            asked: RefCell::default(),
            file: file.to_path_buf(),
        })
    }

    /// The file's value of environment variable `name`, if it sets one.
    pub fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_owned());
        self.values.get(name).cloned()
    }

    /// Fails naming every key of the table that the loader never asked for.
    pub fn check_all_used(&self) -> anyhow::Result<()> {
        let asked = self.asked.borrow();
        let mut unused: Vec<String> = self
            .values
            .keys()
            .filter(|name| !asked.contains(*name))
            .map(|name| name[PREFIX.len()..].to_ascii_lowercase())
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        unused.sort();
        bail!(
            "{}: [settings] {} cannot be set in the file (misspelt, or read from the \
             environment only: see the configuration reference)",
            self.file.display(),
            unused.join(", ")
        )
    }
}

/// The environment-variable spelling of a TOML value: lists become comma-separated.
fn as_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) => None,
                other => as_text(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> SettingsTable {
        let parsed: HashMap<String, toml::Value> = toml::from_str(text).unwrap();
        SettingsTable::new(Some(parsed), Path::new("blaigent.toml")).unwrap()
    }

    #[test]
    fn keys_become_variable_names_and_lists_become_commas() {
        let t = table("webhook_timeout = \"10s\"\nmax_inflight = 64\nwebhook_retry_schedule = [\"1s\", \"5s\"]\ndemo = false");
        assert_eq!(t.get("BLAIGENT_WEBHOOK_TIMEOUT").as_deref(), Some("10s"));
        assert_eq!(t.get("BLAIGENT_MAX_INFLIGHT").as_deref(), Some("64"));
        assert_eq!(
            t.get("BLAIGENT_WEBHOOK_RETRY_SCHEDULE").as_deref(),
            Some("1s,5s")
        );
        assert_eq!(t.get("BLAIGENT_DEMO").as_deref(), Some("false"));
        assert_eq!(t.get("BLAIGENT_OTHER"), None);
        t.check_all_used().unwrap();
    }

    #[test]
    fn a_key_nobody_reads_is_refused_by_name() {
        let t = table("webhook_timeout = \"10s\"\nllm_timeout_secs = 5\nwebhok_poll = 1");
        assert!(t.get("BLAIGENT_WEBHOOK_TIMEOUT").is_some());
        let err = t.check_all_used().unwrap_err().to_string();
        assert!(err.contains("llm_timeout_secs, webhok_poll"), "{err}");
        assert!(!err.contains("webhook_timeout"), "{err}");
    }

    #[test]
    fn keys_and_values_of_the_wrong_shape_are_refused() {
        let parsed: HashMap<String, toml::Value> = toml::from_str("Timeout = 1").unwrap();
        let err = SettingsTable::new(Some(parsed), Path::new("f.toml")).unwrap_err();
        assert!(err.to_string().contains("Timeout"), "{err}");
        let parsed: HashMap<String, toml::Value> = toml::from_str("[nested]\na = 1").unwrap();
        let err = SettingsTable::new(Some(parsed), Path::new("f.toml")).unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
    }
}
