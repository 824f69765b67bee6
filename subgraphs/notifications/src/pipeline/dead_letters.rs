//! The dead-letter queue: jobs that exhausted their attempts wait in `notifications-dlq` with
//! their last error, until the slow retry, or an admin, replays or discards them.

use bullmq::Job;
use chrono::Utc;

use super::jobs::{DEAD, DeadJob, DeliverJob, Jobs, job_id};

/// Parks a job that failed for the last time. The dead job keeps the original job's id, so a
/// job dead-lettered twice is still one entry.
pub async fn park(
    jobs: &Jobs,
    job: &DeliverJob,
    job_id: &str,
    error: &str,
    attempts: u32,
) -> anyhow::Result<()> {
    let dead = DeadJob {
        job: job.clone(),
        job_id: job_id.to_owned(),
        error: error.to_owned(),
        attempts,
        failed_at_ms: Utc::now().timestamp_millis(),
    };
    // A stale entry under the same id would make BullMQ ignore the new one.
    jobs.dead_letters.remove(job_id).await?;
    jobs.dead_letters
        .add(DEAD, dead)
        .job_id(job_id.to_owned())
        .await?;
    Ok(())
}

fn decode(job: &Job) -> Option<DeadJob> {
    serde_json::from_value(job.data().clone()).ok()
}

/// The parked jobs, oldest first.
pub async fn list(jobs: &Jobs, limit: usize) -> anyhow::Result<Vec<DeadJob>> {
    let end = i64::try_from(limit).unwrap_or(i64::MAX).saturating_sub(1);
    let parked = jobs
        .dead_letters
        .get_jobs(&["waiting"], 0, end, true)
        .await?;
    Ok(parked.iter().filter_map(decode).collect())
}

/// Puts a parked job back on the delivery queue with fresh attempts (its idempotency key, and
/// so its exactly-once delivery, unchanged) and removes it from the dead-letter queue.
/// `slow_retry` counts the replay against the job's automatic replays; an admin's does not.
pub async fn replay(jobs: &Jobs, dead_job_id: &str, slow_retry: bool) -> anyhow::Result<bool> {
    let Some(parked) = jobs.dead_letters.get_job(dead_job_id).await? else {
        return Ok(false);
    };
    let Some(mut dead) = decode(&parked) else {
        jobs.dead_letters.remove(dead_job_id).await?;
        return Ok(false);
    };
    if slow_retry {
        dead.job.replays += 1;
    }
    // A new job id: the failed original keeps its id (and so keeps deduplicating late copies
    // of its event), and a replay never races the original's move to `failed`.
    let mut options = jobs.deliver_options(None);
    options.job_id = Some(format!(
        "{}~r{}",
        job_id(&dead.job.key),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    jobs.queue
        .add(super::jobs::DELIVER, &dead.job)
        .options(options)
        .await?;
    jobs.dead_letters.remove(dead_job_id).await?;
    Ok(true)
}

pub async fn replay_all(jobs: &Jobs) -> anyhow::Result<usize> {
    let mut replayed = 0;
    for dead in list(jobs, 10_000).await? {
        if replay(jobs, &dead.job_id, false).await? {
            replayed += 1;
        }
    }
    Ok(replayed)
}

pub async fn discard(jobs: &Jobs, dead_job_id: &str) -> anyhow::Result<bool> {
    if jobs.dead_letters.get_job(dead_job_id).await?.is_none() {
        return Ok(false);
    }
    jobs.dead_letters.remove(dead_job_id).await?;
    Ok(true)
}
