//! Killing the worker with SIGKILL in the middle of a batch loses nothing and duplicates
//! nothing: unacknowledged events are redelivered by RabbitMQ (and deduplicated by job id),
//! jobs left active are recovered by BullMQ's stalled-job check, and the inbox write is
//! idempotent.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_notifications::store::NotificationStore;
use herald_notifications::store::sql::SqlStore;
use herald_service::events::{Envelope, OutgoingMessage, Publisher};
use serde_json::json;

use crate::helpers::{amqp_url, new_user, redis_url, sqlite_url, temp_dir, wait_for_queue};

const USERS: usize = 4;
const EVENTS_PER_USER: usize = 100;

fn start_worker(database_url: &str, queue: &str, prefix: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald-notifications"))
        .arg("worker")
        .env("HERALD_CONFIG", "/nonexistent/herald.toml")
        .env("HERALD_REDIS_URL", redis_url())
        .env("HERALD_AMQP_URL", amqp_url())
        .env("HERALD_NOTIFICATIONS__DATABASE_URL", database_url)
        .env("HERALD_NOTIFICATIONS__EVENTS_QUEUE", queue)
        .env("HERALD_NOTIFICATIONS__EVENTS_QUEUE_EXPIRES_MS", "600000")
        .env("HERALD_NOTIFICATIONS__QUEUE_PREFIX", prefix)
        .env("HERALD_NOTIFICATIONS__WORKER_HOST", "127.0.0.1")
        .env("HERALD_NOTIFICATIONS__WORKER_PORT", "0")
        .env("HERALD_NOTIFICATIONS__CONCURRENCY", "2")
        .env("HERALD_NOTIFICATIONS__PREFETCH", "16")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the worker binary")
}

async fn delivered(store: &SqlStore, users: &[String]) -> Vec<u64> {
    let mut counts = Vec::new();
    for user in users {
        counts.push(store.count_unread(user, None).await.expect("count"));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing_and_duplicates_nothing() {
    let dir = temp_dir();
    let database_url = sqlite_url(&dir);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let queue = format!("notifications.events.crash-{run}");
    let prefix = format!("crash{run}");
    // Create the schema before two processes race to.
    let store = SqlStore::connect(&database_url).await.expect("store");

    // A first run declares the durable queue; the batch then waits in it, whole.
    let mut first = start_worker(&database_url, &queue, &prefix);
    wait_for_queue(&queue).await;
    first.kill().expect("stop");
    first.wait().expect("reap");

    let users: Vec<String> = (0..USERS).map(|_| new_user()).collect();
    let publisher = Publisher::new(amqp_url(), "test");
    let mut batch = Vec::new();
    for i in 0..EVENTS_PER_USER {
        for user in &users {
            let event = Envelope::new(
                "order.shipped",
                json!({"order_id": format!("C-{i}"), "user_id": user, "carrier": "UPS", "tracking_number": format!("1Z{i}")}),
            );
            batch.push(OutgoingMessage {
                routing_key: event.kind.clone(),
                id: event.id.to_string(),
                payload: serde_json::to_vec(&event).expect("json"),
            });
        }
    }
    for result in publisher.publish_batch(&batch).await {
        result.expect("publish");
    }
    let mut worker = start_worker(&database_url, &queue, &prefix);

    // Kill it once some, but not all, of the batch is in.
    let total = (USERS * EVENTS_PER_USER) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done: u64 = delivered(&store, &users).await.iter().sum();
        if done > 0 {
            println!("killing the worker after {done} of {total} deliveries");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker delivered nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill().expect("SIGKILL");
    worker.wait().expect("reap");
    let at_kill: u64 = delivered(&store, &users).await.iter().sum();

    let mut restarted = start_worker(&database_url, &queue, &prefix);
    // Stalled-job recovery takes a lock period and two checks; allow generously.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let counts = delivered(&store, &users).await;
        if counts.iter().all(|c| *c as usize >= EVENTS_PER_USER) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            restarted.kill().ok();
            panic!(
                "not everything arrived after the restart: {counts:?} (had {at_kill} at the kill)"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give any duplicate the chance to show up before counting exactly.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = delivered(&store, &users).await;
    restarted.kill().ok();
    restarted.wait().ok();
    assert!(
        counts.iter().all(|c| *c as usize == EVENTS_PER_USER),
        "exactly one row per event: {counts:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
