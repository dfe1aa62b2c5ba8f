//! The behaviour every [`VectorIndex`] must show, as one suite of async checks over
//! `Arc<dyn VectorIndex>`. The embedded index runs it in its unit tests; the server index runs it
//! when `BLAIGENT_TEST_QDRANT_URL` points at a Qdrant server.
//!
//! Every check uses fresh organization ids, so the suite can run against a shared server and
//! never collides with other data. Failures panic with a message saying what a user would have
//! seen go wrong (this module is test support; its panics are its assertions).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{IndexPoint, SearchFilter, VectorIndex};
use crate::ids::{DocumentId, OrganizationId};
use crate::knowledge::Chunk;

/// The dimension of the suite's vectors.
pub const DIMENSION: usize = 8;

/// The organization whose points [`run_all`] leaves behind so callers can check persistence.
pub fn persistent_org() -> OrganizationId {
    OrganizationId::from_trusted("org_conformancepersistence".to_owned())
}

/// A unit vector pointing mostly along `axis`, a little along `axis + 1`.
pub fn axis_vector(axis: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIMENSION];
    v[axis % DIMENSION] = 0.95;
    v[(axis + 1) % DIMENSION] = 0.31;
    crate::embed::normalize(&mut v);
    v
}

/// A chunk for the suite.
pub fn chunk(
    org: &OrganizationId,
    doc: &DocumentId,
    generation: i64,
    index: i64,
    text: &str,
    tags: &[&str],
) -> Chunk {
    Chunk {
        organization_id: org.clone(),
        document_id: doc.clone(),
        generation,
        chunk_index: index,
        text: text.to_owned(),
        title: format!("title of {text}"),
        url: Some(format!("https://shop.example/{index}")),
        heading_path: vec!["Help".to_owned(), text.to_owned()],
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        content_hash: "0".repeat(64),
    }
}

fn point(chunk: Chunk, axis: usize) -> IndexPoint {
    IndexPoint::new(chunk, axis_vector(axis))
}

/// Runs every check in turn.
pub async fn run_all(index: Arc<dyn VectorIndex>) {
    index
        .ensure_collection(DIMENSION)
        .await
        .expect("ensure_collection succeeds");
    index
        .ensure_collection(DIMENSION)
        .await
        .expect("ensure_collection is idempotent");
    index.health().await.expect("a fresh index is healthy");
    nearest_point_comes_first_with_its_payload(index.clone()).await;
    organizations_never_see_each_other(index.clone()).await;
    tag_and_document_filters_narrow_results(index.clone()).await;
    deleting_a_document_removes_all_its_points(index.clone()).await;
    other_generations_are_deleted_and_the_kept_one_stays(index.clone()).await;
    points_are_deleted_by_id(index.clone()).await;
    upserting_an_existing_id_replaces_it(index.clone()).await;
    scrolling_pages_through_an_organization(index.clone()).await;
    leave_points_for_persistence_check(index).await;
}

async fn nearest_point_comes_first_with_its_payload(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    let points = (0..4)
        .map(|i| {
            point(
                chunk(&org, &doc, 1, i, &format!("passage {i}"), &[]),
                i as usize,
            )
        })
        .collect();
    index.upsert(points).await.expect("upsert");
    let hits = index
        .search(&org, axis_vector(2), 3, &SearchFilter::default())
        .await
        .expect("search");
    assert_eq!(hits.len(), 3, "top_k bounds the number of hits");
    assert_eq!(
        hits[0].chunk.text, "passage 2",
        "the nearest point comes first"
    );
    assert!(
        (hits[0].score - 1.0).abs() < 1e-3,
        "an identical vector scores 1.0 (cosine), got {}",
        hits[0].score
    );
    assert!(hits[0].score >= hits[1].score && hits[1].score >= hits[2].score);
    let found = &hits[0].chunk;
    assert_eq!(found.organization_id, org);
    assert_eq!(found.document_id, doc);
    assert_eq!(found.generation, 1);
    assert_eq!(found.chunk_index, 2);
    assert_eq!(found.title, "title of passage 2");
    assert_eq!(found.url.as_deref(), Some("https://shop.example/2"));
    assert_eq!(found.heading_path, vec!["Help", "passage 2"]);
    assert_eq!(index.count(&org).await.expect("count"), 4);
}

async fn organizations_never_see_each_other(index: Arc<dyn VectorIndex>) {
    let (a, b) = (OrganizationId::new(), OrganizationId::new());
    let doc = DocumentId::new();
    index
        .upsert(vec![point(chunk(&a, &doc, 1, 0, "secret of a", &[]), 0)])
        .await
        .expect("upsert");
    let seen_by_b = index
        .search(&b, axis_vector(0), 10, &SearchFilter::default())
        .await
        .expect("search");
    assert!(seen_by_b.is_empty(), "another organization sees nothing");
    assert_eq!(index.count(&b).await.expect("count"), 0);
    assert!(index
        .scroll(&b, None, 100)
        .await
        .expect("scroll")
        .chunks
        .is_empty());
    // Deleting "the same" document id as another organization removes nothing.
    index.delete_document(&b, &doc).await.expect("delete");
    assert_eq!(index.count(&a).await.expect("count"), 1);
}

