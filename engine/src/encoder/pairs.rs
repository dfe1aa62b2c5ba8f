//! Training pairs for in-batch negatives: every example is an anchor paired with another
//! example of its intent; a batch holds at most one pair per intent, so the other pairs'
//! positives are true negatives for each anchor.

use std::collections::BTreeMap;

use crate::intent::train::SplitMix;

/// An anchor and a positive (indices into the example list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub label: usize,
    pub anchor: usize,
    pub positive: usize,
}

/// `rounds` passes over the examples of every label with at least two examples, each anchor
/// paired with a different example of its label; shuffled, then cut at `max_pairs`.
pub fn make_pairs(labels: &[&str], rounds: usize, max_pairs: usize, seed: u64) -> Vec<Pair> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        by_label.entry(label).or_default().push(i);
    }
    let mut rng = SplitMix::new(seed);
    let mut pairs = Vec::new();
    for _ in 0..rounds {
        for (label_index, members) in by_label.values().enumerate() {
            if members.len() < 2 {
                continue;
            }
            for (position, &anchor) in members.iter().enumerate() {
                // A uniform choice among the other members.
                let mut other = rng.below(members.len() - 1);
                if other >= position {
                    other += 1;
                }
                pairs.push(Pair {
                    label: label_index,
                    anchor,
                    positive: members[other],
                });
            }
        }
    }
    rng.shuffle(&mut pairs);
    pairs.truncate(max_pairs);
    pairs
}

/// Groups `pairs` into batches of at most `size` with no label twice in a batch, keeping the
/// shuffled order as far as that allows. Every pair lands in exactly one batch.
pub fn distinct_label_batches(pairs: &[Pair], size: usize) -> Vec<Vec<Pair>> {
    let size = size.max(2);
    let mut batches = Vec::new();
    let mut pending: Vec<Pair> = pairs.to_vec();
    while !pending.is_empty() {
        let mut deferred = Vec::new();
        let mut current: Vec<Pair> = Vec::with_capacity(size);
        for pair in pending {
            if current.len() == size || current.iter().any(|p| p.label == pair.label) {
                deferred.push(pair);
                continue;
            }
            current.push(pair);
            if current.len() == size {
                batches.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            batches.push(current);
        }
        pending = deferred;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<&'static str> {
        let mut out = Vec::new();
        for label in ["a", "b", "c", "d", "e"] {
            out.extend(std::iter::repeat_n(label, 4));
        }
        out.push("lonely");
        out
    }

    #[test]
    fn every_pair_joins_two_different_examples_of_one_label() {
        let labels = labels();
        let pairs = make_pairs(&labels, 3, usize::MAX, 7);
        // 5 labels x 4 anchors x 3 rounds; the single-example label has no pair.
        assert_eq!(pairs.len(), 60);
        for p in &pairs {
            assert_ne!(p.anchor, p.positive);
            assert_eq!(labels[p.anchor], labels[p.positive]);
            assert_ne!(labels[p.anchor], "lonely");
        }
        assert_eq!(make_pairs(&labels, 3, 10, 7).len(), 10);
        assert_ne!(make_pairs(&labels, 1, 99, 7), make_pairs(&labels, 1, 99, 8));
    }

    #[test]
    fn batches_never_repeat_a_label_and_keep_every_pair() {
        let labels = labels();
        let pairs = make_pairs(&labels, 3, usize::MAX, 1);
        let batches = distinct_label_batches(&pairs, 4);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), pairs.len());
        for batch in &batches {
            assert!(batch.len() <= 4);
            let mut seen: Vec<usize> = batch.iter().map(|p| p.label).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), batch.len(), "a label twice in {batch:?}");
        }
    }
}
