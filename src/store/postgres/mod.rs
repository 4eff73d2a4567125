//! The PostgreSQL store: the same traits as [`super::SledStore`], shared by many nodes.
//! (Being written: see issue #13.)

use super::StoreError;

/// A store on a PostgreSQL server.
#[derive(Debug)]
pub struct PgStore {}

impl PgStore {
    /// Connects to `url` and checks the schema.
    pub fn connect(_url: &str) -> Result<PgStore, StoreError> {
        Err(StoreError::Unavailable(
            "PostgreSQL support is not built yet".into(),
        ))
    }
}

impl PgStore {
    /// Applies the missing schema migrations; returns those applied.
    pub fn migrate(_url: &str) -> Result<Vec<(u32, String)>, StoreError> {
        Err(StoreError::Unavailable(
            "PostgreSQL support is not built yet".into(),
        ))
    }

    /// The schema version of the database (none when it has no schema) and the latest
    /// this version knows.
    pub fn schema_version(_url: &str) -> Result<(Option<u32>, u32), StoreError> {
        Err(StoreError::Unavailable(
            "PostgreSQL support is not built yet".into(),
        ))
    }
}
