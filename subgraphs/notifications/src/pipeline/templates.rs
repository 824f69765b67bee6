//! Every event the pipeline turns into a notification, and the words it uses, in one place.
//! `render` is pure: the same event always gives the same notification.

use herald_service::preferences::{Category, Preferences};
use serde::Deserialize;
use serde_json::{Value, json};

/// A notification to deliver, before preferences, caps and channels are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub recipient_id: String,
    pub category: Category,
    pub title: String,
    pub body: String,
    pub data: Value,
}

#[derive(Debug, Deserialize)]
pub struct UserRegistered {
    pub user_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferences: Option<Preferences>,
}

#[derive(Debug, Deserialize)]
pub struct PreferencesUpdated {
    pub user_id: String,
    pub preferences: Preferences,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OrderItem {
    pub product_id: String,
    pub quantity: u32,
    #[serde(default)]
    pub unit_price: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub user_id: String,
    pub items: Vec<OrderItem>,
    pub total: f64,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
pub struct OrderShipped {
    pub order_id: String,
    pub user_id: String,
    pub carrier: String,
    pub tracking_number: String,
}

#[derive(Debug, Deserialize)]
pub struct OrderDelivered {
    pub order_id: String,
    pub user_id: String,
}

#[derive(Debug, Deserialize)]
pub struct OrderCancelled {
    pub order_id: String,
    pub user_id: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RecommendationGenerated {
    pub user_id: String,
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub reasons: Value,
    /// Product names, when the publisher includes them (the recommendations service does).
    #[serde(default)]
    pub product_names: Vec<String>,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn required(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

pub fn user_registered(event: &UserRegistered) -> Result<Rendered, String> {
    required("user_id", &event.user_id)?;
    let greeting = match event
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => format!("Welcome, {name}!"),
        None => "Welcome!".to_owned(),
    };
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::Account,
        title: greeting,
        body: "Your account is ready. Order updates and offers you opt in to will show up here."
            .into(),
        data: json!({"event": "user.registered"}),
    })
}

pub fn order_placed(event: &OrderPlaced) -> Result<Rendered, String> {
    required("order_id", &event.order_id)?;
    required("user_id", &event.user_id)?;
    if event.items.is_empty() {
        return Err("items must not be empty".into());
    }
    if !event.total.is_finite() || event.total < 0.0 {
        return Err("total must be a non-negative number".into());
    }
    let count: u32 = event.items.iter().map(|i| i.quantity).sum();
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::OrderUpdates,
        title: format!("Order {} confirmed", event.order_id),
        body: format!(
            "Thanks for your order of {} totalling {:.2} {}. We will let you know when it ships.",
            plural(count as usize, "item", "items"),
            event.total,
            event.currency
        ),
        data: json!({
            "event": "order.placed",
            "orderId": event.order_id,
            "productIds": event.items.iter().map(|i| i.product_id.clone()).collect::<Vec<_>>(),
            "total": event.total,
            "currency": event.currency,
        }),
    })
}

pub fn order_shipped(event: &OrderShipped) -> Result<Rendered, String> {
    required("order_id", &event.order_id)?;
    required("user_id", &event.user_id)?;
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::OrderUpdates,
        title: format!("Order {} has shipped", event.order_id),
        body: format!(
            "{} is on its way with {}. Tracking number: {}.",
            event.order_id, event.carrier, event.tracking_number
        ),
        data: json!({
            "event": "order.shipped",
            "orderId": event.order_id,
            "carrier": event.carrier,
            "trackingNumber": event.tracking_number,
        }),
    })
}

pub fn order_delivered(event: &OrderDelivered) -> Result<Rendered, String> {
    required("order_id", &event.order_id)?;
    required("user_id", &event.user_id)?;
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::OrderUpdates,
        title: format!("Order {} delivered", event.order_id),
        body: "Your parcel has arrived. We hope you enjoy it!".into(),
        data: json!({"event": "order.delivered", "orderId": event.order_id}),
    })
}

pub fn order_cancelled(event: &OrderCancelled) -> Result<Rendered, String> {
    required("order_id", &event.order_id)?;
    required("user_id", &event.user_id)?;
    let body = match event
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(reason) => {
            format!("Your order was cancelled: {reason}. Any payment will be refunded.")
        }
        None => "Your order was cancelled. Any payment will be refunded.".into(),
    };
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::OrderUpdates,
        title: format!("Order {} cancelled", event.order_id),
        body,
        data: json!({"event": "order.cancelled", "orderId": event.order_id, "reason": event.reason}),
    })
}

pub fn recommendation_generated(event: &RecommendationGenerated) -> Result<Rendered, String> {
    required("user_id", &event.user_id)?;
    if event.product_ids.is_empty() {
        return Err("product_ids must not be empty".into());
    }
    let body = match event.product_names.as_slice() {
        [] => format!(
            "We picked {} for you.",
            plural(event.product_ids.len(), "product", "products")
        ),
        [one] => format!("We think you will like {one}."),
        [first, second] => {
            format!("We think you will like {first} and {second}.")
        }
        [first, second, rest @ ..] => format!(
            "We think you will like {first}, {second} and {} more.",
            rest.len()
        ),
    };
    Ok(Rendered {
        recipient_id: event.user_id.clone(),
        category: Category::Recommendations,
        title: "New picks for you".into(),
        body,
        data: json!({
            "event": "recommendation.generated",
            "productIds": event.product_ids,
            "reasons": event.reasons,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_names_order_carrier_and_tracking() {
        let rendered = order_shipped(&OrderShipped {
            order_id: "A-1001".into(),
            user_id: "u1".into(),
            carrier: "DHL".into(),
            tracking_number: "JJD000390007".into(),
        })
        .expect("valid");
        assert_eq!(rendered.title, "Order A-1001 has shipped");
        assert!(rendered.body.contains("DHL") && rendered.body.contains("JJD000390007"));
        assert_eq!(rendered.category, Category::OrderUpdates);
    }

    #[test]
    fn placed_counts_items_and_rejects_empty_orders() {
        let event: OrderPlaced = serde_json::from_value(json!({
            "order_id": "A-1", "user_id": "u1", "total": 59.9, "currency": "EUR",
            "items": [{"product_id": "p1", "quantity": 2, "unit_price": 19.95},
                      {"product_id": "p2", "quantity": 1, "unit_price": 20.0}]
        }))
        .expect("parse");
        let rendered = order_placed(&event).expect("valid");
        assert!(
            rendered.body.contains("3 items totalling 59.90 EUR"),
            "{}",
            rendered.body
        );
        let empty: OrderPlaced = serde_json::from_value(json!({
            "order_id": "A-2", "user_id": "u1", "total": 0, "currency": "EUR", "items": []
        }))
        .expect("parse");
        assert!(order_placed(&empty).is_err());
    }

    #[test]
    fn recommendations_name_products_when_known() {
        let event = RecommendationGenerated {
            user_id: "u1".into(),
            product_ids: vec!["p1".into(), "p2".into(), "p3".into()],
            reasons: json!(["BOUGHT_TOGETHER"]),
            product_names: vec!["Trail shoes".into(), "Socks".into(), "Cap".into()],
        };
        assert_eq!(
            recommendation_generated(&event).expect("valid").body,
            "We think you will like Trail shoes, Socks and 1 more."
        );
    }
}