async fn tag_and_document_filters_narrow_results(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let (d1, d2) = (DocumentId::new(), DocumentId::new());
    index
        .upsert(vec![
            point(chunk(&org, &d1, 1, 0, "shipping", &["shipping"]), 0),
            point(chunk(&org, &d1, 1, 1, "returns", &["returns", "policy"]), 1),
            point(chunk(&org, &d2, 1, 0, "sizes", &[]), 2),
        ])
        .await
        .expect("upsert");
    let by_tag = SearchFilter {
        tags: vec!["policy".to_owned(), "absent".to_owned()],
        document_ids: None,
    };
    let hits = index
        .search(&org, axis_vector(0), 10, &by_tag)
        .await
        .expect("search");
    let texts: Vec<_> = hits.iter().map(|h| h.chunk.text.as_str()).collect();
    assert_eq!(texts, vec!["returns"], "only chunks with one of the tags");

    let by_doc = SearchFilter {
        tags: vec![],
        document_ids: Some(vec![d2.clone()]),
    };
    let hits = index
        .search(&org, axis_vector(0), 10, &by_doc)
        .await
        .expect("search");
    let texts: Vec<_> = hits.iter().map(|h| h.chunk.text.as_str()).collect();
    assert_eq!(texts, vec!["sizes"], "only chunks of the listed documents");
}

async fn deleting_a_document_removes_all_its_points(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let (gone, kept) = (DocumentId::new(), DocumentId::new());
    index
        .upsert(vec![
            point(chunk(&org, &gone, 1, 0, "old a", &[]), 0),
            point(chunk(&org, &gone, 2, 0, "old b", &[]), 1),
            point(chunk(&org, &kept, 1, 0, "kept", &[]), 2),
        ])
        .await
        .expect("upsert");
    index.delete_document(&org, &gone).await.expect("delete");
    let hits = index
        .search(&org, axis_vector(0), 10, &SearchFilter::default())
        .await
        .expect("search");
    let texts: Vec<_> = hits.iter().map(|h| h.chunk.text.as_str()).collect();
    assert_eq!(texts, vec!["kept"], "a deleted document is never retrieved");
    assert_eq!(index.count(&org).await.expect("count"), 1);
}

async fn other_generations_are_deleted_and_the_kept_one_stays(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    index
        .upsert(vec![
            point(chunk(&org, &doc, 1, 0, "gen 1", &[]), 0),
            point(chunk(&org, &doc, 2, 0, "gen 2", &[]), 1),
            point(chunk(&org, &doc, 3, 0, "gen 3 half written", &[]), 2),
        ])
        .await
        .expect("upsert");
    index
        .delete_other_generations(&org, &doc, 2)
        .await
        .expect("delete");
    let page = index.scroll(&org, None, 10).await.expect("scroll");
    let texts: Vec<_> = page.chunks.iter().map(|c| c.chunk.text.as_str()).collect();
    assert_eq!(texts, vec!["gen 2"]);
}

async fn points_are_deleted_by_id(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    let first = point(chunk(&org, &doc, 1, 0, "first", &[]), 0);
    let second = point(chunk(&org, &doc, 1, 1, "second", &[]), 1);
    let first_id = first.id;
    index.upsert(vec![first, second]).await.expect("upsert");
    index.delete_points(vec![first_id]).await.expect("delete");
    let page = index.scroll(&org, None, 10).await.expect("scroll");
    let texts: Vec<_> = page.chunks.iter().map(|c| c.chunk.text.as_str()).collect();
    assert_eq!(texts, vec!["second"]);
}

async fn upserting_an_existing_id_replaces_it(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    index
        .upsert(vec![point(chunk(&org, &doc, 1, 0, "before", &[]), 0)])
        .await
        .expect("upsert");
    index
        .upsert(vec![point(chunk(&org, &doc, 1, 0, "after", &[]), 3)])
        .await
        .expect("upsert again");
    assert_eq!(index.count(&org).await.expect("count"), 1);
    let hits = index
        .search(&org, axis_vector(3), 1, &SearchFilter::default())
        .await
        .expect("search");
    assert_eq!(hits[0].chunk.text, "after");
    assert!(
        (hits[0].score - 1.0).abs() < 1e-3,
        "the vector was replaced too"
    );
}

async fn scrolling_pages_through_an_organization(index: Arc<dyn VectorIndex>) {
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    let points: Vec<_> = (0..7)
        .map(|i| point(chunk(&org, &doc, 1, i, &format!("p{i}"), &[]), i as usize))
        .collect();
    index.upsert(points).await.expect("upsert");
    let mut seen = BTreeSet::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = index.scroll(&org, after, 3).await.expect("scroll");
        pages += 1;
        assert!(
            page.chunks.len() <= 3,
            "a page holds at most `limit` chunks"
        );
        for c in page.chunks {
            assert!(seen.insert(c.chunk.text), "no chunk is listed twice");
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "scrolling ends");
    }
    assert_eq!(seen.len(), 7, "every chunk is listed");
    assert_eq!(pages, 3);
}

async fn leave_points_for_persistence_check(index: Arc<dyn VectorIndex>) {
    let org = persistent_org();
    let doc = DocumentId::new();
    index
        .upsert(vec![point(chunk(&org, &doc, 1, 0, "persisted", &[]), 5)])
        .await
        .expect("upsert");
}
