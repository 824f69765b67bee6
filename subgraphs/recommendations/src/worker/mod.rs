//! The worker role: consumes `order.placed` and `product.viewed` from RabbitMQ into the
//! activity log, and runs the `recommendations` BullMQ queue — the scheduled full recompute
//! (rebuild the model, rescore active shoppers, publish what changed) and the per-shopper
//! refresh after a purchase. Several replicas can run: RabbitMQ spreads messages, BullMQ
//! spreads jobs, and the job scheduler fires once per period whatever the replica count.

pub mod consumer;
pub mod jobs;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use bullmq::worker::CancellationToken as JobToken;
use bullmq::{Job, Worker as BullWorker, WorkerOptions};
use futures::{FutureExt, StreamExt};
use herald_service::consumer::EventConsumer;
use herald_service::events::Publisher;
use herald_service::http::{self, ReadinessCheck};
use herald_service::metrics::RECOMMENDATIONS as METRICS;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::jobs::{Jobs, RECOMPUTE, REFRESH_USER, RefreshUserJob};
use crate::recommender::{Recommender, Refresh};
use crate::settings::Settings;
use crate::startup::{StoreCheck, open_recommender};

/// Shoppers rescored at once during a recompute.
const RESCORE_CONCURRENCY: usize = 16;

pub struct RecommendationsWorker {
    settings: Settings,
    listener: TcpListener,
    jobs: Jobs,
    recommender: Arc<Recommender>,
    publisher: Arc<Publisher>,
    consumer: Arc<EventConsumer>,
    dirty: Arc<AtomicBool>,
    port: u16,
}

pub async fn connect_jobs(settings: &Settings) -> anyhow::Result<Jobs> {
    let r = &settings.recommendations;
    Jobs::connect(
        &settings.common.redis_url,
        &r.queue_prefix,
        Duration::from_millis(r.refresh_delay_ms),
    )
    .await
}

impl RecommendationsWorker {
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let r = &settings.recommendations;
        let recommender = open_recommender(&settings).await?;
        let jobs = connect_jobs(&settings).await?;
        let publisher = Arc::new(Publisher::new(
            settings.common.amqp_url.clone(),
            "recommendations",
        ));
        let dirty = Arc::new(AtomicBool::new(false));
        let consumer = Arc::new(EventConsumer {
            service: "recommendations",
            amqp_url: settings.common.amqp_url.clone(),
            queue: r.events_queue.clone(),
            queue_expires_ms: r.events_queue_expires_ms,
            prefetch: r.prefetch,
            bindings: &consumer::BINDINGS,
            handler: Arc::new(consumer::Events {
                store: recommender.store().clone(),
                jobs: jobs.clone(),
                dirty: dirty.clone(),
            }),
        });
        let listener = http::listener_or_bind(listener, &r.worker_host, r.worker_port).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            settings,
            listener,
            jobs,
            recommender,
            publisher,
            consumer,
            dirty,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let r = &self.settings.recommendations;
        let stop = CancellationToken::new();

        // A fresh install has no model until the first recompute; build one now.
        if self.recommender.store().versions().await?.model == 0 {
            self.recommender.rebuild_model().await?;
        }
        self.jobs
            .schedule_recompute(&r.recompute_cron, r.recompute_timezone.as_deref())
            .await?;

