//! Loaders for the labelled data sets the suites read: the public benchmarks under
//! `evaldata/` (BANKING77, BANKING77-OOS, CLINC150, Bitext, the lingua sentences) and the
//! user's own `text,label` files (CSV with a header, or a JSON array of objects or pairs).
//!
//! Every loader returns rows in file order so that seeded sampling gives the same subsets on
//! every machine.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The label CLINC150 and BANKING77-OOS give to out-of-scope utterances.
pub const OOS_LABEL: &str = "oos";

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub text: String,
    pub label: String,
}

impl Labelled {
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            label: label.into(),
        }
    }
}

/// Train, validation and test rows of one benchmark. Out-of-scope rows carry [`OOS_LABEL`].
#[derive(Debug, Clone, Default)]
pub struct Splits {
    pub name: String,
    pub train: Vec<Labelled>,
    pub validation: Vec<Labelled>,
    pub test: Vec<Labelled>,
}

/// Where the public data sets live: `--data-dir`, else `BLAIGENT_EVALDATA`, else
/// `../shared/evaldata` beside the workspace.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("BLAIGENT_EVALDATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("evaldata")
}

/// Reads a user file of `text,label` rows: `.json` (array of `{"text","label"}` objects or of
/// `[text, label]` pairs), otherwise CSV with a header naming `text` and `label` (or
/// `category`/`intent`).
pub fn load_labelled_file(path: &Path) -> Result<Vec<Labelled>> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let raw =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return parse_json_rows(&raw).with_context(|| format!("parsing {}", path.display()));
    }
    load_csv(
        path,
        &["text", "utterance"],
        &["label", "category", "intent"],
    )
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonRow {
    Object { text: String, label: String },
    Pair(String, String),
}

fn parse_json_rows(raw: &str) -> Result<Vec<Labelled>> {
    let rows: Vec<JsonRow> = serde_json::from_str(raw)?;
    Ok(rows
        .into_iter()
        .map(|row| match row {
            JsonRow::Object { text, label } | JsonRow::Pair(text, label) => {
                Labelled { text, label }
            }
        })
        .collect())
}

/// Reads a CSV with a header; the text and label columns are the first header names found
/// among `text_columns` and `label_columns` (case-insensitive, a BOM is ignored).
fn load_csv(path: &Path, text_columns: &[&str], label_columns: &[&str]) -> Result<Vec<Labelled>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| headers.iter().position(|h| h == name))
    };
    let (Some(text_at), Some(label_at)) = (find(text_columns), find(label_columns)) else {
        bail!(
            "{} needs a header with a text column ({}) and a label column ({})",
            path.display(),
            text_columns.join("/"),
            label_columns.join("/")
        );
    };
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} row {}", path.display(), line + 2))?;
        let (Some(text), Some(label)) = (record.get(text_at), record.get(label_at)) else {
            bail!("{} row {} has too few columns", path.display(), line + 2);
        };
        rows.push(Labelled::new(text.trim(), label.trim()));
    }
    Ok(rows)
}

/// BANKING77 (77 intents, 10,003 train / 3,080 test). It has no validation split: the suites
/// hold out part of train when they need one.
pub fn banking77(dir: &Path) -> Result<Splits> {
    let base = dir.join("banking77");
    Ok(Splits {
        name: "banking77".into(),
        train: load_csv(&base.join("train.csv"), &["text"], &["category"])?,
        validation: Vec::new(),
        test: load_csv(&base.join("test.csv"), &["text"], &["category"])?,
    })
}

fn seq_label(base: &Path, prefix: &str, relabel_oos: bool) -> Result<Vec<Labelled>> {
    let read = |suffix: &str| -> Result<Vec<String>> {
        let path = base.join(format!("{prefix}{suffix}"));
        let raw = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(raw.lines().map(|l| l.trim().to_string()).collect())
    };
    let texts = read("seq.in")?;
    let labels = read("label")?;
    if texts.len() != labels.len() {
        bail!("{prefix}seq.in and {prefix}label differ in length");
    }
    Ok(texts
        .into_iter()
        .zip(labels)
        .filter(|(t, _)| !t.is_empty())
        .map(|(text, label)| {
            let label = if relabel_oos {
                OOS_LABEL.to_string()
            } else {
                label
            };
            Labelled { text, label }
        })
        .collect())
}

