//! SQL schema for the recommendations store. Never edit a shipped migration; add one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateRecommendationTables)]
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Category,
    PriceCents,
    InStock,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activity {
    Table,
    Id,
    UserId,
    ProductId,
    Kind,
    OccurredAt,
}

#[derive(DeriveIden)]
enum ProductModels {
    Table,
    ProductId,
    Popularity,
    Neighbours,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Interests {
    Table,
    UserId,
    Categories,
    UpdatedAt,
}

// The column is `published_at`, whatever clippy thinks of the prefix.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Published {
    Table,
    UserId,
    ProductIds,
    Reasons,
    PublishedAt,
}

struct CreateRecommendationTables;

impl MigrationName for CreateRecommendationTables {
    fn name(&self) -> &str {
        "m0001_create_recommendation_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRecommendationTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .if_not_exists()
                    .col(string_len(Products::Id, 128).primary_key())
                    .col(string_len(Products::Name, 800))
                    .col(string_len(Products::Category, 64))
                    .col(big_integer(Products::PriceCents))
                    .col(boolean(Products::InStock))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Catalog browsing by category, in id order.
        manager
            .create_index(
                Index::create()
                    .name("ix_products_category")
                    .table(Products::Table)
                    .col(Products::Category)
                    .col(Products::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Activity::Table)
                    .if_not_exists()
                    // `api/<user>/<key>` or `evt/<envelope id>/<product>`.
                    .col(string_len(Activity::Id, 400).primary_key())
                    .col(string_len(Activity::UserId, 128))
                    .col(string_len(Activity::ProductId, 128))
                    .col(string_len(Activity::Kind, 16))
                    .col(timestamp_with_time_zone(Activity::OccurredAt))
                    .to_owned(),
            )
            .await?;
        // One shopper's history, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_user")
                    .table(Activity::Table)
                    .col(Activity::UserId)
                    .col((Activity::OccurredAt, IndexOrder::Desc))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Model rebuilds and active users read a time window.
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_time")
                    .table(Activity::Table)
                    .col(Activity::OccurredAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProductModels::Table)
                    .if_not_exists()
                    .col(string_len(ProductModels::ProductId, 128).primary_key())
                    .col(double(ProductModels::Popularity))
                    .col(text(ProductModels::Neighbours))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .if_not_exists()
                    .col(string_len(Counters::Name, 32).primary_key())
                    .col(big_integer(Counters::Value))
                    .col(timestamp_with_time_zone_null(Counters::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        let seed = Query::insert()
            .into_table(Counters::Table)
            .columns([Counters::Name, Counters::Value])
            .values_panic(["catalog".into(), 0i64.into()])
            .values_panic(["model".into(), 0i64.into()])
            .on_conflict(OnConflict::column(Counters::Name).do_nothing().to_owned())
            .to_owned();
        manager.exec_stmt(seed).await?;
        manager
            .create_table(
                Table::create()
                    .table(Interests::Table)
                    .if_not_exists()
                    .col(string_len(Interests::UserId, 128).primary_key())
                    .col(text(Interests::Categories))
                    .col(timestamp_with_time_zone(Interests::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Published::Table)
                    .if_not_exists()
                    .col(string_len(Published::UserId, 128).primary_key())
                    .col(text(Published::ProductIds))
                    .col(text(Published::Reasons))
                    .col(timestamp_with_time_zone(Published::PublishedAt))
                    .to_owned(),
            )
            .await
    }
}
