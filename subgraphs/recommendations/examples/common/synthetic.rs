//! A deterministic synthetic shop for the evaluation and the benchmark: shoppers with
//! category affinities who browse and buy from "bundles" (products that go together, like
//! a camera, a lens and a bag), plus noise. Collaborative filtering has real signal here —
//! bundle-mates are co-viewed and co-bought — but nothing tells the engine what a bundle is.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use herald_recommendations::model::{Activity, ActivityKind, Product};

/// SplitMix64: small, fast, and the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index in `0..n` with probability proportional to `1 / (i + 1)^s`.
    pub fn zipf(&mut self, n: usize, s: f64) -> usize {
        let total: f64 = (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(s)).sum();
        let mut x = self.unit() * total;
        for i in 0..n {
            x -= 1.0 / ((i + 1) as f64).powf(s);
            if x <= 0.0 {
                return i;
            }
        }
        n - 1
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

pub const BUNDLE_SIZE: usize = 4;

struct Shop {
    /// Categories in popularity order, each with its bundles in popularity order.
    categories: Vec<Vec<Vec<String>>>,
    everything: Vec<String>,
}

fn shop(catalog: &[Product], rng: &mut Rng) -> Shop {
    let mut by_category: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in catalog.iter().filter(|p| p.in_stock) {
        by_category
            .entry(p.category.as_str())
            .or_default()
            .push(p.id.clone());
    }
    let mut categories: Vec<Vec<Vec<String>>> = by_category
        .into_values()
        .map(|mut ids| {
            rng.shuffle(&mut ids);
            ids.chunks(BUNDLE_SIZE).map(<[String]>::to_vec).collect()
        })
        .collect();
    rng.shuffle(&mut categories);
    let mut everything: Vec<String> = categories.iter().flatten().flatten().cloned().collect();
    rng.shuffle(&mut everything);
    Shop {
        categories,
        everything,
    }
}

/// Each shopper's events, oldest first, over the 180 days before `now`.
pub fn shoppers(
    catalog: &[Product],
    count: usize,
    seed: u64,
    now: DateTime<Utc>,
) -> Vec<Vec<Activity>> {
    let mut rng = Rng::new(seed);
    let shop = shop(catalog, &mut rng);
    let mut all = Vec::with_capacity(count);
    for u in 0..count {
        let user = format!("shopper-{u:05}");
        let affinities: Vec<usize> = (0..1 + rng.below(3))
            .map(|_| rng.zipf(shop.categories.len(), 0.8))
            .collect();
        let sessions = 2 + rng.below(4) + if rng.chance(0.2) { rng.below(8) } else { 0 };
        let mut starts: Vec<i64> = (0..sessions)
            .map(|_| rng.below(180 * 24 * 60) as i64)
            .collect();
        starts.sort_unstable_by(|a, b| b.cmp(a));
        let mut events = Vec::new();
        let mut bought: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut n = 0;
        for minutes_ago in starts {
            let mut at = now - Duration::minutes(minutes_ago);
            let mut push = |product: &str, kind: ActivityKind, at: &mut DateTime<Utc>| {
                n += 1;
                *at += Duration::seconds(30 + n % 90);
                events.push(Activity {
                    id: format!("syn/{user}/{n}"),
                    user_id: user.clone(),
                    product_id: product.to_owned(),
                    kind,
                    occurred_at: *at,
                });
            };
            let category = if rng.chance(0.85) {
                affinities[rng.below(affinities.len())]
            } else {
                rng.zipf(shop.categories.len(), 0.8)
            };
            let bundles = &shop.categories[category];
            let bundle = &bundles[rng.zipf(bundles.len(), 1.0)];
            for _ in 0..2 + rng.below(3) {
                let product = if rng.chance(0.7) {
                    &bundle[rng.below(bundle.len())]
                } else {
                    let other = &bundles[rng.below(bundles.len())];
                    &other[rng.below(other.len())]
                };
                push(product, ActivityKind::Viewed, &mut at);
            }
            if rng.chance(0.1) {
                let product = &shop.everything[rng.zipf(shop.everything.len(), 1.0)];
                push(product, ActivityKind::Viewed, &mut at);
            }
            if rng.chance(0.6) {
                let buys = 1 + rng.below(2);
                for _ in 0..buys {
                    let product = if rng.chance(0.5) {
                        &bundle[0]
                    } else {
                        &bundle[rng.below(bundle.len())]
                    };
                    // Durable goods: nobody buys the same one twice (and the engine, by
                    // design, never recommends what was bought).
                    if !bought.insert(product.clone()) {
                        continue;
                    }
                    if rng.chance(0.4) {
                        push(product, ActivityKind::AddedToCart, &mut at);
                    }
                    push(product, ActivityKind::Purchased, &mut at);
                }
            } else if rng.chance(0.3) {
                push(
                    &bundle[rng.below(bundle.len())],
                    ActivityKind::AddedToCart,
                    &mut at,
                );
            }
        }
        all.push(events);
    }
    all
}

/// The shipped catalog, parsed the way the service parses it.
#[allow(dead_code)]
pub fn catalog() -> Vec<Product> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/catalog/products.jsonl"
    ))
    .expect("the shipped catalog");
    herald_recommendations::catalog::parse(&text).expect("a valid catalog")
}

/// Peak (`VmHWM`) or current (`VmRSS`) resident memory of this process (Linux), in MiB.
#[allow(dead_code)]
pub fn rss_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
