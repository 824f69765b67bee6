//! The delivery pipeline (the worker role): RabbitMQ events → BullMQ jobs on Redis → the inbox
//! and the other channels, with a dead-letter queue. Runs as its own process and scales to
//! several replicas: RabbitMQ spreads messages, BullMQ spreads jobs.

pub mod consumer;
pub mod dead_letters;
pub mod decide;
pub mod delivery;
pub mod email;
pub mod jobs;
pub mod metrics;
pub mod schedules;
pub mod templates;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bullmq::worker::CancellationToken as JobToken;
use bullmq::{Job, Worker as BullWorker, WorkerOptions};
use futures::FutureExt;
use herald_service::consumer::EventConsumer;
use herald_service::events::Publisher;
use herald_service::http::{self, ReadinessCheck};
use herald_service::preferences::Channel;
use redis::AsyncCommands;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::delivery::{Delivery, UsersService};
use self::jobs::{DELIVER, DeliverJob, Jobs, RetryPolicy, SCHEDULED, ScheduledJob};
use crate::inbox::Inbox;
use crate::live::LiveUpdates;
use crate::settings::Settings;
use crate::store;

pub struct PipelineWorker {
    settings: Settings,
    listener: TcpListener,
    jobs: Jobs,
    delivery: Arc<Delivery>,
    consumer: Arc<EventConsumer>,
    redis: redis::aio::ConnectionManager,
    port: u16,
}

pub async fn connect_jobs(settings: &Settings) -> anyhow::Result<Jobs> {
    let n = &settings.notifications;
    Jobs::connect(
        &settings.common.redis_url,
        &n.queue_prefix,
        RetryPolicy {
            attempts: n.attempts,
            base_delay: Duration::from_millis(n.backoff_base_ms),
        },
    )
    .await
}

impl PipelineWorker {
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let n = &settings.notifications;
        let store = store::open(
            &n.database_url,
            n.mongodb_url.as_deref(),
            &n.mongodb_database,
        )
        .await?;
        let live = LiveUpdates::new(&settings.common.redis_url)?;
        let inbox = Arc::new(Inbox::new(store.clone(), live));
        let jobs = connect_jobs(&settings).await?;
        let redis = redis::Client::open(settings.common.redis_url.as_str())?
            .get_connection_manager()
            .await?;
        let publisher = Arc::new(Publisher::new(
            settings.common.amqp_url.clone(),
            "notifications",
        ));
        let users = n.users_service_token.clone().map(|token| UsersService {
            base_url: n.users_url.clone(),
            token,
        });
        let delivery = Arc::new(Delivery::new(
            inbox,
            publisher,
            redis.clone(),
            users,
            Duration::from_millis(n.webhook_timeout_ms),
            n.frequency_caps.clone(),
            email::Mailer::from_settings(&n.email)?,
        ));
        let consumer = Arc::new(EventConsumer {
            service: "notifications",
            amqp_url: settings.common.amqp_url.clone(),
            queue: n.events_queue.clone(),
            queue_expires_ms: n.events_queue_expires_ms,
            prefetch: n.prefetch,
            bindings: &consumer::BINDINGS,
            handler: Arc::new(consumer::Events {
                store,
                jobs: jobs.clone(),
            }),
        });
        let listener = http::listener_or_bind(listener, &n.worker_host, n.worker_port).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            settings,
            listener,
            jobs,
            delivery,
            consumer,
            redis,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let n = &self.settings.notifications;
        let stop = CancellationToken::new();

        let processor = {
            let delivery = self.delivery.clone();
            let jobs = self.jobs.clone();
            move |job: Job, _token: JobToken| {
                let delivery = delivery.clone();
                let jobs = jobs.clone();
                async move {
                    // A panic must fail the job, not leave it locked forever.
                    std::panic::AssertUnwindSafe(process(delivery, jobs, job))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            Err(bullmq::Error::ProcessingError(
                                "the job handler panicked".into(),
                            ))
                        })
                }
            }
        };
        let options = WorkerOptions::new()
            .connection(jobs::connection(&self.settings.common.redis_url))
            .prefix(n.queue_prefix.clone())
            .concurrency(n.concurrency)
            .backoff_strategy(jobs::jitter_backoff(Duration::from_millis(
                n.backoff_base_ms,
            )))
            .stalled_interval(Duration::from_secs(5))
            .lock_duration(Duration::from_secs(15));
        let worker = Arc::new(BullWorker::with_options(jobs::QUEUE, processor, options).await?);
        // The worker reports every job on an unbounded channel: drain it.
        let drain = {
            let worker = worker.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        event = worker.next_event() => if event.is_none() { break },
                    }
                }
            })
        };

        let consumer = tokio::spawn(self.consumer.clone().run(stop.clone()));
        let sweeper = tokio::spawn(sweep_dead_letters(
            format!("herald:{}:dlq-sweep-lock", n.queue_prefix),
            self.jobs.clone(),
            self.redis.clone(),
            Duration::from_secs(n.dlq_retry_interval_secs.max(1)),
            n.dlq_max_replays,
            stop.clone(),
        ));
        let gauges = tokio::spawn(report_queue_sizes(self.jobs.clone(), stop.clone()));

        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(RedisCheck(self.redis.clone()))];
        let router = http::service_router("notifications-worker", Router::new(), checks);
        tracing::info!(port = self.port, "notifications worker running");
        let served = http::serve(self.listener, router, shutdown).await;

        stop.cancel();
        let _ = consumer.await;
        if let Err(e) = worker.close(30_000).await {
            tracing::warn!(error = %e, "worker did not close cleanly");
        }
        let _ = tokio::join!(drain, sweeper, gauges);
        Ok(served?)
    }
}

