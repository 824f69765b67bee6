//! The users database: sea-orm entities, and migrations applied at start-up.

pub mod entities;
pub mod migrations;

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

/// Connects and brings the schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = herald_service::sql::connect(url).await?;
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
}
