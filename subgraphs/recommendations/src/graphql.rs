//! The recommendations subgraph's GraphQL API: it owns `Product` and adds `recommendations`
//! and `productInterests` to the federated `User`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, InputObject, Object, Schema, SimpleObject};
use chrono::Utc;
use herald_service::ApiError;
use herald_service::auth::Role;
use herald_service::graphql::caller;
use herald_service::metrics::GraphqlMetricsExtension;

use crate::model::{self, Activity, ActivityKind, RecommendationReason};
use crate::recommender::Recommender;
use crate::worker::jobs::Jobs;

pub type RecommendationsSchema = Schema<Query, Mutation, async_graphql::EmptySubscription>;

/// At most this many recommendations per query.
pub const MAX_FIRST: i32 = 100;
/// At most this many products per catalog page and per `upsertProducts`.
pub const MAX_PAGE: i32 = 100;
pub const MAX_UPSERT: usize = 1000;
pub const MAX_INTERESTS: usize = 20;

pub fn build_schema(recommender: Arc<Recommender>, jobs: Jobs) -> RecommendationsSchema {
    Schema::build(Query, Mutation, async_graphql::EmptySubscription)
        .enable_federation()
        .extension(GraphqlMetricsExtension::new("recommendations"))
        .data(DataLoader::new(
            ProductLoader {
                recommender: recommender.clone(),
            },
            tokio::spawn,
        ))
        .data(recommender)
        .data(jobs)
        .limit_depth(12)
        .limit_complexity(1000)
        .finish()
}

/// The signed-in shopper (or admin) acting for themself. Subjects that could not be a
/// stored user id are refused rather than truncated.
fn shopper<'a>(ctx: &Context<'a>) -> Result<&'a herald_service::Caller, ApiError> {
    let caller = caller(ctx)?;
    caller.ensure_any_role(&[Role::User, Role::Admin])?;
    if model::validate_id("subject", &caller.subject).is_err() {
        return Err(ApiError::forbidden());
    }
    Ok(caller)
}

fn recommender<'a>(ctx: &Context<'a>) -> &'a Arc<Recommender> {
    ctx.data_unchecked::<Arc<Recommender>>()
}

/// A product of the shop's catalog.
#[derive(Clone)]
pub struct Product(pub(crate) model::Product);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Lower-case category name, e.g. `electronics`.
    async fn category(&self) -> &str {
        &self.0.category
    }

    async fn price(&self) -> f64 {
        self.0.price()
    }

    async fn in_stock(&self) -> bool {
        self.0.in_stock
    }
}

/// One recommended product, its score (higher is better; comparable within one list) and
/// why it was picked.
#[derive(SimpleObject)]
pub struct Recommendation {
    product: Product,
    score: f64,
    reason: RecommendationReason,
}

/// The recommendations side of the federated user.
pub struct User {
    id: ID,
}

#[Object(name = "User")]
impl User {
    async fn id(&self) -> &ID {
        &self.id
    }

    /// This shopper's top products, best first: never something they bought, never out of
    /// stock. Only the shopper themself or an admin may read them.
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "How many; at most 100.")] first: Option<i32>,
        #[graphql(desc = "Only products of this category.")] category: Option<String>,
    ) -> Result<Vec<Recommendation>, ApiError> {
        caller(ctx)?.ensure_can_access_user(&self.id)?;
        let first = first.unwrap_or(10);
        if !(0..=MAX_FIRST).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("must be between 0 and {MAX_FIRST}"),
            ));
        }
        let category = category
            .as_deref()
            .map(|c| model::normalize_category("category", c))
            .transpose()?;
        let (scored, index) = recommender(ctx)
            .recommend(&self.id, first as usize, category.as_deref())
            .await?;
        Ok(scored
            .into_iter()
            .filter_map(|s| {
                index.product(&s.product_id).map(|p| Recommendation {
                    product: Product(p.clone()),
                    score: s.score,
                    reason: s.reason,
                })
            })
            .collect())
    }

    /// The product categories this shopper said they like (`setProductInterests`); when
    /// empty, recommendations infer them from what the shopper looks at.
    async fn product_interests(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        caller(ctx)?.ensure_can_access_user(&self.id)?;
        Ok(recommender(ctx).store().interests(&self.id).await?)
    }
}

/// A page of the catalog, in id order.
#[derive(SimpleObject)]
pub struct ProductPage {
    items: Vec<Product>,
    /// Pass as `after` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

pub struct Query;

#[Object(name = "Query")]
impl Query {
    /// One product; `null` when the catalog has no such id. Any signed-in caller.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>, ApiError> {
        caller(ctx)?;
        Ok(recommender(ctx).product(&id).await?.map(Product))
    }

    /// Browse the catalog by id, optionally within one category. Any signed-in caller.
    async fn products(
        &self,
        ctx: &Context<'_>,
        category: Option<String>,
        #[graphql(default = 20, desc = "Page size; at most 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProductPage, ApiError> {
        caller(ctx)?;
        let first = first.unwrap_or(20);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let category = category
            .as_deref()
            .map(|c| model::normalize_category("category", c))
            .transpose()?;
        let mut items = recommender(ctx)
            .store()
            .list_products(category.as_deref(), after.as_deref(), first as u64 + 1)
            .await?;
        let more = items.len() > first as usize;
        items.truncate(first as usize);
        Ok(ProductPage {
            next_cursor: if more {
                items.last().map(|p| p.id.clone())
            } else {
                None
            },
            items: items.into_iter().map(Product).collect(),
        })
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }

    /// Batched: one store read for every `Product` reference in a query plan.
    #[graphql(entity)]
    async fn find_product_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Product>, ApiError> {
        caller(ctx)?;
        ctx.data_unchecked::<DataLoader<ProductLoader>>()
            .load_one(id.0)
            .await
    }
}