/// BANKING77-OOS: 50 in-scope intents plus in-domain and out-of-domain out-of-scope rows
/// (validation and test only; all relabelled [`OOS_LABEL`]).
pub fn banking77_oos(dir: &Path) -> Result<Splits> {
    let base = dir.join("banking77_oos");
    let mut validation = seq_label(&base, "valid_", false)?;
    validation.extend(seq_label(&base, "id-oos_valid_", true)?);
    validation.extend(seq_label(&base, "ood-oos_valid_", true)?);
    let mut test = seq_label(&base, "test_", false)?;
    test.extend(seq_label(&base, "id-oos_test_", true)?);
    test.extend(seq_label(&base, "ood-oos_test_", true)?);
    Ok(Splits {
        name: "banking77-oos".into(),
        train: seq_label(&base, "train_", false)?,
        validation,
        test,
    })
}

/// CLINC150 (`data_full.json`): 150 intents; the `oos_*` splits are appended to their split
/// with the label [`OOS_LABEL`]. The 100 `oos_train` rows are kept out of train: the shipped
/// detector learns from in-scope examples only, as an organization's would.
pub fn clinc150(dir: &Path) -> Result<Splits> {
    let path = dir.join("clinc150").join("data_full.json");
    let raw =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut all: std::collections::HashMap<String, Vec<(String, String)>> =
        serde_json::from_str(&raw).with_context(|| format!("parsing {}", path.display()))?;
    let mut take = |key: &str| -> Result<Vec<Labelled>> {
        let rows = all
            .remove(key)
            .with_context(|| format!("{} has no '{key}' split", path.display()))?;
        Ok(rows
            .into_iter()
            .map(|(text, label)| Labelled { text, label })
            .collect())
    };
    let train = take("train")?;
    let mut validation = take("val")?;
    validation.extend(take("oos_val")?);
    let mut test = take("test")?;
    test.extend(take("oos_test")?);
    Ok(Splits {
        name: "clinc150".into(),
        train,
        validation,
        test,
    })
}

/// Bitext customer-service sample (27 intents, about 300 rows each), CDLA-Sharing-1.0.
/// Returned as one list in file order; callers split it.
pub fn bitext(dir: &Path) -> Result<Vec<Labelled>> {
    load_csv(
        &dir.join("bitext").join("bitext_cs_8k.csv"),
        &["utterance"],
        &["intent"],
    )
}

/// One line of the lingua test data: ISO 639-1 code, kind (`sentences`, `word-pairs`,
/// `single-words`) and text.
#[derive(Debug, Clone)]
pub struct LanguageSample {
    pub code: String,
    pub kind: String,
    pub text: String,
}

/// The lingua test sentences, word pairs and single words of 14 languages.
pub fn lingua_samples(dir: &Path) -> Result<Vec<LanguageSample>> {
    let path = dir.join("langid").join("lingua_testdata_subset.tsv");
    let raw =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut samples = Vec::new();
    for line in raw.lines().skip(1) {
        let mut parts = line.splitn(3, '\t');
        if let (Some(code), Some(kind), Some(text)) = (parts.next(), parts.next(), parts.next()) {
            samples.push(LanguageSample {
                code: code.to_string(),
                kind: kind.to_string(),
                text: text.to_string(),
            });
        }
    }
    Ok(samples)
}

/// Labels in first-seen order, without duplicates.
pub fn labels_of(rows: &[Labelled]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    rows.iter()
        .filter(|r| seen.insert(r.label.as_str()))
        .map(|r| r.label.clone())
        .collect()
}

