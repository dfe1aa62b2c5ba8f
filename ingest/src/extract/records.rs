//! Record formats: FAQ pairs and product rows. Each record becomes one chunk whose text holds
//! every field as a `field: value` line (so a keyword search for a SKU or a colour finds it) and
//! whose original fields are kept as metadata.

use engine::error::{Error, Result};
use serde_json::{Map, Value};

use super::{Body, Extracted, Record};
use crate::normalize::normalize;

/// Field names that name a product, in order of preference, for the record's heading.
const NAME_FIELDS: &[&str] = &["name", "title", "product", "product_name", "sku", "id"];

/// One FAQ pair as a record.
pub fn faq_record(question: &str, answer: &str) -> Record {
    let question = normalize(question);
    let answer = normalize(answer);
    Record {
        text: format!("{question}\n{answer}"),
        metadata: serde_json::json!({"question": question, "answer": answer}),
        heading: question,
    }
}

/// A product row (JSON object of scalar fields) as a record; `position` names rows without a
/// name field.
pub fn product_record(fields: &Map<String, Value>, position: usize) -> Option<Record> {
    let mut lines = Vec::new();
    for (key, value) in fields {
        let value = match value {
            Value::Null => continue,
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lines.push(format!("{key}: {value}"));
    }
    if lines.is_empty() {
        return None;
    }
    let heading = NAME_FIELDS
        .iter()
        .find_map(|name| {
            fields.iter().find_map(|(k, v)| {
                (k.eq_ignore_ascii_case(name)).then(|| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
            })
        })
        .unwrap_or_else(|| format!("Row {}", position + 1));
    Some(Record {
        heading: normalize(&heading),
        text: normalize(&lines.join("\n")),
        metadata: Value::Object(fields.clone()),
    })
}

/// Product rows from CSV with a header line.
pub fn csv_rows(bytes: &[u8]) -> Result<Vec<Record>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::unprocessable(format!("the CSV header line is unreadable ({e})")))?
        .clone();
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row
            .map_err(|e| Error::unprocessable(format!("CSV row {} is unreadable ({e})", i + 2)))?;
        let fields: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .filter(|(h, _)| !h.is_empty())
            .map(|(h, v)| (h.to_owned(), Value::String(v.to_owned())))
            .collect();
        records.extend(product_record(&fields, i));
    }
    Ok(records)
}

/// A JSON document: `[{"question","answer"}, ...]` or `{"faqs": [...]}` are FAQ pairs; any other
/// array of objects (or `{"products": [...]}`) is product rows; `{"title", "text"}` is text.
pub fn json_document(bytes: &[u8]) -> Result<Extracted> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::unprocessable(format!("the JSON is invalid ({e})")))?;
    if let Some(text) = value.get("text").and_then(Value::as_str) {
        return Ok(Extracted {
            title: value
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body: Body::Plain(normalize(text)),
        });
    }
    let rows = match &value {
        Value::Array(rows) => rows.clone(),
        Value::Object(map) => ["faqs", "products", "rows", "items"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array).cloned())
            .ok_or_else(|| {
                Error::unprocessable(
                    "the JSON must be an array of rows, {\"faqs\": [...]}, {\"products\": [...]} \
                     or {\"title\", \"text\"}",
                )
            })?,
        _ => return Err(Error::unprocessable("the JSON holds no rows")),
    };
    Ok(Extracted {
        title: None,
        body: Body::Records(json_rows(&rows)?),
    })
}

/// Records from JSON rows: FAQ pairs when a row has `question` and `answer`, products otherwise.
pub fn json_rows(rows: &[Value]) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(fields) = row else {
            return Err(Error::unprocessable(format!(
                "row {} is not a JSON object",
                i + 1
            )));
        };
        let question = fields.get("question").and_then(Value::as_str);
        let answer = fields.get("answer").and_then(Value::as_str);
        match (question, answer) {
            (Some(q), Some(a)) if !q.trim().is_empty() && !a.trim().is_empty() => {
                records.push(faq_record(q, a))
            }
            (Some(_), _) | (_, Some(_)) => {
                return Err(Error::unprocessable(format!(
                    "FAQ entry {} needs a non-empty question and answer",
                    i + 1
                )))
            }
            _ => records.extend(product_record(fields, i)),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_searchable_records_with_metadata() {
        let csv = b"sku,name,colour,price\nSN-1, Trail Runner ,red,89.90\nSN-2,City Walker,,59\n";
        let records = csv_rows(csv).expect("csv");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].heading, "Trail Runner");
        assert_eq!(
            records[0].text,
            "sku: SN-1\nname: Trail Runner\ncolour: red\nprice: 89.90"
        );
        assert_eq!(records[0].metadata["price"], "89.90");
        assert!(
            !records[1].text.contains("colour"),
            "empty fields are skipped"
        );
    }

    #[test]
    fn faq_json_in_both_shapes_gives_one_record_per_pair() {
        let array = br#"[{"question":"Do you ship to Norway?","answer":"Yes, in 5 days."}]"#;
        let wrapped =
            br#"{"faqs":[{"question":"Do you ship to Norway?","answer":"Yes, in 5 days."}]}"#;
        for bytes in [&array[..], &wrapped[..]] {
            let out = json_document(bytes).expect("json");
            let Body::Records(records) = out.body else {
                panic!("records")
            };
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].heading, "Do you ship to Norway?");
            assert_eq!(records[0].text, "Do you ship to Norway?\nYes, in 5 days.");
        }
    }

    #[test]
    fn a_faq_entry_without_an_answer_is_refused() {
        let err = json_document(br#"[{"question":"Hi?","answer":" "}]"#).expect_err("bad");
        assert!(err.message().contains("FAQ entry 1"), "{err:?}");
    }
}
