//! The recommender itself, free of I/O: item-to-item collaborative filtering over decayed,
//! kind-weighted activity, and the popularity fallback. Everything here is deterministic:
//! inputs are put in a fixed order before any floating-point sum, and ties break on the
//! product id.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Activity, ActivityKind, Model, Neighbour, Product, ProductModel, RecommendationReason,
};

/// The engine's knobs, all part of `recommendations.*` in the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Weight of one view, one add-to-cart, one purchase.
    pub view_weight: f64,
    pub cart_weight: f64,
    pub purchase_weight: f64,
    /// An event this old counts half as much as one happening now.
    pub half_life_days: f64,
    /// Neighbours kept per product.
    pub neighbours: usize,
    /// Similarities are shrunk by `n / (n + shrinkage)`, `n` the number of shoppers behind
    /// the pair, so that one shopper's two clicks do not make two products "similar".
    pub shrinkage: f64,
    /// How many of a shopper's most recent events drive their recommendations.
    pub history_limit: usize,
    /// Categories inferred from behaviour when the shopper stated none.
    pub inferred_categories: usize,
    /// At most this many products per shopper feed the neighbour lists (their strongest).
    pub max_products_per_shopper: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            view_weight: 1.0,
            cart_weight: 3.0,
            purchase_weight: 5.0,
            half_life_days: 30.0,
            neighbours: 50,
            shrinkage: 2.0,
            history_limit: 100,
            inferred_categories: 3,
            max_products_per_shopper: 500,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), String> {
        let weights = [self.view_weight, self.cart_weight, self.purchase_weight];
        if weights.iter().any(|w| !w.is_finite() || *w <= 0.0) {
            return Err("the activity weights must be positive".into());
        }
        if !(self.view_weight <= self.cart_weight && self.cart_weight <= self.purchase_weight) {
            return Err("weights must rank purchase >= cart >= view".into());
        }
        if !self.half_life_days.is_finite() || self.half_life_days <= 0.0 {
            return Err("half_life_days must be positive".into());
        }
        if !self.shrinkage.is_finite() || self.shrinkage < 0.0 {
            return Err("shrinkage must not be negative".into());
        }
        if self.neighbours == 0 || self.history_limit == 0 || self.max_products_per_shopper < 2 {
            return Err(
                "neighbours and history_limit must be positive, max_products_per_shopper at least 2"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn weight(&self, kind: ActivityKind) -> f64 {
        match kind {
            ActivityKind::Viewed => self.view_weight,
            ActivityKind::AddedToCart => self.cart_weight,
            ActivityKind::Purchased => self.purchase_weight,
        }
    }

    /// `0.5^(age / half-life)`; events from the future (clock skew) count as now.
    pub fn decay(&self, occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        let age_days = (now - occurred_at).num_milliseconds().max(0) as f64 / 86_400_000.0;
        0.5f64.powf(age_days / self.half_life_days)
    }
}

/// Decayed weights of one (shopper, product) pair: all of it, and the purchases' part.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    total: f64,
    purchased: f64,
}

/// Rebuilds every product's neighbour list and popularity from the activity log.
///
/// For each product the similar products are found through the shoppers who touched it
/// (a scratch row per product, so memory stays linear in the catalog), scored by cosine
/// similarity of the two products' shopper-weight vectors, shrunk for thin support.
pub fn build_model(
    activity: &[Activity],
    now: DateTime<Utc>,
    config: &EngineConfig,
) -> Vec<ProductModel> {
    // (user, product) → weight, in a fixed order.
    let mut pairs: BTreeMap<(&str, &str), Weight> = BTreeMap::new();
    let mut ordered: Vec<&Activity> = activity.iter().collect();
    ordered.sort_by(|a, b| {
        (
            a.user_id.as_str(),
            a.product_id.as_str(),
            a.occurred_at,
            a.id.as_str(),
        )
            .cmp(&(
                b.user_id.as_str(),
                b.product_id.as_str(),
                b.occurred_at,
                b.id.as_str(),
            ))
    });
    for event in ordered {
        let w = config.weight(event.kind) * config.decay(event.occurred_at, now);
        let entry = pairs
            .entry((event.user_id.as_str(), event.product_id.as_str()))
            .or_default();
        entry.total += w;
        if event.kind == ActivityKind::Purchased {
            entry.purchased += w;
        }
    }

    let mut product_ids: Vec<&str> = pairs.keys().map(|(_, p)| *p).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let product_index: HashMap<&str, usize> = product_ids
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i))
        .collect();

    // Rows per shopper, sorted by product because `pairs` is.
    let mut user_rows: Vec<Vec<(usize, Weight)>> = Vec::new();
    let mut current_user: Option<&str> = None;
    for ((user, product), weight) in &pairs {
        if current_user != Some(*user) {
            current_user = Some(*user);
            user_rows.push(Vec::new());
        }
        if let Some(row) = user_rows.last_mut() {
            row.push((product_index[product], *weight));
        }
    }
    // A shopper with thousands of products (a crawler, a reseller) would cost the square of
    // that and say little about any pair: keep their strongest ones.
    for row in &mut user_rows {
        if row.len() > config.max_products_per_shopper {
            row.sort_by(|a, b| b.1.total.total_cmp(&a.1.total).then(a.0.cmp(&b.0)));
            row.truncate(config.max_products_per_shopper);
            row.sort_by_key(|(p, _)| *p);
        }
    }
    let mut product_rows: Vec<Vec<(usize, Weight)>> = vec![Vec::new(); product_ids.len()];
    for (u, row) in user_rows.iter().enumerate() {
        for (p, weight) in row {
            product_rows[*p].push((u, *weight));
        }
    }
    let norms: Vec<f64> = product_rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(_, w)| w.total * w.total)
                .sum::<f64>()
                .sqrt()
        })
        .collect();

    let mut dot = vec![0.0f64; product_ids.len()];
    let mut purchased_dot = vec![0.0f64; product_ids.len()];
    let mut support = vec![0u32; product_ids.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut models = Vec::with_capacity(product_ids.len());
    for (i, row) in product_rows.iter().enumerate() {
        for (u, wi) in row {
            for (j, wj) in &user_rows[*u] {
                if *j == i {
                    continue;
                }
                if support[*j] == 0 {
                    touched.push(*j);
                }
                support[*j] += 1;
                dot[*j] += wi.total * wj.total;
                purchased_dot[*j] += wi.purchased * wj.purchased;
            }
        }
        touched.sort_unstable();
        let mut neighbours: Vec<Neighbour> = Vec::with_capacity(touched.len());
        for &j in &touched {
            let denominator = norms[i] * norms[j];
            if denominator > 0.0 && dot[j] > 0.0 {
                let n = f64::from(support[j]);
                let similarity = dot[j] / denominator * (n / (n + config.shrinkage));
                neighbours.push(Neighbour {
                    product_id: product_ids[j].to_owned(),
                    similarity,
                    purchase_share: (purchased_dot[j] / dot[j]).clamp(0.0, 1.0),
                });
            }
            dot[j] = 0.0;
            purchased_dot[j] = 0.0;
            support[j] = 0;
        }
        touched.clear();
        neighbours.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.product_id.cmp(&b.product_id))
        });
        neighbours.truncate(config.neighbours);
        models.push(ProductModel {
            product_id: product_ids[i].to_owned(),
            popularity: row.iter().map(|(_, w)| w.total).sum(),
            neighbours,
        });
    }
    models
}