/// How the Bitext intents map onto the shipped default intents
/// (`engine/src/intent/default_intents.tsv`).
pub const BITEXT_TO_DEFAULT: [(&str, &str); 27] = [
    ("track_order", "order_tracking"),
    ("get_refund", "refund_request"),
    ("track_refund", "refund_request"),
    ("check_refund_policy", "refund_request"),
    ("cancel_order", "cancel_order"),
    ("change_order", "change_order"),
    ("change_shipping_address", "shipping_address"),
    ("set_up_shipping_address", "shipping_address"),
    ("delivery_options", "shipping"),
    ("delivery_period", "shipping"),
    ("check_payment_methods", "payment_methods"),
    ("check_invoice", "billing"),
    ("get_invoice", "billing"),
    ("check_cancellation_fee", "billing"),
    ("payment_issue", "payment_issue"),
    ("recover_password", "account_access"),
    ("registration_problems", "account_access"),
    ("create_account", "account_management"),
    ("delete_account", "account_management"),
    ("edit_account", "account_management"),
    ("switch_account", "account_management"),
    ("complaint", "complaint"),
    ("review", "feedback"),
    ("contact_customer_service", "human_handoff"),
    ("contact_human_agent", "human_handoff"),
    ("newsletter_subscription", "newsletter"),
    ("place_order", "place_order"),
];

/// Bitext split by position within each intent: even positions are the pool the default set
/// drew examples from (train), odd positions are never used for training (test).
pub fn bitext_splits(dir: &Path) -> Result<Splits> {
    let rows = bitext(dir)?;
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut splits = Splits {
        name: "bitext".into(),
        ..Splits::default()
    };
    for row in rows {
        let n = seen.entry(row.label.clone()).or_default();
        if (*n).is_multiple_of(2) {
            splits.train.push(row);
        } else {
            splits.test.push(row);
        }
        *n += 1;
    }
    Ok(splits)
}

/// The shipped default intent set as train, and the held-out Bitext rows relabelled to the
/// default intents as test.
pub fn bitext_defaults(dir: &Path) -> Result<Splits> {
    let held_out = bitext_splits(dir)?.test;
    let map: std::collections::HashMap<&str, &str> = BITEXT_TO_DEFAULT.into_iter().collect();
    let test = held_out
        .into_iter()
        .filter_map(|row| {
            map.get(row.label.as_str())
                .map(|label| Labelled::new(row.text, *label))
        })
        .collect();
    let train = engine::intent::defaults::default_examples()
        .iter()
        .map(|e| Labelled::new(e.text.clone(), e.label.clone()))
        .collect();
    Ok(Splits {
        name: "bitext-defaults".into(),
        train,
        validation: Vec::new(),
        test,
    })
}

/// Loads a built-in benchmark by name.
pub fn dataset(name: &str, dir: &Path) -> Result<Splits> {
    match name {
        "banking77" => banking77(dir),
        "banking77-oos" => banking77_oos(dir),
        "clinc150" => clinc150(dir),
        "bitext" => bitext_splits(dir),
        "bitext-defaults" => bitext_defaults(dir),
        other => bail!(
            "unknown dataset '{other}' (banking77, banking77-oos, clinc150, bitext, bitext-defaults)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_accept_objects_and_pairs() {
        let rows =
            parse_json_rows(r#"[{"text":"hi","label":"greeting"},["bye","goodbye"]]"#).unwrap();
        assert_eq!(
            rows,
            vec![
                Labelled::new("hi", "greeting"),
                Labelled::new("bye", "goodbye")
            ]
        );
    }

    #[test]
    fn csv_columns_are_found_by_header_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(
            &path,
            "\u{feff}id,Label,text\n1,thanks,\"thank you, really\"\n",
        )
        .unwrap();
        let rows = load_labelled_file(&path).unwrap();
        assert_eq!(rows, vec![Labelled::new("thank you, really", "thanks")]);
    }
}
