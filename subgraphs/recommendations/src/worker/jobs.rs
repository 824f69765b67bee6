//! The BullMQ side: the `recommendations` queue, its job payloads, and the recompute job
//! scheduler. Queues use BullMQ's own key layout (prefix `bull` by default), so BullMQ's
//! dashboards can show them.

use std::time::Duration;

use bullmq::job_scheduler::RepeatOptions;
use bullmq::options::RedisConnectionOptions;
use bullmq::types::{BackoffStrategy, KeepJobs, RemoveOnFinish};
use bullmq::{JobOptions, Queue, QueueOptions};
use serde::{Deserialize, Serialize};

pub const QUEUE: &str = "recommendations";
/// The full recompute: rebuild the model, rescore every active shopper.
pub const RECOMPUTE: &str = "recompute";
/// One shopper's rescoring after a purchase.
pub const REFRESH_USER: &str = "refresh-user";
/// The id of the one job scheduler that repeats `recompute`.
pub const SCHEDULER_ID: &str = "recompute";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshUserJob {
    pub user_id: String,
    /// Publish whatever comes out (the first recommendations after a purchase).
    pub after_purchase: bool,
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

pub fn connection(redis_url: &str) -> RedisConnectionOptions {
    RedisConnectionOptions::new().url(redis_url)
}

/// The producer side of the queue, shared by the API (refresh after a purchase, recompute
/// on demand) and the worker.
#[derive(Clone)]
pub struct Jobs {
    pub queue: Queue,
    refresh_delay: Duration,
}

impl Jobs {
    pub async fn connect(
        redis_url: &str,
        prefix: &str,
        refresh_delay: Duration,
    ) -> anyhow::Result<Self> {
        let options = QueueOptions::new()
            .connection(connection(redis_url))
            .prefix(prefix);
        Ok(Self {
            queue: Queue::with_options(QUEUE, options).await?,
            refresh_delay,
        })
    }

    /// Retries with exponential backoff (a broker or store outage); finished jobs are kept a
    /// day so that a repeated event (same job id) within that time is recognised.
    fn options(&self, attempts: u32) -> JobOptions {
        let mut options = JobOptions::new();
        options.attempts = Some(attempts);
        options.backoff = Some(BackoffStrategy::Exponential(1000));
        options.remove_on_complete = Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(86_400),
            count: Some(100_000),
            limit: None,
        }));
        options.remove_on_fail = Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(7 * 86_400),
            count: Some(10_000),
            limit: None,
        }));
        options
    }

    /// Enqueues the refresh that follows a purchase, keyed by the purchase, so a redelivered
    /// event or a retried mutation refreshes once.
    pub async fn refresh_after_purchase(&self, user_id: &str, cause: &str) -> anyhow::Result<()> {
        let mut options = self.options(8);
        options.job_id = Some(job_id(&format!("refresh/{cause}")));
        options.delay = Some(u64::try_from(self.refresh_delay.as_millis()).unwrap_or(0));
        let job = RefreshUserJob {
            user_id: user_id.to_owned(),
            after_purchase: true,
        };
        self.queue.add(REFRESH_USER, &job).options(options).await?;
        Ok(())
    }

    /// Puts one full recompute on the queue now (operators, tests).
    pub async fn recompute_now(&self) -> anyhow::Result<String> {
        let id = format!("recompute-now-{}", uuid::Uuid::new_v4());
        let mut options = self.options(3);
        options.job_id = Some(id.clone());
        self.queue
            .add(RECOMPUTE, serde_json::json!({}))
            .options(options)
            .await?;
        Ok(id)
    }

    /// Creates or updates the job scheduler; several workers upserting the same id share
    /// one schedule.
    pub async fn schedule_recompute(
        &self,
        cron: &str,
        timezone: Option<&str>,
    ) -> anyhow::Result<()> {
        let repeat = RepeatOptions {
            pattern: Some(cron.to_owned()),
            tz: timezone.map(str::to_owned),
            ..Default::default()
        };
        self.queue
            .upsert_job_scheduler(
                SCHEDULER_ID,
                repeat,
                Some(RECOMPUTE),
                Some(serde_json::json!({})),
                Some(self.options(3)),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_valid_for_bullmq() {
        assert_eq!(job_id("refresh/evt:1"), "refresh/evt%3A1");
        assert_eq!(job_id("12345"), "k-12345");
    }
}
