//! The BullMQ side: queue names, job payloads, and enqueueing with Herald's retry policy.
//! Queues use BullMQ's own key layout (prefix `bull` by default), so BullMQ's dashboards
//! can show them.

use std::sync::Arc;
use std::time::Duration;

use bullmq::options::RedisConnectionOptions;
use bullmq::types::{BackoffStrategy, KeepJobs, RemoveOnFinish};
use bullmq::{BackoffStrategyFn, JobOptions, Queue, QueueOptions};
use herald_service::preferences::Category;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const QUEUE: &str = "notifications";
pub const DEAD_LETTER_QUEUE: &str = "notifications-dlq";
pub const DELIVER: &str = "deliver";
pub const DEAD: &str = "dead";
/// Jobs produced by a repeat schedule; each fans out to one `deliver` job per recipient.
pub const SCHEDULED: &str = "scheduled";
/// The name of Herald's backoff (exponential with jitter) for `BackoffStrategy::Custom`.
pub const JITTER_BACKOFF: &str = "herald-jitter";

/// One notification for one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverJob {
    /// The idempotency key: the event id for events, or the caller's key and the recipient.
    pub key: String,
    pub recipient_id: String,
    pub category: Category,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: Value,
    /// When the cause happened (event time, or the API call), for publish-to-inbox latency.
    pub requested_at_ms: i64,
    /// How many times the slow retry has put this job back from the dead-letter queue.
    #[serde(default)]
    pub replays: u32,
}

/// A repeating notification's template, carried by its BullMQ job scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledJob {
    pub schedule_id: String,
    pub user_ids: Vec<String>,
    pub category: Category,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: Value,
}

/// What the dead-letter queue keeps of a job that exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadJob {
    pub job: DeliverJob,
    pub job_id: String,
    pub error: String,
    pub attempts: u32,
    pub failed_at_ms: i64,
}

/// BullMQ ids may not contain `:` (its key separator) nor be plain integers.
pub fn job_id(key: &str) -> String {
    let escaped = key.replace('%', "%25").replace(':', "%3A");
    if escaped.chars().all(|c| c.is_ascii_digit()) {
        format!("k-{escaped}")
    } else {
        escaped
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
}

/// Exponential backoff with ±25 % jitter, so a burst of failures does not retry in lockstep.
pub fn jitter_backoff(base: Duration) -> BackoffStrategyFn {
    let base_ms = u64::try_from(base.as_millis()).unwrap_or(1000).max(1);
    Arc::new(
        move |attempt: u32, _kind: &str, _error: &str, _data: &Value| {
            let exponent = attempt.saturating_sub(1).min(20);
            let delay = base_ms.saturating_mul(1u64 << exponent).min(3_600_000);
            let factor = 0.75 + rand::random::<f64>() * 0.5;
            let jittered = (delay as f64 * factor) as i64;
            Box::pin(async move { jittered.max(1) })
        },
    )
}

pub fn connection(redis_url: &str) -> RedisConnectionOptions {
    RedisConnectionOptions::new().url(redis_url)
}

/// Producers for the delivery queue and the dead-letter queue.
#[derive(Clone)]
pub struct Jobs {
    pub queue: Queue,
    pub dead_letters: Queue,
    policy: RetryPolicy,
}

impl Jobs {
    pub async fn connect(
        redis_url: &str,
        prefix: &str,
        policy: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let options = QueueOptions::new()
            .connection(connection(redis_url))
            .prefix(prefix);
        let queue = Queue::with_options(QUEUE, options.clone()).await?;
        let dead_letters = Queue::with_options(DEAD_LETTER_QUEUE, options).await?;
        Ok(Self {
            queue,
            dead_letters,
            policy,
        })
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Options for a delivery job: Herald's attempts and backoff; completed jobs are kept a
    /// day so that a repeated event (same job id) within that time is recognised and ignored.
    pub fn deliver_options(&self, delay: Option<Duration>) -> JobOptions {
        let mut options = JobOptions::new();
        options.attempts = Some(self.policy.attempts.max(1));
        options.backoff = Some(BackoffStrategy::Custom(JITTER_BACKOFF.into()));
        options.remove_on_complete = Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(86_400),
            count: Some(100_000),
            limit: None,
        }));
        options.remove_on_fail = Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(7 * 86_400),
            count: None,
            limit: None,
        }));
        if let Some(delay) = delay {
            options.delay = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        }
        options
    }

    /// Enqueues one delivery; a job whose id already exists is left as it is (BullMQ ignores
    /// the duplicate), which is what makes a redelivered event harmless.
    pub async fn enqueue(
        &self,
        job: &DeliverJob,
        delay: Option<Duration>,
    ) -> anyhow::Result<String> {
        let id = job_id(&job.key);
        let mut options = self.deliver_options(delay);
        options.job_id = Some(id.clone());
        self.queue.add(DELIVER, job).options(options).await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_valid_for_bullmq() {
        assert_eq!(job_id("promo-1:user-2"), "promo-1%3Auser-2");
        assert_eq!(job_id("12345"), "k-12345");
        assert_eq!(job_id("a%3Ab"), "a%253Ab");
    }

    #[tokio::test]
    async fn backoff_grows_with_jitter() {
        let backoff = jitter_backoff(Duration::from_millis(1000));
        for attempt in 1..=4u32 {
            let delay = backoff(attempt, JITTER_BACKOFF, "boom", &Value::Null).await;
            let nominal = 1000i64 << (attempt - 1);
            assert!(
                delay >= nominal * 3 / 4 && delay <= nominal * 5 / 4,
                "{attempt}: {delay}"
            );
        }
    }
}
