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
