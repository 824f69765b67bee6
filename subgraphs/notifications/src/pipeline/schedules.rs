//! Repeating notifications: one BullMQ job scheduler per schedule id, so adding a schedule
//! never touches another, and each can be listed and cancelled on its own.

use bullmq::job_scheduler::RepeatOptions;
use chrono::{DateTime, TimeZone, Utc};
use herald_service::ApiError;

use super::jobs::{Jobs, SCHEDULED, ScheduledJob};

#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: String,
    pub cron: String,
    pub timezone: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub runs: u64,
    pub template: Option<ScheduledJob>,
}

pub async fn upsert(
    jobs: &Jobs,
    template: &ScheduledJob,
    cron: &str,
    timezone: Option<&str>,
) -> Result<(), ApiError> {
    let repeat = RepeatOptions {
        pattern: Some(cron.to_owned()),
        tz: timezone.map(str::to_owned),
        ..Default::default()
    };
    let data = serde_json::to_value(template).map_err(ApiError::internal)?;
    let options = jobs.deliver_options(None);
    jobs.queue
        .upsert_job_scheduler(
            &template.schedule_id,
            repeat,
            Some(SCHEDULED),
            Some(data),
            Some(options),
        )
        .await
        .map_err(|e| match e {
            bullmq::Error::InvalidConfig(message) => ApiError::bad_input("repeat", message),
            other => ApiError::internal(other),
        })?;
    Ok(())
}

pub async fn list(jobs: &Jobs) -> Result<Vec<Schedule>, ApiError> {
    let schedulers = jobs
        .queue
        .get_job_schedulers(0, -1, true)
        .await
        .map_err(ApiError::internal)?;
    Ok(schedulers
        .into_iter()
        .map(|s| Schedule {
            id: s.key.clone(),
            cron: s.pattern.clone().unwrap_or_default(),
            timezone: s.tz.clone(),
            next_run: s
                .next
                .and_then(|ms| Utc.timestamp_millis_opt(ms as i64).single()),
            runs: s.iteration_count,
            template: s.data.and_then(|d| serde_json::from_value(d).ok()),
        })
        .collect())
}

pub async fn cancel(jobs: &Jobs, id: &str) -> Result<bool, ApiError> {
    jobs.queue
        .remove_job_scheduler(id)
        .await
        .map_err(ApiError::internal)
}