/// The model and catalog, indexed for answering queries.
pub struct Index {
    model: HashMap<String, ProductModel>,
    catalog: HashMap<String, Product>,
    /// Products with any activity, most popular first (ties by id).
    popular: Vec<(String, f64)>,
}

impl Index {
    pub fn new(model: &Model, catalog: Vec<Product>) -> Self {
        let mut popular: Vec<(String, f64)> = model
            .products
            .iter()
            .filter(|p| p.popularity > 0.0)
            .map(|p| (p.product_id.clone(), p.popularity))
            .collect();
        popular.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            model: model
                .products
                .iter()
                .map(|p| (p.product_id.clone(), p.clone()))
                .collect(),
            catalog: catalog.into_iter().map(|p| (p.id.clone(), p)).collect(),
            popular,
        }
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.catalog.get(id)
    }

    pub fn catalog_len(&self) -> usize {
        self.catalog.len()
    }
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub product_id: String,
    pub score: f64,
    pub reason: RecommendationReason,
}

/// What is known about one shopper when scoring.
pub struct Shopper<'a> {
    /// Their activity, any order; the newest `history_limit` events are used for scoring,
    /// all of it to know what they bought.
    pub activity: &'a [Activity],
    /// Categories they said they like (lower-case); empty when they said nothing.
    pub interests: &'a [String],
}

