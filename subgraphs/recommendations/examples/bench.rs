//! Benchmark: 10,000 synthetic shoppers on the shipped 1,008-product catalog, in the real
//! store (SQLite by default; `HERALD_BENCH_DATABASE_URL=postgres://...` for PostgreSQL).
//! Prints the full recompute time (model rebuild + rescoring every shopper; publishing to
//! RabbitMQ left out, it depends on the broker), recommendation query latency through the
//! real HTTP API (GraphQL `_entities` → `User.recommendations(first: 10)`, with a verified
//! JWT) and through the engine call path, and the peak RSS.
//!
//!     cargo run --release -p herald-recommendations --example bench -- [shoppers] [queries]
//!
//! Needs Redis (the API's readiness and purchase refreshes use it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/synthetic.rs"]
mod synthetic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use herald_recommendations::settings::Settings;
use herald_recommendations::startup::{Application, open_recommender};
use herald_service::config::ConfigSources;
use herald_service::testing::TestIssuer;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let queries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let dir = std::env::temp_dir().join(format!("herald-rec-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = std::env::var("HERALD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let issuer = TestIssuer::new(&dir);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let settings = Settings::load(&ConfigSources::from_pairs([
        ("recommendations.database_url", json!(database_url)),
        (
            "recommendations.catalog_path",
            json!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/catalog/products.jsonl"
            )),
        ),
        ("recommendations.queue_prefix", json!(format!("bench{run}"))),
        // The synthetic shop spans 180 days: rescore every shopper.
        ("recommendations.publish.active_days", json!(181)),
        ("jwks_url", json!(issuer.jwks_path())),
    ]))
    .unwrap();

    let recommender = open_recommender(&settings).await.unwrap();
    let catalog = recommender.store().all_products().await.unwrap();
    let shoppers = synthetic::shoppers(&catalog, count, 11, Utc::now());
    let events: Vec<_> = shoppers.iter().flatten().cloned().collect();
    let started = Instant::now();
    for chunk in events.chunks(5_000) {
        recommender.store().record_activities(chunk).await.unwrap();
    }
    println!(
        "loaded {} events for {} shoppers on {} products in {:.1} s ({})",
        events.len(),
        count,
        catalog.len(),
        started.elapsed().as_secs_f64(),
        if database_url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    drop(events);
    drop(shoppers);

    // The full recompute, as the worker runs it (minus publishing).
    let started = Instant::now();
    recommender.rebuild_model().await.unwrap();
    let rebuild = started.elapsed();
    let users = recommender.active_users(Utc::now()).await.unwrap();
    let rescoring = Instant::now();
    let scored: usize = futures::stream::iter(users.iter())
        .map(|u| {
            let recommender = recommender.clone();
            async move { recommender.recommend(u, 5, None).await.unwrap().0.len() }
        })
        .buffer_unordered(16)
        .fold(0, |acc, n| async move { acc + n })
        .await;
    let rescore = rescoring.elapsed();
    println!(
        "full recompute: {:.2} s (model rebuild {:.2} s, rescoring {} shoppers {:.2} s, {} recommendations)",
        (rebuild + rescore).as_secs_f64(),
        rebuild.as_secs_f64(),
        users.len(),
        rescore.as_secs_f64(),
        scored
    );

    // The engine call path (store reads + scoring), one query at a time.
    let mut engine_latencies = Vec::with_capacity(queries);
    for i in 0..queries {
        let user = &users[(i * 7919) % users.len()];
        let started = Instant::now();
        recommender.recommend(user, 10, None).await.unwrap();
        engine_latencies.push(started.elapsed());
    }
    engine_latencies.sort();

    // The real HTTP API.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(settings.clone(), Some(listener))
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User {
        recommendations(first: 10) { score reason product { id name price inStock } } } } }";
    let tokens: Vec<String> = users
        .iter()
        .take(500)
        .map(|u| issuer.user_token(u))
        .collect();
    let ask = |i: usize| {
        let client = client.clone();
        let address = address.clone();
        let user = users[(i * 7919) % tokens.len()].clone();
        let token = tokens[(i * 7919) % tokens.len()].clone();
        async move {
            let started = Instant::now();
            let body: serde_json::Value = client
                .post(&address)
                .bearer_auth(token)
                .json(&json!({"query": query, "variables": {"reps": [{"__typename": "User", "id": user}]}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body["errors"].is_null(), "{body}");
            started.elapsed()
        }
    };
    for i in 0..100 {
        ask(i).await;
    }
    let mut http_latencies = Vec::with_capacity(queries);
    for i in 0..queries {
        http_latencies.push(ask(i).await);
    }
    http_latencies.sort();
    let started = Instant::now();
    let concurrent: Vec<Duration> = futures::stream::iter(0..queries)
        .map(ask)
        .buffer_unordered(16)
        .collect()
        .await;
    let throughput = concurrent.len() as f64 / started.elapsed().as_secs_f64();

    println!(
        "query latency, engine call path (store reads + scoring), {queries} queries: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&engine_latencies, 0.5),
        percentile(&engine_latencies, 0.99)
    );
    println!(
        "query latency, HTTP GraphQL (JWT verified, first: 10), {queries} sequential queries: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&http_latencies, 0.5),
        percentile(&http_latencies, 0.99)
    );
    println!("HTTP throughput at 16 concurrent clients: {throughput:.0} queries/s");
    if let (Some(peak), Some(now)) = (synthetic::rss_mib("VmHWM:"), synthetic::rss_mib("VmRSS:")) {
        println!(
            "RSS of the whole benchmark process (data generator, store, API, HTTP client): peak {peak:.0} MiB, at the end {now:.0} MiB"
        );
    }
    let _ = Arc::strong_count(&recommender);
    let _ = std::fs::remove_dir_all(&dir);
}
