//! The HTTP floor for `scripts/bench`: an axum server whose only handler returns an empty
//! 200, on the same runtime settings as `paypki serve`. No endpoint can be faster.
//!
//! `cargo run --release --example empty_axum -- 127.0.0.1:9000`
#![forbid(unsafe_code)]

use axum::routing::{get, post};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let app = axum::Router::new()
        .route("/", get(|| async { "" }))
        .route("/", post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("empty axum handler on http://{address}");
    axum::serve(listener, app).await
}
