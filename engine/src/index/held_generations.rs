//! Which document generations a keyword index holds, and how that differs from the live ones.
//!
//! A process keeps its keyword index current through its own writes. Another replica's writes
//! (a document ingested, refreshed or deleted there) reach it only through the database, whose
//! `active_generation` of each document every search reads anyway (retrieval's visibility rule,
//! [`crate::retrieval::ActiveGenerations`]). Comparing those with the generations the index
//! holds is a few map lookups per search and finds exactly what another process changed:
//!
//! - a live generation the index does not hold was indexed elsewhere: it is loaded (see
//!   [`super::keyword::KeywordIndex::catch_up`]);
//! - a held document the database no longer lists was deleted elsewhere, and a held generation
//!   older than the live one was replaced elsewhere: both are dropped. Retrieval never returns
//!   them anyway, but they would take candidate places from live chunks and hold memory.
//!
//! A generation newer than the live one is kept: this process (or another) is indexing it,
//! and it becomes visible when its ingestion switches the document to it.

use std::collections::{BTreeSet, HashMap};

use crate::ids::DocumentId;

/// The generations of each document an organization's keyword index holds chunks of (or knows
/// to be empty).
#[derive(Debug, Default)]
pub(crate) struct HeldGenerations {
    by_document: HashMap<DocumentId, BTreeSet<i64>>,
}

/// What separates an index from the live generations.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Drift {
    /// Live (document, generation) pairs the index does not hold.
    pub missing: Vec<(DocumentId, i64)>,
    /// Whether the index holds a deleted document or a replaced generation.
    pub superseded: bool,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && !self.superseded
    }
}

/// Whether a chunk of `document` at `generation` is of a deleted document or a replaced
/// generation, given the live generations.
pub(crate) fn is_superseded(
    live: &HashMap<DocumentId, i64>,
    document: &DocumentId,
    generation: i64,
) -> bool {
    match live.get(document) {
        None => true,
        Some(&active) => generation < active,
    }
}

impl HeldGenerations {
    /// Records that the index holds (some of) `generation` of `document`.
    pub fn note(&mut self, document: &DocumentId, generation: i64) {
        if let Some(held) = self.by_document.get_mut(document) {
            held.insert(generation);
        } else {
            self.by_document
                .insert(document.clone(), BTreeSet::from([generation]));
        }
    }

    pub fn forget_document(&mut self, document: &DocumentId) {
        self.by_document.remove(document);
    }

    /// Forgets every generation of `document` but `keep`.
    pub fn keep_only(&mut self, document: &DocumentId, keep: i64) {
        if let Some(held) = self.by_document.get_mut(document) {
            held.retain(|g| *g == keep);
            if held.is_empty() {
                self.by_document.remove(document);
            }
        }
    }

    /// Forgets deleted documents and replaced generations.
    pub fn drop_superseded(&mut self, live: &HashMap<DocumentId, i64>) {
        self.by_document.retain(|document, held| {
            held.retain(|g| !is_superseded(live, document, *g));
            !held.is_empty()
        });
    }

    /// How the held generations differ from `live` (document id -> active generation, `0` for
    /// a document whose first generation is still being indexed).
    pub fn drift(&self, live: &HashMap<DocumentId, i64>) -> Drift {
        let missing = live
            .iter()
            .filter(|(document, generation)| {
                **generation > 0
                    && !self
                        .by_document
                        .get(*document)
                        .is_some_and(|held| held.contains(generation))
            })
            .map(|(document, generation)| (document.clone(), *generation))
            .collect();
        let superseded = self.by_document.iter().any(|(document, held)| {
            held.iter()
                .any(|generation| is_superseded(live, document, *generation))
        });
        Drift {
            missing,
            superseded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(pairs: &[(&DocumentId, i64)]) -> HashMap<DocumentId, i64> {
        pairs.iter().map(|(d, g)| ((*d).clone(), *g)).collect()
    }

    #[test]
    fn an_index_holding_the_live_generations_has_no_drift() {
        let (a, b) = (DocumentId::new(), DocumentId::new());
        let mut held = HeldGenerations::default();
        held.note(&a, 1);
        held.note(&b, 3);
        // A generation being indexed (newer than the live one) is not drift either.
        held.note(&b, 4);
        assert!(held.drift(&live(&[(&a, 1), (&b, 3)])).is_empty());
    }

    #[test]
    fn a_generation_indexed_elsewhere_is_missing_but_a_pending_first_one_is_not() {
        let (a, b, pending) = (DocumentId::new(), DocumentId::new(), DocumentId::new());
        let mut held = HeldGenerations::default();
        held.note(&a, 1);
        let drift = held.drift(&live(&[(&a, 2), (&b, 1), (&pending, 0)]));
        let mut missing = drift.missing.clone();
        missing.sort();
        let mut expected = vec![(a.clone(), 2), (b.clone(), 1)];
        expected.sort();
        assert_eq!(missing, expected);
        assert!(drift.superseded, "generation 1 of `a` was replaced");
    }

    #[test]
    fn a_document_deleted_elsewhere_is_superseded_and_dropped() {
        let (kept, deleted) = (DocumentId::new(), DocumentId::new());
        let mut held = HeldGenerations::default();
        held.note(&kept, 2);
        held.note(&kept, 1);
        held.note(&deleted, 1);
        let now = live(&[(&kept, 2)]);
        assert_eq!(
            held.drift(&now),
            Drift {
                missing: vec![],
                superseded: true
            }
        );
        held.drop_superseded(&now);
        assert!(held.drift(&now).is_empty());
        // Dropped means missing again should it come back.
        assert_eq!(
            held.drift(&live(&[(&kept, 2), (&deleted, 1)]))
                .missing
                .len(),
            1
        );
    }

    #[test]
    fn forgetting_follows_local_deletes_and_generation_switches() {
        let doc = DocumentId::new();
        let mut held = HeldGenerations::default();
        held.note(&doc, 1);
        held.note(&doc, 2);
        held.keep_only(&doc, 2);
        assert!(held.drift(&live(&[(&doc, 2)])).is_empty());
        held.forget_document(&doc);
        assert_eq!(held.drift(&live(&[(&doc, 2)])).missing, vec![(doc, 2)]);
    }
}
