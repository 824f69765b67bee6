//! Table models. Ids are UUID v4 strings: opaque to clients, portable across SQLite/Postgres.

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// As the shopper typed it.
        pub email: String,
        /// Lower-cased; the unique index that makes emails case-insensitively unique.
        pub email_normalized: String,
        pub name: String,
        pub password_hash: String,
        /// Comma-separated role names.
        pub roles: String,
        /// JSON, in the shape of `herald_service::preferences::Preferences`.
        pub preferences: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox_event {
    use sea_orm::entity::prelude::*;

    /// An event committed with the change that caused it, waiting to be published.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub routing_key: String,
        /// The serialized envelope, published byte for byte.
        pub payload: String,
        pub created_at: DateTimeUtc,
        pub published_at: Option<DateTimeUtc>,
        pub attempts: i32,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
