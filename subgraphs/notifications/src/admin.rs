//! The operator's side of the notifications subgraph (roles `admin` or `service`): sending
//! through the pipeline, repeating schedules, the dead-letter queue and webhook endpoints.

use std::time::Duration;

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};
use herald_service::auth::Role;
use herald_service::graphql::caller;
use herald_service::preferences::Category;
use herald_service::{ApiError, ErrorCode};
use rand::RngCore;

use crate::inbox::Inbox;
use crate::model::{NewNotification, WebhookEndpoint};
use crate::pipeline::jobs::{DeliverJob, Jobs, ScheduledJob, job_id};
use crate::pipeline::{dead_letters, schedules};

const MAX_RECIPIENTS: usize = 10_000;

fn operator(ctx: &Context<'_>) -> Result<(), ApiError> {
    caller(ctx)?.ensure_any_role(&[Role::Admin, Role::Service])
}

fn admin(ctx: &Context<'_>) -> Result<(), ApiError> {
    caller(ctx)?.ensure_any_role(&[Role::Admin])
}

fn jobs<'a>(ctx: &Context<'a>) -> &'a Jobs {
    ctx.data_unchecked::<Jobs>()
}

#[derive(InputObject)]
pub struct RepeatInput {
    /// Cron pattern (5 fields, or 6 with seconds), e.g. `0 9 * * MON` for Mondays at nine.
    cron: String,
    /// IANA time zone, e.g. `Europe/Paris`; UTC when absent.
    timezone: Option<String>,
}

#[derive(InputObject)]
pub struct SendNotificationInput {
    user_ids: Vec<ID>,
    category: Category,
    title: String,
    #[graphql(default)]
    body: String,
    data: Option<Json<serde_json::Value>>,
    /// Deliver no earlier than this.
    deliver_at: Option<DateTime<Utc>>,
    /// Repeat on a schedule instead of sending once; the idempotency key is the schedule id.
    repeat: Option<RepeatInput>,
    /// Sending again with the same key enqueues nothing new (per recipient), or, with
    /// `repeat`, updates that schedule.
    idempotency_key: String,
}