async fn process(
    delivery: Arc<Delivery>,
    jobs: Jobs,
    job: Job,
) -> Result<serde_json::Value, bullmq::Error> {
    let started = std::time::Instant::now();
    let name = job.name().to_owned();
    let result = match name.as_str() {
        DELIVER => deliver(&delivery, &jobs, &job).await,
        SCHEDULED => fan_out(&jobs, &job).await,
        other => Err(bullmq::Error::Unrecoverable(format!("unknown job {other}"))),
    };
    let outcome = if result.is_ok() {
        "completed"
    } else {
        "failed"
    };
    metrics::PIPELINE
        .job_duration
        .with_label_values(&[jobs::QUEUE, &name, outcome])
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn deliver(
    delivery: &Delivery,
    jobs: &Jobs,
    job: &Job,
) -> Result<serde_json::Value, bullmq::Error> {
    let data: DeliverJob = serde_json::from_value(job.data().clone())
        .map_err(|e| bullmq::Error::Unrecoverable(format!("invalid job data: {e}")))?;
    match delivery.deliver(&data).await {
        Ok(report) => Ok(serde_json::to_value(report).unwrap_or_default()),
        Err(error) => {
            let attempt = job.attempts_made() + 1;
            let max = job.opts().attempts.unwrap_or(1).max(1);
            tracing::warn!(job_id = job.id(), attempt, max, %error, "delivery failed");
            if attempt >= max {
                if let Err(e) = dead_letters::park(jobs, &data, job.id(), &error, attempt).await {
                    tracing::error!(error = %e, job_id = job.id(), "could not park a dead job");
                }
                // Errors name their channel first ("in-app: …", "webhook …", "email: …").
                let channel = if error.starts_with("in-app") {
                    Channel::InApp
                } else if error.starts_with("email") {
                    Channel::Email
                } else {
                    Channel::Webhook
                };
                delivery.announce(&data, channel, Some(&error)).await;
            }
            Err(bullmq::Error::ProcessingError(error))
        }
    }
}

/// A schedule's run: one delivery job per recipient, keyed by the run.
async fn fan_out(jobs: &Jobs, job: &Job) -> Result<serde_json::Value, bullmq::Error> {
    let template: ScheduledJob = serde_json::from_value(job.data().clone())
        .map_err(|e| bullmq::Error::Unrecoverable(format!("invalid schedule data: {e}")))?;
    let now = chrono::Utc::now().timestamp_millis();
    for user in &template.user_ids {
        let deliver = DeliverJob {
            key: format!("{}/{}", job.id(), user),
            recipient_id: user.clone(),
            category: template.category,
            title: template.title.clone(),
            body: template.body.clone(),
            data: template.data.clone(),
            requested_at_ms: now,
            replays: 0,
        };
        jobs.enqueue(&deliver, None)
            .await
            .map_err(|e| bullmq::Error::ProcessingError(e.to_string()))?;
    }
    Ok(json!({"recipients": template.user_ids.len()}))
}

/// Retries the dead-letter queue on a slow schedule. Replicas take turns through a Redis lock.
async fn sweep_dead_letters(
    lock_key: String,
    jobs: Jobs,
    mut redis: redis::aio::ConnectionManager,
    interval: Duration,
    max_replays: u32,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let lock: Result<bool, _> = redis::cmd("SET")
            .arg(&lock_key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(
                u64::try_from(interval.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1000),
            )
            .query_async(&mut redis)
            .await
            .map(|reply: Option<String>| reply.is_some());
        if !matches!(lock, Ok(true)) {
            continue;
        }
        match dead_letters::list(&jobs, 1000).await {
            Ok(parked) => {
                tracing::debug!(
                    parked = parked.len(),
                    "slow retry sweeping the dead-letter queue"
                );
                for dead in parked.into_iter().filter(|d| d.job.replays < max_replays) {
                    if let Err(e) = dead_letters::replay(&jobs, &dead.job_id, true).await {
                        tracing::warn!(error = %e, job_id = %dead.job_id, "slow retry failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the dead-letter queue"),
        }
        let _: Result<(), _> = redis.del(&lock_key).await;
    }
}

async fn report_queue_sizes(jobs: Jobs, stop: CancellationToken) {
    loop {
        for (name, queue) in [
            (jobs::QUEUE, &jobs.queue),
            (jobs::DEAD_LETTER_QUEUE, &jobs.dead_letters),
        ] {
            if let Ok(counts) = queue.get_job_counts().await {
                let gauge = |state: &str, value: u64| {
                    metrics::PIPELINE
                        .jobs
                        .with_label_values(&[name, state])
                        .set(i64::try_from(value).unwrap_or(i64::MAX));
                };
                gauge("waiting", counts.waiting);
                gauge("active", counts.active);
                gauge("delayed", counts.delayed);
                gauge("completed", counts.completed);
                gauge("failed", counts.failed);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

struct RedisCheck(redis::aio::ConnectionManager);

#[async_trait::async_trait]
impl ReadinessCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        let mut connection = self.0.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
