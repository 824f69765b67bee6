//! Delivering one job: the recipient's preferences decide the channels; the in-app write is
//! idempotent on the job's key, and each webhook delivery is remembered once it succeeds, so
//! retries and replays never deliver anything twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use herald_service::events::{Envelope, Publisher, routing};
use herald_service::preferences::{Category, Channel, Preferences};
use hmac::{Hmac, Mac};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::email::Mailer;
use super::jobs::DeliverJob;
use super::metrics;
use crate::inbox::Inbox;
use crate::model::{NewNotification, RecipientProfile, WebhookEndpoint};

const DELIVERED_MARKER_TTL_SECS: u64 = 7 * 86_400;

/// Where to ask for a profile the replica does not have yet.
#[derive(Clone)]
pub struct UsersService {
    pub base_url: String,
    pub token: String,
}

/// Counts a job against its recipient's daily cap, once per job however often it is retried:
/// the set of the day's job keys is the counter.
const CAP_SCRIPT: &str = r#"
local added = redis.call('SADD', KEYS[1], ARGV[1])
if added == 1 then
  if redis.call('SCARD', KEYS[1]) > tonumber(ARGV[2]) then
    redis.call('SREM', KEYS[1], ARGV[1])
    return 0
  end
  redis.call('EXPIRE', KEYS[1], 172800)
end
return 1
"#;

pub struct Delivery {
    mailer: Option<Mailer>,
    caps: BTreeMap<Category, u32>,
    cap_script: redis::Script,
    inbox: Arc<Inbox>,
    publisher: Arc<Publisher>,
    http: reqwest::Client,
    redis: redis::aio::ConnectionManager,
    users: Option<UsersService>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub in_app: Option<String>,
    pub webhooks: usize,
    pub email: bool,
    pub skipped: Vec<&'static str>,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    delivery_id: &'a str,
    user_id: &'a str,
    notification: WebhookNotification<'a>,
    sent_at: String,
}

#[derive(Serialize)]
struct WebhookNotification<'a> {
    id: Option<&'a str>,
    category: &'static str,
    title: &'a str,
    body: &'a str,
    data: &'a Value,
}

/// `X-Herald-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Deserialize)]
struct UserResponse {
    notification_preferences: Preferences,
    email: Option<String>,
    updated_at: chrono::DateTime<Utc>,
}

impl Delivery {
    pub fn new(
        inbox: Arc<Inbox>,
        publisher: Arc<Publisher>,
        redis: redis::aio::ConnectionManager,
        users: Option<UsersService>,
        webhook_timeout: Duration,
        caps: BTreeMap<Category, u32>,
        mailer: Option<Mailer>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(webhook_timeout)
            .user_agent("herald-webhooks/1")
            .build()
            .unwrap_or_default();
        Self {
            mailer,
            caps,
            cap_script: redis::Script::new(CAP_SCRIPT),
            inbox,
            publisher,
            http,
            redis,
            users,
        }
    }

    /// The replica's preferences and email; on a miss, the users service's (stored for next
    /// time); without a users service, the defaults and no email.
    async fn profile(&self, user_id: &str) -> Result<(Preferences, Option<String>), String> {
        let store = self.inbox.store();
        if let Some(profile) = store
            .get_profile(user_id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok((profile.preferences, profile.email));
        }
        let Some(users) = &self.users else {
            return Ok((Preferences::default(), None));
        };
        let response = self
            .http
            .get(format!(
                "{}/users/{user_id}",
                users.base_url.trim_end_matches('/')
            ))
            .bearer_auth(&users.token)
            .send()
            .await
            .map_err(|e| format!("users service unreachable: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok((Preferences::default(), None));
        }
        let user: UserResponse = response
            .error_for_status()
            .map_err(|e| format!("users service: {e}"))?
            .json()
            .await
            .map_err(|e| format!("users service: {e}"))?;
        let profile = RecipientProfile {
            user_id: user_id.to_owned(),
            preferences: user.notification_preferences,
            email: user.email,
            updated_at: user.updated_at,
        };
        store
            .upsert_profile(&profile)
            .await
            .map_err(|e| e.to_string())?;
        Ok((profile.preferences, profile.email))
    }

    /// Whether the job fits under its recipient's daily cap for its category.
    async fn within_cap(&self, job: &DeliverJob) -> Result<bool, String> {
        let Some(cap) = self.caps.get(&job.category) else {
            return Ok(true);
        };
        let day = Utc::now().format("%Y-%m-%d");
        let key = format!(
            "herald:cap:{}:{}:{day}",
            job.recipient_id,
            job.category.as_str()
        );
        let mut redis = self.redis.clone();
        let allowed: i64 = self
            .cap_script
            .key(key)
            .arg(&job.key)
            .arg(*cap)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| format!("frequency cap: {e}"))?;
        Ok(allowed == 1)
    }

