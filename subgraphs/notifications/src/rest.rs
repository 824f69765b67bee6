//! The seed system's REST routes, as a thin layer over the inbox.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_service::ApiError;
use herald_service::auth::{Authenticated, Role};
use herald_service::http::JsonBody;
use herald_service::preferences::Category;
use serde::{Deserialize, Serialize};

use crate::model::{ListFilter, NewNotification, Notification, PageRequest};
use crate::startup::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications", post(create))
        .route("/notifications/unread", get(unread))
        .route("/notifications/{id}/read", put(mark_read))
        .route("/send-notification", post(send))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    user_id: String,
    #[serde(rename = "type")]
    kind: String,
    content: String,
    #[serde(default)]
    read: bool,
}

/// The seed API's notification shape.
#[derive(Serialize)]
struct SeedNotification {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    content: String,
    sent_at: DateTime<Utc>,
    read: bool,
}

impl From<Notification> for SeedNotification {
    fn from(n: Notification) -> Self {
        Self {
            kind: n.category.seed_name(),
            read: n.is_read(),
            id: n.id,
            user_id: n.recipient_id,
            content: n.body,
            sent_at: n.created_at,
        }
    }
}

/// The seed API had no idempotency; clients that send `Idempotency-Key` get it now.
fn idempotency_key(headers: &HeaderMap) -> String {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub fn default_title(category: Category) -> &'static str {
    match category {
        Category::Promotions => "A promotion for you",
        Category::OrderUpdates => "Order update",
        Category::Recommendations => "Recommended for you",
        Category::Account => "Account notice",
    }
}

async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    caller.ensure_any_role(&[Role::Service, Role::Admin])?;
    let key = idempotency_key(&headers);
    let category = Category::from_seed_type(&body.kind);
    let (notification, created) = state
        .inbox
        .create(NewNotification {
            recipient_id: body.user_id,
            category,
            title: default_title(category).into(),
            body: body.content,
            data: serde_json::Value::Null,
            idempotency_key: key,
            read: body.read,
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SeedNotification::from(notification))))
}

async fn unread(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<SeedNotification>>, ApiError> {
    let page = PageRequest::new(Some(100), None)?;
    let filter = ListFilter {
        unread_only: true,
        category: None,
    };
    let result = state.inbox.list(&caller.subject, &filter, &page).await?;
    Ok(Json(
        result
            .items
            .into_iter()
            .map(SeedNotification::from)
            .collect(),
    ))
}

async fn mark_read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.inbox.set_read(&caller.subject, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    user_id: String,
    message: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize)]
struct Enqueued {
    job_id: String,
}

/// Enqueues a delivery through the pipeline (preferences, channels, retries).
async fn send(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SendBody>,
) -> Result<impl IntoResponse, ApiError> {
    caller.ensure_any_role(&[Role::Service, Role::Admin])?;
    let key = idempotency_key(&headers);
    let category = Category::from_seed_type(&body.kind);
    let job = crate::pipeline::jobs::DeliverJob {
        key: format!("{key}/{}", body.user_id),
        recipient_id: body.user_id,
        category,
        title: default_title(category).into(),
        body: body.message,
        data: serde_json::Value::Null,
        requested_at_ms: Utc::now().timestamp_millis(),
        replays: 0,
    };
    NewNotification {
        recipient_id: job.recipient_id.clone(),
        category,
        title: job.title.clone(),
        body: job.body.clone(),
        data: serde_json::Value::Null,
        idempotency_key: job.key.clone(),
        read: false,
    }
    .validate()?;
    let job_id = state
        .jobs
        .enqueue(&job, None)
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(Enqueued { job_id })))
}