#[derive(SimpleObject)]
pub struct SendNotificationPayload {
    /// One delivery job per recipient (empty for a schedule).
    job_ids: Vec<ID>,
    schedule_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct ScheduledNotification {
    id: ID,
    cron: String,
    timezone: Option<String>,
    next_run_at: Option<DateTime<Utc>>,
    runs: i64,
    category: Option<Category>,
    title: Option<String>,
    user_ids: Vec<ID>,
}

#[derive(SimpleObject)]
pub struct DeadLetter {
    /// The failed job's id; replay and discard take it.
    id: ID,
    recipient_id: ID,
    category: Category,
    title: String,
    /// The last attempt's error.
    error: String,
    attempts: i32,
    failed_at: DateTime<Utc>,
    /// Automatic replays so far.
    replays: i32,
}

#[derive(SimpleObject)]
#[graphql(name = "WebhookEndpoint")]
pub struct WebhookEndpointInfo {
    id: ID,
    url: String,
    categories: Vec<Category>,
    created_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookEndpointInfo {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: ID(e.id),
            url: e.url,
            categories: e.categories,
            created_at: e.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct RegisteredWebhook {
    endpoint: WebhookEndpointInfo,
    /// The HMAC-SHA256 key for `X-Herald-Signature`. Shown only now: store it.
    secret: String,
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    async fn scheduled_notifications(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<ScheduledNotification>, ApiError> {
        operator(ctx)?;
        let list = schedules::list(jobs(ctx)).await?;
        Ok(list
            .into_iter()
            .map(|s| ScheduledNotification {
                id: ID(s.id),
                cron: s.cron,
                timezone: s.timezone,
                next_run_at: s.next_run,
                runs: i64::try_from(s.runs).unwrap_or(i64::MAX),
                category: s.template.as_ref().map(|t| t.category),
                title: s.template.as_ref().map(|t| t.title.clone()),
                user_ids: s
                    .template
                    .map(|t| t.user_ids.into_iter().map(ID).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// Jobs that exhausted their attempts, oldest first, with why they failed.
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<DeadLetter>, ApiError> {
        operator(ctx)?;
        let limit = usize::try_from(first.clamp(1, 1000)).unwrap_or(50);
        let parked = dead_letters::list(jobs(ctx), limit)
            .await
            .map_err(ApiError::internal)?;
        Ok(parked
            .into_iter()
            .map(|d| DeadLetter {
                id: ID(d.job_id),
                recipient_id: ID(d.job.recipient_id),
                category: d.job.category,
                title: d.job.title,
                error: d.error,
                attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
                failed_at: Utc
                    .timestamp_millis_opt(d.failed_at_ms)
                    .single()
                    .unwrap_or_default(),
                replays: i32::try_from(d.job.replays).unwrap_or(i32::MAX),
            })
            .collect())
    }

    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<WebhookEndpointInfo>, ApiError> {
        admin(ctx)?;
        let inbox = ctx.data_unchecked::<std::sync::Arc<Inbox>>();
        Ok(inbox
            .store()
            .list_webhooks()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Sends through the delivery pipeline (preferences, channels, retries), now, at
    /// `deliverAt`, or on a `repeat` schedule.
    async fn send_notification(
        &self,
        ctx: &Context<'_>,
        input: SendNotificationInput,
    ) -> Result<SendNotificationPayload, ApiError> {
        operator(ctx)?;
        if input.user_ids.is_empty() || input.user_ids.len() > MAX_RECIPIENTS {
            return Err(ApiError::bad_input(
                "userIds",
                format!("between 1 and {MAX_RECIPIENTS} recipients"),
            ));
        }
        let data = input.data.map(|j| j.0).unwrap_or(serde_json::Value::Null);
        for user in &input.user_ids {
            NewNotification {
                recipient_id: user.to_string(),
                category: input.category,
                title: input.title.clone(),
                body: input.body.clone(),
                data: data.clone(),
                idempotency_key: input.idempotency_key.clone(),
                read: false,
            }
            .validate()?;
        }
        let jobs = jobs(ctx);
        if let Some(repeat) = input.repeat {
            if input.deliver_at.is_some() {
                return Err(ApiError::bad_input(
                    "deliverAt",
                    "deliverAt and repeat cannot be combined",
                ));
            }
            let schedule_id = job_id(&input.idempotency_key);
            let template = ScheduledJob {
                schedule_id: schedule_id.clone(),
                user_ids: input.user_ids.iter().map(|u| u.to_string()).collect(),
                category: input.category,
                title: input.title.trim().to_owned(),
                body: input.body,
                data,
            };
            schedules::upsert(jobs, &template, &repeat.cron, repeat.timezone.as_deref()).await?;
            return Ok(SendNotificationPayload {
                job_ids: Vec::new(),
                schedule_id: Some(ID(schedule_id)),
            });
        }
        let delay = input
            .deliver_at
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .filter(|d| !d.is_zero());
        let now = Utc::now().timestamp_millis();
        let mut job_ids = Vec::with_capacity(input.user_ids.len());
        for user in input.user_ids {
            let job = DeliverJob {
                key: format!("{}/{}", input.idempotency_key, user.as_str()),
                recipient_id: user.to_string(),
                category: input.category,
                title: input.title.trim().to_owned(),
                body: input.body.clone(),
                data: data.clone(),
                requested_at_ms: now,
                replays: 0,
            };
            job_ids.push(ID(jobs
                .enqueue(&job, delay)
                .await
                .map_err(ApiError::internal)?));
        }
        Ok(SendNotificationPayload {
            job_ids,
            schedule_id: None,
        })
    }

    async fn cancel_scheduled_notification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<bool, ApiError> {
        operator(ctx)?;
        schedules::cancel(jobs(ctx), &id).await
    }

    async fn replay_dead_letter(&self, ctx: &Context<'_>, id: ID) -> Result<bool, ApiError> {
        operator(ctx)?;
        dead_letters::replay(jobs(ctx), &id, false)
            .await
            .map_err(ApiError::internal)
    }

    async fn replay_all_dead_letters(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        operator(ctx)?;
        let replayed = dead_letters::replay_all(jobs(ctx))
            .await
            .map_err(ApiError::internal)?;
        Ok(i32::try_from(replayed).unwrap_or(i32::MAX))
    }

    async fn discard_dead_letter(&self, ctx: &Context<'_>, id: ID) -> Result<bool, ApiError> {
        operator(ctx)?;
        dead_letters::discard(jobs(ctx), &id)
            .await
            .map_err(ApiError::internal)
    }

    /// Registers an endpoint (the shop's push relay, its CRM) for notifications of some
    /// categories. The response carries the signing secret, once.
    async fn register_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        url: String,
        categories: Vec<Category>,
    ) -> Result<RegisteredWebhook, ApiError> {
        admin(ctx)?;
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|_| ApiError::bad_input("url", "not a valid URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ApiError::bad_input(
                "url",
                "the URL must be http(s) with a host",
            ));
        }
        if categories.is_empty() {
            return Err(ApiError::bad_input(
                "categories",
                "name at least one category",
            ));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let endpoint = WebhookEndpoint {
            id: uuid::Uuid::new_v4().to_string(),
            url: parsed.to_string(),
            categories,
            secret: format!("whsec_{}", hex::encode(bytes)),
            created_at: crate::model::now_millis(),
        };
        let inbox = ctx.data_unchecked::<std::sync::Arc<Inbox>>();
        inbox.store().create_webhook(&endpoint).await?;
        let secret = endpoint.secret.clone();
        Ok(RegisteredWebhook {
            endpoint: endpoint.into(),
            secret,
        })
    }

    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool, ApiError> {
        admin(ctx)?;
        let inbox = ctx.data_unchecked::<std::sync::Arc<Inbox>>();
        let deleted = inbox.store().delete_webhook(&id).await?;
        if deleted {
            Ok(true)
        } else {
            Err(ApiError::new(
                ErrorCode::NotFound,
                "webhook endpoint not found",
            ))
        }
    }
}