    pub async fn deliver(&self, job: &DeliverJob) -> Result<Report, String> {
        let (preferences, email) = self.profile(&job.recipient_id).await?;
        let mut report = Report::default();
        if !self.within_cap(job).await? {
            metrics::delivery(Channel::InApp, "capped");
            report.skipped.push("FREQUENCY_CAP");
            return Ok(report);
        }
        let mut errors = Vec::new();

        if preferences.allows(job.category, Channel::InApp) {
            let (notification, created) = self
                .inbox
                .create(NewNotification {
                    recipient_id: job.recipient_id.clone(),
                    category: job.category,
                    title: job.title.clone(),
                    body: job.body.clone(),
                    data: job.data.clone(),
                    idempotency_key: job.key.clone(),
                    read: false,
                })
                .await
                .map_err(|e| format!("in-app: {}", e.message))?;
            if created {
                let latency = (Utc::now().timestamp_millis() - job.requested_at_ms).max(0);
                metrics::PIPELINE
                    .publish_to_inbox
                    .observe(latency as f64 / 1000.0);
                self.announce(job, Channel::InApp, None).await;
            }
            metrics::delivery(
                Channel::InApp,
                if created { "delivered" } else { "duplicate" },
            );
            report.in_app = Some(notification.id);
        } else {
            metrics::delivery(Channel::InApp, "opted_out");
            report.skipped.push("IN_APP");
        }

        if preferences.allows(job.category, Channel::Webhook) {
            let endpoints = self
                .inbox
                .store()
                .list_webhooks()
                .await
                .map_err(|e| e.to_string())?;
            for endpoint in endpoints
                .iter()
                .filter(|e| e.categories.contains(&job.category))
            {
                match self
                    .webhook_once(job, endpoint, report.in_app.as_deref())
                    .await
                {
                    Ok(()) => report.webhooks += 1,
                    Err(e) => {
                        metrics::delivery(Channel::Webhook, "failed");
                        errors.push(format!("webhook {}: {e}", endpoint.url));
                    }
                }
            }
        } else {
            metrics::delivery(Channel::Webhook, "opted_out");
            report.skipped.push("WEBHOOK");
        }

        if let Some(mailer) = &self.mailer {
            match (&email, preferences.allows(job.category, Channel::Email)) {
                (Some(address), true) => match self.email_once(mailer, job, address).await {
                    Ok(()) => report.email = true,
                    Err(e) => {
                        metrics::delivery(Channel::Email, "failed");
                        errors.push(format!("email: {e}"));
                    }
                },
                (None, true) => report.skipped.push("EMAIL_NO_ADDRESS"),
                (_, false) => {
                    metrics::delivery(Channel::Email, "opted_out");
                    report.skipped.push("EMAIL");
                }
            }
        }

        if errors.is_empty() {
            Ok(report)
        } else {
            Err(errors.join("; "))
        }
    }

    async fn email_once(
        &self,
        mailer: &Mailer,
        job: &DeliverJob,
        address: &str,
    ) -> Result<(), String> {
        let marker = format!("herald:email-delivered:{}", job.key);
        let mut redis = self.redis.clone();
        let done: bool = redis.exists(&marker).await.map_err(|e| e.to_string())?;
        if done {
            return Ok(());
        }
        mailer.send(address, &job.title, &job.body).await?;
        let _: () = redis
            .set_ex(&marker, 1, DELIVERED_MARKER_TTL_SECS)
            .await
            .map_err(|e| e.to_string())?;
        metrics::delivery(Channel::Email, "delivered");
        self.announce(job, Channel::Email, None).await;
        Ok(())
    }

    /// Posts to one endpoint unless an earlier attempt of this job already succeeded there.
    async fn webhook_once(
        &self,
        job: &DeliverJob,
        endpoint: &WebhookEndpoint,
        notification_id: Option<&str>,
    ) -> Result<(), String> {
        let marker = format!("herald:webhook-delivered:{}:{}", job.key, endpoint.id);
        let mut redis = self.redis.clone();
        let done: bool = redis.exists(&marker).await.map_err(|e| e.to_string())?;
        if done {
            return Ok(());
        }
        let body = serde_json::to_vec(&WebhookBody {
            delivery_id: &job.key,
            user_id: &job.recipient_id,
            notification: WebhookNotification {
                id: notification_id,
                category: job.category.as_str(),
                title: &job.title,
                body: &job.body,
                data: &job.data,
            },
            sent_at: Utc::now().to_rfc3339(),
        })
        .map_err(|e| e.to_string())?;
        let timestamp = Utc::now().timestamp();
        let response = self
            .http
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("x-herald-delivery", &job.key)
            .header("x-herald-timestamp", timestamp.to_string())
            .header(
                "x-herald-signature",
                sign(&endpoint.secret, timestamp, &body),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    "unreachable".to_owned()
                }
            })?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status().as_u16()));
        }
        let _: () = redis
            .set_ex(&marker, 1, DELIVERED_MARKER_TTL_SECS)
            .await
            .map_err(|e| e.to_string())?;
        metrics::delivery(Channel::Webhook, "delivered");
        self.announce(job, Channel::Webhook, None).await;
        Ok(())
    }

    /// `notification.delivered` / `notification.failed` for analytics; best effort.
    pub async fn announce(&self, job: &DeliverJob, channel: Channel, error: Option<&str>) {
        let (kind, data) = match error {
            None => (
                routing::NOTIFICATION_DELIVERED,
                json!({"notification_id": job.key, "user_id": job.recipient_id,
                       "category": job.category.as_str(), "channel": channel.as_str()}),
            ),
            Some(error) => (
                routing::NOTIFICATION_FAILED,
                json!({"notification_id": job.key, "user_id": job.recipient_id,
                       "category": job.category.as_str(), "channel": channel.as_str(), "error": error}),
            ),
        };
        if let Err(e) = self.publisher.publish(&Envelope::new(kind, data)).await {
            tracing::debug!(error = %e, "delivery event not published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let a = sign("secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, sign("secret", 1_700_000_001, b"{}"));
        assert_ne!(a, sign("other", 1_700_000_000, b"{}"));
        assert_ne!(a, sign("secret", 1_700_000_000, b"{ }"));
    }
}