        let processor = {
            let recommender = self.recommender.clone();
            let publisher = self.publisher.clone();
            let dirty = self.dirty.clone();
            move |job: Job, _token: JobToken| {
                let recommender = recommender.clone();
                let publisher = publisher.clone();
                let dirty = dirty.clone();
                async move {
                    // A panic must fail the job, not leave it locked forever.
                    std::panic::AssertUnwindSafe(process(recommender, publisher, dirty, job))
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
            .prefix(r.queue_prefix.clone())
            .concurrency(4)
            .stalled_interval(Duration::from_secs(30))
            // A recompute of a large shop takes a while; the lock is renewed meanwhile.
            .lock_duration(Duration::from_secs(60));
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
        let refresher = tokio::spawn(refresh_model_when_dirty(
            self.recommender.clone(),
            self.dirty.clone(),
            Duration::from_secs(r.model_refresh_secs),
            stop.clone(),
        ));

        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(StoreCheck(self.recommender.store().clone())),
            Arc::new(BrokerCheck(self.publisher.clone())),
        ];
        let router = http::service_router("recommendations-worker", Router::new(), checks);
        tracing::info!(port = self.port, "recommendations worker running");
        let served = http::serve(self.listener, router, shutdown).await;

        stop.cancel();
        let _ = consumer.await;
        if let Err(e) = worker.close(30_000).await {
            tracing::warn!(error = %e, "worker did not close cleanly");
        }
        let _ = tokio::join!(drain, refresher);
        Ok(served?)
    }
}

async fn process(
    recommender: Arc<Recommender>,
    publisher: Arc<Publisher>,
    dirty: Arc<AtomicBool>,
    job: Job,
) -> Result<serde_json::Value, bullmq::Error> {
    match job.name() {
        RECOMPUTE => {
            dirty.store(false, Ordering::Relaxed);
            recompute(&recommender, &publisher)
                .await
                .map_err(|e| bullmq::Error::ProcessingError(format!("{e:#}")))
        }
        REFRESH_USER => {
            // Every purchase, from an event or the API, comes through here: the model is
            // now behind.
            dirty.store(true, Ordering::Relaxed);
            let data: RefreshUserJob = serde_json::from_value(job.data().clone())
                .map_err(|e| bullmq::Error::Unrecoverable(format!("invalid job data: {e}")))?;
            let outcome = recommender
                .refresh_user(&data.user_id, data.after_purchase, &publisher)
                .await
                .map_err(|e| bullmq::Error::ProcessingError(format!("{e:#}")))?;
            Ok(json!({"published": matches!(outcome, Refresh::Published(_))}))
        }
        other => Err(bullmq::Error::Unrecoverable(format!("unknown job {other}"))),
    }
}

/// The full recompute: a new model, then every active shopper rescored and published when
/// their top products changed meaningfully. Fails (and is retried) if any publication failed;
/// shoppers already published are then unchanged and not published twice.
pub async fn recompute(
    recommender: &Arc<Recommender>,
    publisher: &Arc<Publisher>,
) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let version = recommender.rebuild_model().await?;
    let users = recommender.active_users(chrono::Utc::now()).await?;
    let outcomes: Vec<anyhow::Result<Refresh>> = futures::stream::iter(users.clone())
        .map(|user| {
            let recommender = recommender.clone();
            let publisher = publisher.clone();
            async move { recommender.refresh_user(&user, false, &publisher).await }
        })
        .buffer_unordered(RESCORE_CONCURRENCY)
        .collect()
        .await;
    let mut published = 0u64;
    let mut failed = 0u64;
    for outcome in &outcomes {
        match outcome {
            Ok(Refresh::Published(_)) => published += 1,
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                tracing::warn!(error = %e, "rescoring a shopper failed");
            }
        }
    }
    METRICS
        .recompute_duration
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        version,
        users = users.len(),
        published,
        failed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recompute finished"
    );
    anyhow::ensure!(failed == 0, "{failed} of {} shoppers failed", users.len());
    Ok(json!({"model_version": version, "users": users.len(), "published": published}))
}

/// Between scheduled recomputes, keeps the model no more than `interval` behind purchases.
async fn refresh_model_when_dirty(
    recommender: Arc<Recommender>,
    dirty: Arc<AtomicBool>,
    interval: Duration,
    stop: CancellationToken,
) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if dirty.swap(false, Ordering::Relaxed)
            && let Err(e) = recommender.rebuild_model().await
        {
            tracing::warn!(error = %e, "model refresh failed; will retry");
            dirty.store(true, Ordering::Relaxed);
        }
    }
}

struct BrokerCheck(Arc<Publisher>);

#[async_trait::async_trait]
impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }
}
