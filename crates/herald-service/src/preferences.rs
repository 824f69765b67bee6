//! Notification categories, channels and a shopper's opt-in matrix between them. The users
//! service owns the matrix; the notifications pipeline keeps a replica fed by events, so the
//! JSON shape here (`{"PROMOTIONS": {"IN_APP": true, ...}, ...}`) is part of the event contract.

use serde::{Deserialize, Serialize};

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
#[graphql(name = "NotificationCategory")]
pub enum Category {
    Promotions,
    OrderUpdates,
    Recommendations,
    /// Security and account notices; always delivered in-app.
    Account,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Promotions => "PROMOTIONS",
            Category::OrderUpdates => "ORDER_UPDATES",
            Category::Recommendations => "RECOMMENDATIONS",
            Category::Account => "ACCOUNT",
        }
    }

    pub fn parse(value: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == value)
    }

    pub const ALL: [Category; 4] = [
        Category::Promotions,
        Category::OrderUpdates,
        Category::Recommendations,
        Category::Account,
    ];

    /// The seed REST API's `type` values (`shared/DESIGN.md`): unknown types are account notices.
    pub fn from_seed_type(value: &str) -> Category {
        match value.trim().to_ascii_lowercase().as_str() {
            "promotions" | "promotion" => Category::Promotions,
            "order_update" | "order_updates" => Category::OrderUpdates,
            "recommendation" | "recommendations" => Category::Recommendations,
            _ => Category::Account,
        }
    }

    /// Like [`Category::from_seed_type`] but refuses unknown names (for inputs that name
    /// categories explicitly, where a typo must not silently mean ACCOUNT).
    pub fn parse_seed_name(value: &str) -> Option<Category> {
        match value.trim().to_ascii_lowercase().as_str() {
            "promotions" | "promotion" => Some(Category::Promotions),
            "order_update" | "order_updates" => Some(Category::OrderUpdates),
            "recommendation" | "recommendations" => Some(Category::Recommendations),
            "account" => Some(Category::Account),
            _ => None,
        }
    }

    pub fn seed_name(self) -> &'static str {
        match self {
            Category::Promotions => "promotions",
            Category::OrderUpdates => "order_updates",
            Category::Recommendations => "recommendations",
            Category::Account => "account",
        }
    }
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
#[graphql(name = "NotificationChannel")]
pub enum Channel {
    InApp,
    Email,
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::InApp, Channel::Email, Channel::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "IN_APP",
            Channel::Email => "EMAIL",
            Channel::Webhook => "WEBHOOK",
        }
    }
}

/// Opt-ins for one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct ChannelSet {
    pub in_app: bool,
    pub email: bool,
    pub webhook: bool,
}

impl ChannelSet {
    pub const ALL_ON: ChannelSet = ChannelSet {
        in_app: true,
        email: true,
        webhook: true,
    };
    pub const ALL_OFF: ChannelSet = ChannelSet {
        in_app: false,
        email: false,
        webhook: false,
    };

    pub fn get(&self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => self.in_app,
            Channel::Email => self.email,
            Channel::Webhook => self.webhook,
        }
    }

    pub fn set(&mut self, channel: Channel, on: bool) {
        match channel {
            Channel::InApp => self.in_app = on,
            Channel::Email => self.email = on,
            Channel::Webhook => self.webhook = on,
        }
    }

    pub fn any(&self) -> bool {
        self.in_app || self.email || self.webhook
    }
}

/// A shopper's full category × channel matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Preferences {
    pub promotions: ChannelSet,
    pub order_updates: ChannelSet,
    pub recommendations: ChannelSet,
    pub account: ChannelSet,
}

impl Default for Preferences {
    /// Transactional messages on every channel; marketing in-app only until the shopper opts in
    /// to email (consent for marketing email must be given, not assumed).
    fn default() -> Self {
        Self {
            promotions: ChannelSet {
                in_app: true,
                email: false,
                webhook: false,
            },
            order_updates: ChannelSet::ALL_ON,
            recommendations: ChannelSet {
                in_app: true,
                email: false,
                webhook: false,
            },
            account: ChannelSet {
                in_app: true,
                email: true,
                webhook: false,
            },
        }
    }
}

impl Preferences {
    pub fn category(&self, category: Category) -> &ChannelSet {
        match category {
            Category::Promotions => &self.promotions,
            Category::OrderUpdates => &self.order_updates,
            Category::Recommendations => &self.recommendations,
            Category::Account => &self.account,
        }
    }

    pub fn category_mut(&mut self, category: Category) -> &mut ChannelSet {
        match category {
            Category::Promotions => &mut self.promotions,
            Category::OrderUpdates => &mut self.order_updates,
            Category::Recommendations => &mut self.recommendations,
            Category::Account => &mut self.account,
        }
    }

    /// Whether a notification of `category` may go out on `channel`.
    pub fn allows(&self, category: Category, channel: Channel) -> bool {
        if category == Category::Account && channel == Channel::InApp {
            return true;
        }
        self.category(category).get(channel)
    }

    /// The seed API's list form: the listed categories fully on, the others off (account
    /// notices stay on in-app whatever the list says).
    pub fn from_seed_list<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut prefs = Preferences {
            promotions: ChannelSet::ALL_OFF,
            order_updates: ChannelSet::ALL_OFF,
            recommendations: ChannelSet::ALL_OFF,
            account: ChannelSet {
                in_app: true,
                email: false,
                webhook: false,
            },
        };
        for name in names {
            let category = Category::parse_seed_name(name.as_ref())
                .ok_or_else(|| format!("unknown preference '{}'", name.as_ref()))?;
            *prefs.category_mut(category) = ChannelSet::ALL_ON;
        }
        Ok(prefs)
    }

    /// The seed API's list form of these preferences: the categories with any channel on.
    pub fn to_seed_list(&self) -> Vec<&'static str> {
        Category::ALL
            .into_iter()
            .filter(|c| self.category(*c).any())
            .map(Category::seed_name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_event_contract() {
        let json = serde_json::to_value(Preferences::default()).expect("json");
        assert_eq!(json["PROMOTIONS"]["IN_APP"], true);
        assert_eq!(json["PROMOTIONS"]["EMAIL"], false);
        assert_eq!(json["ORDER_UPDATES"]["WEBHOOK"], true);
    }

    #[test]
    fn account_in_app_cannot_be_refused() {
        let prefs = Preferences {
            account: ChannelSet::ALL_OFF,
            ..Default::default()
        };
        assert!(prefs.allows(Category::Account, Channel::InApp));
        assert!(!prefs.allows(Category::Account, Channel::Email));
    }

    #[test]
    fn seed_list_round_trips() {
        let prefs = Preferences::from_seed_list(&["promotions", "order_update"]).expect("valid");
        assert!(prefs.allows(Category::Promotions, Channel::Email));
        assert!(!prefs.allows(Category::Recommendations, Channel::InApp));
        assert_eq!(
            prefs.to_seed_list(),
            vec!["promotions", "order_updates", "account"]
        );
        assert!(Preferences::from_seed_list(&["promotionz"]).is_err());
    }

    #[test]
    fn seed_types_map_as_designed() {
        assert_eq!(
            Category::from_seed_type("order_update"),
            Category::OrderUpdates
        );
        assert_eq!(
            Category::from_seed_type("recommendation"),
            Category::Recommendations
        );
        assert_eq!(Category::from_seed_type("newsletter"), Category::Account);
    }
}
