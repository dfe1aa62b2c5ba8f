//! Reciprocal-rank fusion: merges ranked lists by summing `1 / (k + rank)` per item, so an item
//! ranked well by both the vector and the keyword side beats one ranked first by only one,
//! without having to calibrate cosine similarities against BM25 scores.

use std::collections::HashMap;
use std::hash::Hash;

/// The constant of the original RRF paper (Cormack et al., 2009); it damps the weight of the
/// very first ranks. (The retriever's default, 20, was tuned on stackfaq; see `RetrievalConfig`.)
pub const DEFAULT_K: f32 = 60.0;

/// Fuses ranked lists of keys (best first) into one list of `(key, fused score)`, best first.
/// Ties keep the order in which keys were first seen.
pub fn reciprocal_rank_fusion<K: Eq + Hash + Clone>(lists: &[Vec<K>], k: f32) -> Vec<(K, f32)> {
    let weighted: Vec<(&[K], f32)> = lists.iter().map(|l| (l.as_slice(), 1.0)).collect();
    weighted_reciprocal_rank_fusion(&weighted, k)
}

/// Like [`reciprocal_rank_fusion`], each list's contribution multiplied by its weight
/// (`w / (k + rank)`): a weaker ranker can break ties without overruling a stronger one.
pub fn weighted_reciprocal_rank_fusion<K: Eq + Hash + Clone>(
    lists: &[(&[K], f32)],
    k: f32,
) -> Vec<(K, f32)> {
    let mut scores: HashMap<K, (f32, usize)> = HashMap::new();
    let mut order = 0;
    for (list, weight) in lists {
        for (rank, key) in list.iter().enumerate() {
            let entry = scores.entry(key.clone()).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            entry.0 += weight / (k + rank as f32 + 1.0);
        }
    }
    let mut fused: Vec<(K, f32, usize)> = scores.into_iter().map(|(k, (s, o))| (k, s, o)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused.into_iter().map(|(k, s, _)| (k, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_ranked_well_by_both_lists_beats_a_single_first_place() {
        let vector = vec!["a", "b", "c"];
        let keyword = vec!["d", "b", "a"];
        let fused = reciprocal_rank_fusion(&[vector, keyword], DEFAULT_K);
        let keys: Vec<_> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["a", "b", "d", "c"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
    }

    #[test]
    fn a_lighter_list_only_breaks_ties() {
        let vector = ["a", "b"];
        let keyword = ["b", "a"];
        let fused =
            weighted_reciprocal_rank_fusion(&[(&vector[..], 1.0), (&keyword[..], 0.5)], DEFAULT_K);
        assert_eq!(fused[0].0, "a");
    }

    #[test]
    fn a_single_list_keeps_its_order() {
        let fused = reciprocal_rank_fusion(&[vec![3, 1, 2]], DEFAULT_K);
        let keys: Vec<_> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![3, 1, 2]);
    }
}
