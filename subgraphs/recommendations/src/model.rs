//! The recommendations domain: products, shoppers' activity, the precomputed model and what
//! was last published to a shopper.

use chrono::{DateTime, Utc};
use herald_service::ApiError;
use serde::{Deserialize, Serialize};

/// A product of the catalog. Prices are kept in cents so that sums and comparisons are exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub in_stock: bool,
}

pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_CATEGORY_LEN: usize = 64;
/// A price above this is a typo in cents, not a product.
pub const MAX_PRICE_CENTS: i64 = 10_000_000_000;

/// Ids are opaque, but they travel in URLs, BullMQ job ids and log lines: keep them printable.
pub fn validate_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ApiError::bad_input(
            field,
            format!("must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(ApiError::bad_input(
            field,
            "may only hold letters, digits and - _ . :",
        ));
    }
    Ok(())
}

/// Categories are compared case-insensitively; the catalog stores them lower-case.
pub fn normalize_category(field: &str, category: &str) -> Result<String, ApiError> {
    let normalized = category.trim().to_lowercase();
    if normalized.is_empty() || normalized.len() > MAX_CATEGORY_LEN {
        return Err(ApiError::bad_input(
            field,
            format!("must be 1 to {MAX_CATEGORY_LEN} characters"),
        ));
    }
    if !normalized
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ' | '&'))
    {
        return Err(ApiError::bad_input(
            field,
            "may only hold letters, digits, spaces and - _ &",
        ));
    }
    Ok(normalized)
}

impl Product {
    /// Checks and normalises a product from any source (the catalog file, `upsertProducts`).
    pub fn validated(mut self, field: &str) -> Result<Self, ApiError> {
        validate_id(&format!("{field}.id"), &self.id)?;
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_LEN {
            return Err(ApiError::bad_input(
                format!("{field}.name"),
                format!("must be 1 to {MAX_NAME_LEN} characters"),
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(ApiError::bad_input(
                format!("{field}.name"),
                "must not hold control characters",
            ));
        }
        self.category = normalize_category(&format!("{field}.category"), &self.category)?;
        if !(0..=MAX_PRICE_CENTS).contains(&self.price_cents) {
            return Err(ApiError::bad_input(
                format!("{field}.price"),
                "must be between 0 and 100,000,000",
            ));
        }
        Ok(self)
    }

    pub fn price(&self) -> f64 {
        self.price_cents as f64 / 100.0
    }
}

/// Converts a decimal price to cents, refusing what is not a price.
pub fn price_to_cents(field: &str, price: f64) -> Result<i64, ApiError> {
    if !price.is_finite() || price < 0.0 || price > (MAX_PRICE_CENTS / 100) as f64 {
        return Err(ApiError::bad_input(
            field,
            "must be between 0 and 100,000,000",
        ));
    }
    Ok((price * 100.0).round() as i64)
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivityKind {
    Viewed,
    AddedToCart,
    Purchased,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Viewed => "VIEWED",
            ActivityKind::AddedToCart => "ADDED_TO_CART",
            ActivityKind::Purchased => "PURCHASED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "VIEWED" => Some(ActivityKind::Viewed),
            "ADDED_TO_CART" => Some(ActivityKind::AddedToCart),
            "PURCHASED" => Some(ActivityKind::Purchased),
            _ => None,
        }
    }
}

/// One thing a shopper did with a product. `id` makes recording idempotent: an event's
/// envelope id (plus the line of an order), or a client-chosen key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    pub user_id: String,
    pub product_id: String,
    pub kind: ActivityKind,
    pub occurred_at: DateTime<Utc>,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecommendationReason {
    /// Shoppers who bought what this shopper engaged with also bought it.
    BoughtTogether,
    /// Shoppers who viewed or carted what this shopper engaged with also looked at it.
    ViewedTogether,
    /// Popular in the categories the shopper prefers (stated, or inferred from their views).
    MatchesPreferences,
    /// Popular with everyone: nothing is known about the shopper yet.
    Popular,
}

impl RecommendationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendationReason::BoughtTogether => "BOUGHT_TOGETHER",
            RecommendationReason::ViewedTogether => "VIEWED_TOGETHER",
            RecommendationReason::MatchesPreferences => "MATCHES_PREFERENCES",
            RecommendationReason::Popular => "POPULAR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BOUGHT_TOGETHER" => Some(Self::BoughtTogether),
            "VIEWED_TOGETHER" => Some(Self::ViewedTogether),
            "MATCHES_PREFERENCES" => Some(Self::MatchesPreferences),
            "POPULAR" => Some(Self::Popular),
            _ => None,
        }
    }
}

/// One entry of a product's precomputed neighbour list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    #[serde(rename = "p")]
    pub product_id: String,
    /// Cosine similarity of the two products' decayed user-weight vectors, in (0, 1].
    #[serde(rename = "s")]
    pub similarity: f64,
    /// The share of the co-occurrence that comes from purchases of both, in [0, 1]; above
    /// one half the pair is "bought together", else "viewed together".
    #[serde(rename = "b")]
    pub purchase_share: f64,
}

/// What one product contributes to the model: its neighbours and its (decayed) popularity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductModel {
    pub product_id: String,
    pub popularity: f64,
    pub neighbours: Vec<Neighbour>,
}

/// The whole precomputed model, shared by every API replica and the worker through the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// Increases with every rebuild; readers reload when it changes.
    pub version: i64,
    pub built_at: Option<DateTime<Utc>>,
    pub products: Vec<ProductModel>,
}

/// The recommendations last published to a shopper, to tell a meaningful change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub user_id: String,
    pub product_ids: Vec<String>,
    pub reasons: Vec<RecommendationReason>,
    pub published_at: DateTime<Utc>,
}

/// Counters that tell readers whether their cached catalog and model are still current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    pub catalog: i64,
    pub model: i64,
}
