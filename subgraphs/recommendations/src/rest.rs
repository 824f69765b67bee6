//! The seed system's REST route, as a thin layer over the recommender.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_service::ApiError;
use herald_service::auth::Authenticated;
use serde::{Deserialize, Serialize};

use crate::model::{self, RecommendationReason};
use crate::startup::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/recommendations/{user_id}", get(recommendations))
}

#[derive(Deserialize)]
struct Params {
    limit: Option<usize>,
}

#[derive(Serialize)]
struct SeedProduct {
    id: String,
    name: String,
    category: String,
    price: f64,
    in_stock: bool,
    score: f64,
    reason: RecommendationReason,
}

#[derive(Serialize)]
struct SeedRecommendations {
    user_id: String,
    products: Vec<SeedProduct>,
    created_at: DateTime<Utc>,
}

/// `GET /recommendations/{user_id}?limit=10` (Bearer, own user or admin).
async fn recommendations(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<SeedRecommendations>, ApiError> {
    caller.ensure_can_access_user(&user_id)?;
    let Query(params) =
        params.map_err(|_| ApiError::bad_input("limit", "must be a number from 0 to 100"))?;
    model::validate_id("user_id", &user_id)?;
    let limit = params.limit.unwrap_or(10);
    if limit > 100 {
        return Err(ApiError::bad_input("limit", "must be at most 100"));
    }
    let (scored, index) = state.recommender.recommend(&user_id, limit, None).await?;
    let products = scored
        .into_iter()
        .filter_map(|s| {
            index.product(&s.product_id).map(|p| SeedProduct {
                id: p.id.clone(),
                name: p.name.clone(),
                category: p.category.clone(),
                price: p.price(),
                in_stock: p.in_stock,
                score: s.score,
                reason: s.reason,
            })
        })
        .collect();
    Ok(Json(SeedRecommendations {
        user_id,
        products,
        created_at: Utc::now(),
    }))
}
