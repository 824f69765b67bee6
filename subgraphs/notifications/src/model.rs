//! The inbox's domain types, independent of where they are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use herald_service::ApiError;
use herald_service::preferences::Category;
use serde::{Deserialize, Serialize};

pub const TITLE_MAX: usize = 200;
pub const BODY_MAX: usize = 5_000;
pub const DATA_MAX_BYTES: usize = 16 * 1024;
pub const IDEMPOTENCY_KEY_MAX: usize = 200;
pub const PAGE_MAX: usize = 100;
pub const PAGE_DEFAULT: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub recipient_id: String,
    pub category: Category,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl Notification {
    pub fn is_read(&self) -> bool {
        self.read_at.is_some()
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

/// What a writer asks for; the store assigns id and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub recipient_id: String,
    pub category: Category,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub idempotency_key: String,
    /// Create it already read (the seed REST API allows this).
    pub read: bool,
}

impl NewNotification {
    /// Checks sizes and shapes; what passes can be stored by every adapter.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.recipient_id.trim().is_empty() || self.recipient_id.len() > 128 {
            return Err(ApiError::bad_input(
                "recipientId",
                "a recipient id is required (at most 128 characters)",
            ));
        }
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > TITLE_MAX {
            return Err(ApiError::bad_input(
                "title",
                format!("the title must have 1 to {TITLE_MAX} characters"),
            ));
        }
        if self.body.chars().count() > BODY_MAX {
            return Err(ApiError::bad_input(
                "body",
                format!("the body must have at most {BODY_MAX} characters"),
            ));
        }
        if !(self.data.is_object() || self.data.is_null()) {
            return Err(ApiError::bad_input("data", "data must be a JSON object"));
        }
        if serde_json::to_vec(&self.data)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
            > DATA_MAX_BYTES
        {
            return Err(ApiError::bad_input(
                "data",
                "data must be at most 16 KiB of JSON",
            ));
        }
        let key = self.idempotency_key.trim();
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX {
            return Err(ApiError::bad_input(
                "idempotencyKey",
                format!("the idempotency key must have 1 to {IDEMPOTENCY_KEY_MAX} characters"),
            ));
        }
        Ok(())
    }
}

/// The instant a new notification is stamped with: millisecond precision, because that is
/// what every store keeps (MongoDB dates are milliseconds), so cursors compare equal everywhere.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    Utc.timestamp_millis_opt(now.timestamp_millis())
        .single()
        .unwrap_or(now)
}

/// A position in a newest-first listing: (created_at, id), both descending. New arrivals sort
/// before every cursor already handed out, so paging never skips or repeats rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_millis(),
            self.id
        ))
    }

    pub fn decode(text: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_input("after", "invalid cursor");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let (millis, id) = raw.split_once('|').ok_or_else(invalid)?;
        let millis: i64 = millis.parse().map_err(|_| invalid())?;
        let created_at = Utc
            .timestamp_millis_opt(millis)
            .single()
            .ok_or_else(invalid)?;
        if id.is_empty() || id.len() > 64 {
            return Err(invalid());
        }
        Ok(Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// What the delivery pipeline knows of a recipient: a replica of the users service's data,
/// fed by `user.registered` / `user.preferences_updated`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientProfile {
    pub user_id: String,
    pub preferences: herald_service::preferences::Preferences,
    pub email: Option<String>,
    /// When the users service made the change; older events never overwrite newer ones.
    pub updated_at: DateTime<Utc>,
}

/// A shop endpoint (push relay, CRM) that receives notifications of some categories.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub categories: Vec<Category>,
    /// The HMAC-SHA256 key; shown to the admin once, at registration.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub unread_only: bool,
    pub category: Option<Category>,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: usize,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// `first` defaults to 20 and is capped at 100; negative is an input error.
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<Self, ApiError> {
        let first = match first {
            None => PAGE_DEFAULT,
            Some(n) if n < 0 => {
                return Err(ApiError::bad_input("first", "first must not be negative"));
            }
            Some(n) => usize::try_from(n).unwrap_or(PAGE_MAX).min(PAGE_MAX),
        };
        let after = after.map(Cursor::decode).transpose()?;
        Ok(Self { first, after })
    }
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Notification>,
    pub has_next_page: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: now_millis(),
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decode"), cursor);
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("no-separator")).is_err());
    }

    #[test]
    fn page_size_is_capped() {
        assert_eq!(PageRequest::new(Some(1000), None).expect("ok").first, 100);
        assert_eq!(PageRequest::new(None, None).expect("ok").first, 20);
        assert!(PageRequest::new(Some(-1), None).is_err());
    }
}
