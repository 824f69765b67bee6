//! The pipeline's part of the metrics catalog.

use std::sync::LazyLock;

use herald_service::metrics::{counter_vec, gauge_vec, histogram_vec};
use herald_service::preferences::Channel;
use prometheus::{Histogram, HistogramVec, IntCounterVec, IntGaugeVec};

pub struct PipelineMetrics {
    pub deliveries: IntCounterVec,
    pub job_duration: HistogramVec,
    pub publish_to_inbox: Histogram,
    pub jobs: IntGaugeVec,
}

pub static PIPELINE: LazyLock<PipelineMetrics> = LazyLock::new(|| PipelineMetrics {
    deliveries: counter_vec(
        "herald_deliveries_total",
        "Deliveries by channel and outcome (delivered, duplicate, opted_out, capped, failed).",
        &["channel", "outcome"],
    ),
    job_duration: histogram_vec(
        "herald_job_duration_seconds",
        "Time to process one BullMQ job, by job name and outcome.",
        &["queue", "name", "outcome"],
    ),
    publish_to_inbox: histogram_vec(
        "herald_publish_to_inbox_seconds",
        "From the event (or API call) to the notification in the inbox.",
        &[],
    )
    .with_label_values(&[] as &[&str]),
    jobs: gauge_vec(
        "herald_jobs",
        "BullMQ jobs by queue and state (waiting, active, delayed, completed, failed).",
        &["queue", "state"],
    ),
});

pub fn delivery(channel: Channel, outcome: &str) {
    PIPELINE
        .deliveries
        .with_label_values(&[channel.as_str(), outcome])
        .inc();
}