#[derive(InputObject)]
pub struct RecordActivityInput {
    product_id: ID,
    kind: ActivityKind,
    /// Makes a retry harmless: the same key records once. Defaults to a fresh id.
    idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct RecordActivityPayload {
    /// False when this idempotency key had already been recorded.
    recorded: bool,
}

#[derive(InputObject)]
pub struct ProductInput {
    id: ID,
    name: String,
    category: String,
    /// In the shop's currency, at most two decimals kept.
    price: f64,
    in_stock: bool,
}

#[derive(SimpleObject)]
pub struct UpsertProductsPayload {
    upserted: i32,
}

pub struct Mutation;

#[Object(name = "Mutation")]
impl Mutation {
    /// Records that the signed-in shopper viewed, carted or bought a catalog product. A
    /// purchase refreshes their recommendations within seconds.
    async fn record_activity(
        &self,
        ctx: &Context<'_>,
        input: RecordActivityInput,
    ) -> Result<RecordActivityPayload, ApiError> {
        let caller = shopper(ctx)?;
        model::validate_id("productId", &input.product_id)?;
        let key = match input.idempotency_key {
            Some(key) if key.is_empty() || key.len() > 100 => {
                return Err(ApiError::bad_input(
                    "idempotencyKey",
                    "must be 1 to 100 characters",
                ));
            }
            Some(key) => key,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let recommender = recommender(ctx);
        if recommender.product(&input.product_id).await?.is_none() {
            return Err(ApiError::not_found("product"));
        }
        // Scoped by the caller, so one shopper's key can never collide with another's.
        let activity = Activity {
            id: format!("api/{}/{key}", caller.subject),
            user_id: caller.subject.clone(),
            product_id: input.product_id.0,
            kind: input.kind,
            occurred_at: Utc::now(),
        };
        let recorded = recommender.record(&activity).await?;
        if activity.kind == ActivityKind::Purchased {
            // Also on a repeat: the first attempt may have stored the purchase and then
            // failed to enqueue. The job id makes the second enqueue a no-op otherwise.
            ctx.data_unchecked::<Jobs>()
                .refresh_after_purchase(&activity.user_id, &activity.id)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot enqueue a recommendations refresh");
                    ApiError::unavailable()
                })?;
        }
        Ok(RecordActivityPayload { recorded })
    }

    /// States the categories the signed-in shopper likes (replacing earlier ones); an empty
    /// list goes back to inferring them. Returns the stored list.
    async fn set_product_interests(
        &self,
        ctx: &Context<'_>,
        categories: Vec<String>,
    ) -> Result<Vec<String>, ApiError> {
        let caller = shopper(ctx)?;
        if categories.len() > MAX_INTERESTS {
            return Err(ApiError::bad_input(
                "categories",
                format!("at most {MAX_INTERESTS} categories"),
            ));
        }
        let mut normalized = Vec::with_capacity(categories.len());
        for category in &categories {
            let c = model::normalize_category("categories", category)?;
            if !normalized.contains(&c) {
                normalized.push(c);
            }
        }
        recommender(ctx)
            .store()
            .set_interests(&caller.subject, &normalized)
            .await?;
        Ok(normalized)
    }

    /// Inserts or replaces catalog products by id (admin or service). All or nothing: one
    /// invalid product rejects the call.
    async fn upsert_products(
        &self,
        ctx: &Context<'_>,
        products: Vec<ProductInput>,
    ) -> Result<UpsertProductsPayload, ApiError> {
        caller(ctx)?.ensure_any_role(&[Role::Admin, Role::Service])?;
        if products.is_empty() || products.len() > MAX_UPSERT {
            return Err(ApiError::bad_input(
                "products",
                format!("give 1 to {MAX_UPSERT} products"),
            ));
        }
        let mut valid = Vec::with_capacity(products.len());
        let mut seen = std::collections::HashSet::new();
        for (i, p) in products.into_iter().enumerate() {
            let field = format!("products[{i}]");
            let product = model::Product {
                price_cents: model::price_to_cents(&format!("{field}.price"), p.price)?,
                id: p.id.0,
                name: p.name,
                category: p.category,
                in_stock: p.in_stock,
            }
            .validated(&field)?;
            if !seen.insert(product.id.clone()) {
                return Err(ApiError::bad_input(
                    format!("{field}.id"),
                    "appears twice in this call",
                ));
            }
            valid.push(product);
        }
        let upserted = recommender(ctx).store().upsert_products(&valid).await?;
        Ok(UpsertProductsPayload {
            upserted: i32::try_from(upserted).unwrap_or(i32::MAX),
        })
    }

    /// Puts a full recompute (rebuild the model, rescore every active shopper, publish what
    /// changed) on the worker's queue now, as the schedule does (admin only). Returns the
    /// job's id.
    async fn recompute_recommendations(&self, ctx: &Context<'_>) -> Result<ID, ApiError> {
        caller(ctx)?.ensure_any_role(&[Role::Admin])?;
        let id = ctx
            .data_unchecked::<Jobs>()
            .recompute_now()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot enqueue a recompute");
                ApiError::unavailable()
            })?;
        Ok(ID(id))
    }
}

pub struct ProductLoader {
    recommender: Arc<Recommender>,
}

impl Loader<String> for ProductLoader {
    type Value = Product;
    type Error = ApiError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Product>, ApiError> {
        let index = self.recommender.index().await?;
        Ok(keys
            .iter()
            .filter_map(|k| index.product(k).map(|p| (k.clone(), Product(p.clone()))))
            .collect())
    }
}
