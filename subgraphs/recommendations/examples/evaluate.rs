//! Offline evaluation: holds out each synthetic shopper's last purchase, trains on what
//! happened before it, and reports hit-rate@10 for the engine and for a popularity baseline.
//!
//!     cargo run --release -p herald-recommendations --example evaluate -- [shoppers] [seed]

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/synthetic.rs"]
mod synthetic;

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use herald_recommendations::engine::{self, EngineConfig, Index, Shopper};
use herald_recommendations::model::{Activity, ActivityKind, Model};

const K: usize = 10;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let catalog = synthetic::catalog();
    let shoppers = synthetic::shoppers(&catalog, count, seed, now);
    let config = EngineConfig::default();

    // Split: the last purchase of every shopper with at least two is held out, together with
    // everything from that moment on.
    let mut training: Vec<Activity> = Vec::new();
    let mut cases: Vec<(Vec<Activity>, Activity)> = Vec::new();
    for events in &shoppers {
        let purchases: Vec<&Activity> = events
            .iter()
            .filter(|e| e.kind == ActivityKind::Purchased)
            .collect();
        if purchases.len() >= 2 {
            let held = purchases[purchases.len() - 1].clone();
            let history: Vec<Activity> = events
                .iter()
                .filter(|e| e.occurred_at < held.occurred_at)
                .cloned()
                .collect();
            training.extend(history.iter().cloned());
            cases.push((history, held));
        } else {
            training.extend(events.iter().cloned());
        }
    }

    let started = Instant::now();
    let model = Model {
        version: 1,
        built_at: Some(now),
        products: engine::build_model(&training, now, &config),
    };
    let build = started.elapsed();
    let index = Index::new(&model, catalog.clone());
    let mut popular: Vec<(&str, f64)> = model
        .products
        .iter()
        .map(|p| (p.product_id.as_str(), p.popularity))
        .collect();
    popular.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let in_stock: HashSet<&str> = catalog
        .iter()
        .filter(|p| p.in_stock)
        .map(|p| p.id.as_str())
        .collect();

    let (mut engine_hits, mut variant_hits, mut baseline_hits) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for (history, held) in &cases {
        let recommend = |history: &[Activity]| {
            engine::recommend(
                &index,
                &Shopper {
                    activity: history,
                    interests: &[],
                },
                K,
                None,
                now,
                &config,
            )
        };
        if recommend(history)
            .iter()
            .any(|s| s.product_id == held.product_id)
        {
            engine_hits += 1;
        }
        // Variant: without the shopper's own earlier views and carts of the held-out product,
        // to show how much the score owes to "looked at it, then bought it".
        let strict: Vec<Activity> = history
            .iter()
            .filter(|e| e.product_id != held.product_id)
            .cloned()
            .collect();
        if recommend(&strict)
            .iter()
            .any(|s| s.product_id == held.product_id)
        {
            variant_hits += 1;
        }
        let bought: HashSet<&str> = history
            .iter()
            .filter(|e| e.kind == ActivityKind::Purchased)
            .map(|e| e.product_id.as_str())
            .collect();
        let baseline: Vec<&str> = popular
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| in_stock.contains(id) && !bought.contains(id))
            .take(K)
            .collect();
        if baseline.contains(&held.product_id.as_str()) {
            baseline_hits += 1;
        }
    }
    let scoring = started.elapsed();
    let rate = |hits: usize| hits as f64 / cases.len().max(1) as f64;
    println!(
        "synthetic shop: {} shoppers (seed {seed}), {} products, {} training events, {} held-out purchases",
        count,
        catalog.len(),
        training.len(),
        cases.len()
    );
    println!(
        "model build: {:.0} ms; scoring {} shoppers twice: {:.0} ms",
        build.as_secs_f64() * 1e3,
        cases.len(),
        scoring.as_secs_f64() * 1e3
    );
    println!(
        "hit-rate@{K} engine (item-to-item CF + fallback): {:.4}",
        rate(engine_hits)
    );
    println!(
        "hit-rate@{K} engine, own views/carts of the held-out product removed: {:.4}",
        rate(variant_hits)
    );
    println!(
        "hit-rate@{K} popularity baseline: {:.4}",
        rate(baseline_hits)
    );
    assert!(
        engine_hits > baseline_hits,
        "the engine must beat the popularity baseline"
    );
}