/// A shopper's top `first` recommendations, optionally within one category.
///
/// Candidates come from the neighbours of what the shopper recently engaged with, weighted
/// by how strongly and how recently; what they bought, what is out of stock and what the
/// catalog does not know never appear. Short lists are filled with popular products from
/// the shopper's preferred categories (stated, else inferred), then popular products.
/// Scores decrease down the list: fallback scores stay below the last collaborative one.
pub fn recommend(
    index: &Index,
    shopper: &Shopper<'_>,
    first: usize,
    category: Option<&str>,
    now: DateTime<Utc>,
    config: &EngineConfig,
) -> Vec<Scored> {
    if first == 0 {
        return Vec::new();
    }
    let purchased: HashSet<&str> = shopper
        .activity
        .iter()
        .filter(|a| a.kind == ActivityKind::Purchased)
        .map(|a| a.product_id.as_str())
        .collect();
    let mut recent: Vec<&Activity> = shopper.activity.iter().collect();
    recent.sort_by(|a, b| {
        b.occurred_at
            .cmp(&a.occurred_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    recent.truncate(config.history_limit);
    let mut profile: BTreeMap<&str, f64> = BTreeMap::new();
    for event in &recent {
        *profile.entry(event.product_id.as_str()).or_default() +=
            config.weight(event.kind) * config.decay(event.occurred_at, now);
    }

    let eligible = |id: &str| -> bool {
        !purchased.contains(id)
            && index
                .catalog
                .get(id)
                .is_some_and(|p| p.in_stock && category.is_none_or(|c| p.category == c))
    };

    // Collaborative part: (score, the purchases' part of it) per candidate.
    let mut scores: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (product, weight) in &profile {
        let Some(entry) = index.model.get(*product) else {
            continue;
        };
        for neighbour in &entry.neighbours {
            if !eligible(&neighbour.product_id) {
                continue;
            }
            let contribution = weight * neighbour.similarity;
            let slot = scores.entry(neighbour.product_id.as_str()).or_default();
            slot.0 += contribution;
            slot.1 += contribution * neighbour.purchase_share;
        }
    }
    let mut ranked: Vec<Scored> = scores
        .into_iter()
        .filter(|(_, (score, _))| *score > 0.0)
        .map(|(id, (score, bought))| Scored {
            product_id: id.to_owned(),
            score,
            reason: if bought * 2.0 >= score {
                RecommendationReason::BoughtTogether
            } else {
                RecommendationReason::ViewedTogether
            },
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
    ranked.truncate(first);
    if ranked.len() == first {
        return ranked;
    }

    // Fallback: preferred categories first, then everything popular.
    let preferred: Vec<String> = if shopper.interests.is_empty() {
        inferred_categories(index, &profile, config.inferred_categories)
    } else {
        shopper.interests.to_vec()
    };
    let mut chosen: HashSet<String> = ranked.iter().map(|s| s.product_id.clone()).collect();
    let top_popularity = index.popular.first().map(|(_, p)| *p).unwrap_or(1.0);
    for (reason, in_preferred_only) in [
        (RecommendationReason::MatchesPreferences, true),
        (RecommendationReason::Popular, false),
    ] {
        if in_preferred_only && preferred.is_empty() {
            continue;
        }
        let ceiling = ranked.last().map(|s| s.score * 0.5).unwrap_or(1.0);
        for (id, popularity) in &index.popular {
            if ranked.len() == first {
                return ranked;
            }
            if chosen.contains(id) || !eligible(id) {
                continue;
            }
            if in_preferred_only
                && !index
                    .catalog
                    .get(id)
                    .is_some_and(|p| preferred.contains(&p.category))
            {
                continue;
            }
            chosen.insert(id.clone());
            ranked.push(Scored {
                product_id: id.clone(),
                score: ceiling * popularity / top_popularity,
                reason,
            });
        }
    }
    ranked
}

/// The categories a shopper engaged with most (decayed, kind-weighted), ties by name.
fn inferred_categories(index: &Index, profile: &BTreeMap<&str, f64>, count: usize) -> Vec<String> {
    let mut by_category: BTreeMap<&str, f64> = BTreeMap::new();
    for (product, weight) in profile {
        if let Some(p) = index.catalog.get(*product) {
            *by_category.entry(p.category.as_str()).or_default() += weight;
        }
    }
    let mut ranked: Vec<(&str, f64)> = by_category.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(count)
        .map(|(c, _)| c.to_owned())
        .collect()
}

/// |a ∩ b| / |a ∪ b| of two id lists; two empty lists are identical.
pub fn jaccard(a: &[String], b: &[String]) -> f64 {
    let a: HashSet<&str> = a.iter().map(String::as_str).collect();
    let b: HashSet<&str> = b.iter().map(String::as_str).collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn product(id: &str, category: &str, in_stock: bool) -> Product {
        Product {
            id: id.into(),
            name: format!("Product {id}"),
            category: category.into(),
            price_cents: 1000,
            in_stock,
        }
    }

    fn event(n: usize, user: &str, product: &str, kind: ActivityKind, days_ago: i64) -> Activity {
        Activity {
            id: format!("e{n}"),
            user_id: user.into(),
            product_id: product.into(),
            kind,
            occurred_at: now() - Duration::days(days_ago),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    use ActivityKind::{AddedToCart, Purchased, Viewed};

    /// Shoppers who buy a camera buy a lens and a tripod (the lens more often), one bought a
    /// flash (now out of stock); shoppers who look at the camera also look at a bag, which
    /// nobody buys. Book buyers never meet camera buyers.
    fn dataset() -> (Vec<Product>, Vec<Activity>) {
        let catalog = vec![
            product("camera", "photo", true),
            product("lens", "photo", true),
            product("tripod", "photo", true),
            product("bag", "photo", true),
            product("flash", "photo", false),
            product("novel", "books", true),
            product("cookbook", "books", true),
        ];
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        let mut activity = Vec::new();
        for u in ["u1", "u2", "u3"] {
            activity.push(event(next(), u, "camera", Purchased, 5));
            activity.push(event(next(), u, "lens", Purchased, 5));
        }
        activity.push(event(next(), "u1", "flash", Purchased, 5));
        activity.push(event(next(), "u1", "tripod", Purchased, 4));
        activity.push(event(next(), "u4", "camera", Purchased, 3));
        activity.push(event(next(), "u4", "tripod", Purchased, 3));
        for u in ["u5", "u6", "u7"] {
            activity.push(event(next(), u, "camera", Viewed, 2));
            activity.push(event(next(), u, "bag", Viewed, 2));
        }
        for u in ["u8", "u9"] {
            activity.push(event(next(), u, "novel", Purchased, 1));
            activity.push(event(next(), u, "cookbook", AddedToCart, 1));
        }
        (catalog, activity)
    }

    fn index() -> Index {
        let (catalog, activity) = dataset();
        let config = EngineConfig::default();
        let model = Model {
            version: 1,
            built_at: Some(now()),
            products: build_model(&activity, now(), &config),
        };
        Index::new(&model, catalog)
    }

    fn ids(list: &[Scored]) -> Vec<(&str, RecommendationReason)> {
        list.iter()
            .map(|s| (s.product_id.as_str(), s.reason))
            .collect()
    }

    #[test]
    fn neighbours_rank_by_cosine_and_know_where_they_come_from() {
        let (_, activity) = dataset();
        let models = build_model(&activity, now(), &EngineConfig::default());
        let camera = models.iter().find(|m| m.product_id == "camera").unwrap();
        let names: Vec<&str> = camera
            .neighbours
            .iter()
            .map(|n| n.product_id.as_str())
            .collect();
        assert_eq!(names, ["lens", "tripod", "flash", "bag"]);
        assert!(camera.neighbours[0].purchase_share > 0.99);
        assert!(camera.neighbours[3].purchase_share < 0.01);
        let novel = models.iter().find(|m| m.product_id == "novel").unwrap();
        assert_eq!(novel.neighbours.len(), 1, "books never meet cameras");
    }

    #[test]
    fn a_camera_buyer_gets_lens_tripod_bag_in_that_order_with_reasons() {
        let index = index();
        let mine = vec![event(100, "me", "camera", Purchased, 0)];
        let list = recommend(
            &index,
            &Shopper {
                activity: &mine,
                interests: &[],
            },
            3,
            None,
            now(),
            &EngineConfig::default(),
        );
        assert_eq!(
            ids(&list),
            [
                ("lens", RecommendationReason::BoughtTogether),
                ("tripod", RecommendationReason::BoughtTogether),
                ("bag", RecommendationReason::ViewedTogether),
            ]
        );
        assert!(list.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn purchased_and_out_of_stock_never_appear() {
        let index = index();
        let mine = vec![
            event(100, "me", "camera", Viewed, 0),
            event(101, "me", "lens", Purchased, 0),
        ];
        let list = recommend(
            &index,
            &Shopper {
                activity: &mine,
                interests: &[],
            },
            10,
            None,
            now(),
            &EngineConfig::default(),
        );
        let found: Vec<&str> = list.iter().map(|s| s.product_id.as_str()).collect();
        assert!(!found.contains(&"lens"), "{found:?}");
        assert!(!found.contains(&"flash"), "{found:?}");
        assert_eq!(found.len(), 5, "every other in-stock product: {found:?}");
    }

    #[test]
    fn cold_start_gets_popular_products_of_the_stated_categories_first() {
        let index = index();
        let interests = vec!["books".to_owned()];
        let list = recommend(
            &index,
            &Shopper {
                activity: &[],
                interests: &interests,
            },
            4,
            None,
            now(),
            &EngineConfig::default(),
        );
        assert_eq!(
            ids(&list),
            [
                ("novel", RecommendationReason::MatchesPreferences),
                ("cookbook", RecommendationReason::MatchesPreferences),
                ("camera", RecommendationReason::Popular),
                ("lens", RecommendationReason::Popular),
            ]
        );
        assert!(list.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn preferences_are_inferred_from_views_when_none_were_stated() {
        let index = index();
        // Carting a book: its neighbour comes from carts, and books become the preference.
        let mine = vec![event(100, "me", "cookbook", Viewed, 0)];
        let list = recommend(
            &index,
            &Shopper {
                activity: &mine,
                interests: &[],
            },
            2,
            Some("books"),
            now(),
            &EngineConfig::default(),
        );
        assert_eq!(
            ids(&list),
            [
                ("novel", RecommendationReason::ViewedTogether),
                ("cookbook", RecommendationReason::MatchesPreferences)
            ]
        );
    }

    #[test]
    fn nothing_known_means_plain_popularity_and_the_category_filter_holds() {
        let index = index();
        let list = recommend(
            &index,
            &Shopper {
                activity: &[],
                interests: &[],
            },
            2,
            Some("books"),
            now(),
            &EngineConfig::default(),
        );
        assert_eq!(
            ids(&list),
            [
                ("novel", RecommendationReason::Popular),
                ("cookbook", RecommendationReason::Popular)
            ]
        );
    }

    #[test]
    fn older_events_weigh_less() {
        let config = EngineConfig::default();
        let fresh = config.decay(now(), now());
        let month = config.decay(now() - Duration::days(30), now());
        assert!((fresh - 1.0).abs() < 1e-12);
        assert!((month - 0.5).abs() < 1e-9);
        assert!((config.decay(now() + Duration::days(3), now()) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_same_data_in_any_order_gives_the_same_model() {
        let (_, mut activity) = dataset();
        let config = EngineConfig::default();
        let a = build_model(&activity, now(), &config);
        activity.reverse();
        let b = build_model(&activity, now(), &config);
        assert_eq!(a, b);
    }

    #[test]
    fn a_shopper_touching_everything_is_capped_to_their_strongest_products() {
        let config = EngineConfig {
            max_products_per_shopper: 2,
            ..Default::default()
        };
        let activity = vec![
            event(1, "bot", "a", Purchased, 0),
            event(2, "bot", "b", AddedToCart, 0),
            event(3, "bot", "c", Viewed, 0),
            event(4, "u", "b", Viewed, 0),
            event(5, "u", "c", Viewed, 0),
        ];
        let models = build_model(&activity, now(), &config);
        let a = models.iter().find(|m| m.product_id == "a").unwrap();
        assert_eq!(a.neighbours.len(), 1, "the bot's view of c is dropped");
        assert_eq!(a.neighbours[0].product_id, "b");
    }

    #[test]
    fn jaccard_of_id_lists() {
        let a: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let b: Vec<String> = ["b", "c", "d"].map(String::from).to_vec();
        assert!((jaccard(&a, &b) - 0.5).abs() < 1e-12);
        assert!((jaccard(&[], &[]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn config_validation() {
        assert!(EngineConfig::default().validate().is_ok());
        let bad = EngineConfig {
            view_weight: 10.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
