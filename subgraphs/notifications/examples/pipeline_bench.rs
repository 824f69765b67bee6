//! Pushes events through the whole pipeline — RabbitMQ → BullMQ on Redis → the inbox store —
//! and prints sustained throughput and publish-to-inbox latency. Not a test: numbers only.
//!
//!     cargo run --release -p herald-notifications --example pipeline_bench -- 100000
//!
//! Needs RabbitMQ and Redis on their standard local ports. The store is a fresh SQLite file,
//! or `HERALD_BENCH_DATABASE_URL` (e.g. a fresh PostgreSQL database).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald_notifications::model::{ListFilter, PageRequest};
use herald_notifications::pipeline::PipelineWorker;
use herald_notifications::settings::Settings;
use herald_notifications::store::NotificationStore;
use herald_notifications::store::sql::SqlStore;
use herald_service::config::ConfigSources;
use herald_service::events::{Envelope, OutgoingMessage, Publisher};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const USERS: usize = 1000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("herald-bench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let database_url = std::env::var("HERALD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let settings = Settings::load(&ConfigSources::from_pairs([
        ("notifications.database_url", json!(database_url)),
        (
            "notifications.events_queue",
            json!(format!("notifications.events.bench-{run}")),
        ),
        ("notifications.events_queue_expires_ms", json!(600_000)),
        ("notifications.queue_prefix", json!(format!("bench{run}"))),
        ("notifications.concurrency", json!(64)),
        ("notifications.prefetch", json!(512)),
        ("notifications.frequency_caps", json!({})),
    ]))?;
    let store = SqlStore::connect(&database_url).await?;
    let worker = PipelineWorker::build(
        settings.clone(),
        Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
    )
    .await?;
    tokio::spawn(worker.run_until(std::future::pending()));
    // Let the worker declare and bind its queue.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let users: Vec<String> = (0..USERS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let publisher = Publisher::new(settings.common.amqp_url.clone(), "bench");
    let mut published_at: HashMap<String, DateTime<Utc>> = HashMap::with_capacity(events);
    println!("pushing {events} order.shipped events for {USERS} users into {database_url}");
    let started = Instant::now();
    for chunk in (0..events).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::with_capacity(chunk.len());
        for i in chunk {
            let user = &users[i % USERS];
            let event = Envelope::new(
                "order.shipped",
                json!({"order_id": format!("B-{i}"), "user_id": user, "carrier": "UPS", "tracking_number": format!("1Z{i}")}),
            );
            published_at.insert(format!("B-{i}"), event.occurred_at);
            batch.push(OutgoingMessage {
                routing_key: event.kind.clone(),
                id: event.id.to_string(),
                payload: serde_json::to_vec(&event)?,
            });
        }
        for result in publisher.publish_batch(&batch).await {
            result?;
        }
    }
    let published = started.elapsed();
    println!(
        "published in {:.1} s ({:.0} events/s)",
        published.as_secs_f64(),
        events as f64 / published.as_secs_f64()
    );

    // One COUNT per second on a connection of its own, so watching costs the store little.
    let watcher = sea_orm::Database::connect(&database_url).await?;
    let count = Statement::from_string(
        watcher.get_database_backend(),
        "SELECT COUNT(*) AS n FROM notifications",
    );
    let mut done = 0u64;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while (done as usize) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let row = watcher.query_one_raw(count.clone()).await?;
        done = row
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0)
            .max(0) as u64;
        println!(
            "  {done} / {events} in the inbox after {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let elapsed = started.elapsed();

    let mut latencies = Vec::with_capacity(events);
    for user in &users {
        let mut after = None;
        loop {
            let page = store
                .list(
                    user,
                    &ListFilter::default(),
                    &PageRequest { first: 100, after },
                )
                .await?;
            for n in &page.items {
                if let Some(at) = n
                    .data
                    .get("orderId")
                    .and_then(|o| o.as_str())
                    .and_then(|o| published_at.get(o))
                {
                    latencies.push((n.created_at - *at).num_milliseconds() as f64 / 1000.0);
                }
            }
            if !page.has_next_page {
                break;
            }
            after = page.items.last().map(|n| n.cursor());
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!();
    println!("events delivered:      {done} of {events}");
    println!(
        "sustained throughput:  {:.0} events/s (publish start to last inbox row)",
        done as f64 / elapsed.as_secs_f64()
    );
    println!(
        "publish-to-inbox p50:  {:.3} s",
        percentile(&latencies, 50.0)
    );
    println!(
        "publish-to-inbox p99:  {:.3} s",
        percentile(&latencies, 99.0)
    );
    println!(
        "peak RSS (bench + worker in one process): {:.0} MiB",
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
