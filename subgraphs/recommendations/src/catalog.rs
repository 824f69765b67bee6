//! The catalog file: JSON lines of `{"id", "name", "category", "price", "in_stock"}`, loaded
//! (upserted) at start-up. A bad line stops start-up with its line number: a half-loaded
//! catalog would silently hide products.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::model::{Product, price_to_cents};
use crate::store::RecommendationStore;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    name: String,
    category: String,
    price: f64,
    #[serde(default = "in_stock_default")]
    in_stock: bool,
}

fn in_stock_default() -> bool {
    true
}

/// Parses and validates a whole catalog file.
pub fn parse(text: &str) -> anyhow::Result<Vec<Product>> {
    let mut products = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let number = n + 1;
        let raw: Line =
            serde_json::from_str(line).with_context(|| format!("catalog line {number}"))?;
        let price_cents = price_to_cents("price", raw.price)
            .map_err(|e| anyhow::anyhow!("catalog line {number}: price {}", e.message))?;
        let product = Product {
            id: raw.id,
            name: raw.name,
            category: raw.category,
            price_cents,
            in_stock: raw.in_stock,
        }
        .validated("product")
        .map_err(|e| {
            anyhow::anyhow!(
                "catalog line {number}: {} {}",
                e.field.unwrap_or_default(),
                e.message
            )
        })?;
        if !seen.insert(product.id.clone()) {
            anyhow::bail!("catalog line {number}: duplicate id {}", product.id);
        }
        products.push(product);
    }
    Ok(products)
}

/// Loads the file into the store; returns how many products it held.
pub async fn load(path: &str, store: &dyn RecommendationStore) -> anyhow::Result<usize> {
    if path.is_empty() {
        return Ok(0);
    }
    let text = tokio::fs::read_to_string(Path::new(path))
        .await
        .with_context(|| format!("cannot read the catalog {path}"))?;
    let products = parse(&text)?;
    store.upsert_products(&products).await?;
    tracing::info!(path, products = products.len(), "catalog loaded");
    Ok(products.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let products = parse(
            "{\"id\":\"p-1\",\"name\":\" Lens \",\"category\":\"Photo\",\"price\":19.99}\n\n\
             {\"id\":\"p-2\",\"name\":\"Bag\",\"category\":\"photo\",\"price\":5,\"in_stock\":false}\n",
        )
        .unwrap();
        assert_eq!(products.len(), 2);
        assert_eq!(products[0].name, "Lens");
        assert_eq!(products[0].category, "photo");
        assert_eq!(products[0].price_cents, 1999);
        assert!(products[0].in_stock);
        assert!(!products[1].in_stock);
    }

    #[test]
    fn bad_lines_are_reported_by_number() {
        let err = parse("{\"id\":\"p 1\",\"name\":\"x\",\"category\":\"c\",\"price\":1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        let err = parse(
            "{\"id\":\"a\",\"name\":\"x\",\"category\":\"c\",\"price\":1}\n\
             {\"id\":\"a\",\"name\":\"y\",\"category\":\"c\",\"price\":-1}",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn the_shipped_catalog_is_valid_and_large_enough() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/catalog/products.jsonl"
        ))
        .unwrap();
        let products = parse(&text).unwrap();
        assert!(products.len() >= 1000, "{}", products.len());
        let categories: std::collections::HashSet<&str> =
            products.iter().map(|p| p.category.as_str()).collect();
        assert!(categories.len() >= 10, "{categories:?}");
        assert!(products.iter().any(|p| !p.in_stock));
    }
}
