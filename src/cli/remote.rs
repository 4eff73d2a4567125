//! The admin API client the CLI uses while `paypki serve` holds the database (sled allows
//! one process per database). It finds the server in `server.json` in the data directory
//! and authenticates with the CLI's officer credential (`cli::officer::credential`).

use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::CliError;
use crate::config::DataDir;

/// What `serve` writes to `server.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Base URL of the running server.
    pub url: String,
    /// Its process id.
    pub pid: u32,
}

/// A client of `/v1/admin/…`.
#[derive(Debug)]
pub(crate) struct AdminClient {
    base: String,
    credential: String,
    agent: ureq::Agent,
}

/// An HTTP agent that returns 4xx/5xx as responses (to read problem documents).
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The default address of a CA server: `paypki serve`'s default `--listen`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where a participant or relying-party command (`enroll`, `renew`, `verify`,
/// `certificate`) sends its requests, and how that address was chosen (for messages).
#[derive(Debug, Clone)]
pub(crate) struct ClientUrl {
    /// The base URL, without a trailing slash.
    pub(crate) base: String,
    source: &'static str,
}

impl ClientUrl {
    /// `--url` (or `PAYPKI_URL`, which clap reads into the same flag) when given; else
    /// the server running on this data directory (its `server.json`), so commands run
    /// next to `paypki serve` find it on any port; else [`DEFAULT_URL`].
    pub(crate) fn resolve(flag: Option<&str>, dir: &DataDir) -> Self {
        if let Some(url) = flag.map(str::trim).filter(|u| !u.is_empty()) {
            return ClientUrl {
                base: url.trim_end_matches('/').to_string(),
                source: "from --url or PAYPKI_URL",
            };
        }
        let running = std::fs::read_to_string(dir.server_file())
            .ok()
            .and_then(|t| serde_json::from_str::<ServerInfo>(&t).ok());
        match running {
            Some(info) => ClientUrl {
                base: info.url.trim_end_matches('/').to_string(),
                source: "the server running on this data directory, from its server.json",
            },
            None => ClientUrl {
                base: DEFAULT_URL.to_string(),
                source:
                    "the default: no --url, no PAYPKI_URL, no server running on this data directory",
            },
        }
    }

    /// `base` + `path`.
    pub(crate) fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds to an "unreachable" error where the address came from and how to give another.
    pub(crate) fn explain(&self, error: CliError) -> CliError {
        match error {
            CliError::Unreachable(message) => CliError::Unreachable(format!(
                "{message} (the CA's address is {}; set PAYPKI_URL or --url to change it)",
                self.source
            )),
            other => other,
        }
    }
}

/// Reads a response: the JSON body on success. Otherwise the problem's detail, as
/// [`CliError::Unreachable`] when there is no answer to act on (no connection, a time-out,
/// 429 or a 5xx: trying again later may work) and as [`CliError::Failed`] for a refusal
/// (4xx).
pub(crate) fn read_response<T: DeserializeOwned>(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<T, CliError> {
    let mut response =
        response.map_err(|e| CliError::Unreachable(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    // Lists of a million records are large; the default 10 MB cap is not enough.
    let text = response
        .body_mut()
        .with_config()
        .limit(4 << 30)
        .read_to_string()
        .map_err(|e| CliError::Unreachable(format!("{url}: cannot read the response: {e}")))?;
    if status.is_success() {
        serde_json::from_str(&text)
            .map_err(|e| CliError::Unreachable(format!("{url}: unexpected response: {e}")))
    } else {
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
            .unwrap_or(text);
        let message = format!("{detail} (HTTP {})", status.as_u16());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(CliError::Unreachable(format!("{url}: {message}")))
        } else {
            Err(CliError::Failed(message))
        }
    }
}

impl AdminClient {
    /// Finds the running server of this data directory.
    pub(crate) fn for_data_dir(dir: &DataDir) -> Result<Self, CliError> {
        let info_path = dir.server_file();
        let info: ServerInfo = std::fs::read_to_string(&info_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| {
                CliError::Failed(format!(
                    "the database in {} is locked by another process, but {} does not say where a server runs; is another paypki command running?",
                    dir.root().display(),
                    info_path.display()
                ))
            })?;
        let (credential, _) = super::officer::credential(dir)?;
        Ok(AdminClient {
            base: info.url.trim_end_matches('/').to_string(),
            credential,
            agent: agent(),
        })
    }

    fn authorization(&self) -> String {
        format!("Bearer {}", self.credential)
    }

    /// `GET` an admin path (with query string).
    /// Every item of a paged admin listing at `path` (answered as `{"<field>": […],
    /// "next": …}`): 10,000 a page, each page continuing `after` the previous one.
    pub(crate) fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        field: &str,
        mut query: Vec<String>,
    ) -> Result<Vec<T>, CliError> {
        query.push("limit=10000".to_string());
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page_query = query.clone();
            if let Some(after) = &after {
                page_query.push(format!("after={after}"));
            }
            let mut page: serde_json::Value =
                self.get(&format!("{path}?{}", page_query.join("&")))?;
            let listed = page.get_mut(field).map(serde_json::Value::take);
            let listed: Vec<T> =
                serde_json::from_value(listed.unwrap_or_default()).map_err(|e| {
                    CliError::Failed(format!("the server's answer to {path} cannot be read: {e}"))
                })?;
            items.extend(listed);
            match page.get("next").and_then(serde_json::Value::as_str) {
                Some(next) => after = Some(next.to_string()),
                None => return Ok(items),
            }
        }
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, CliError> {
        let url = format!("{}{path_and_query}", self.base);
        let response = self
            .agent
            .get(&url)
            .header("Authorization", &self.authorization())
            .call();
        read_response(response, &url)
    }

    /// `GET` a binary resource (e.g. the CRL).
    pub(crate) fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| CliError::Unreachable(format!("cannot reach {url}: {e}")))?;
        if !response.status().is_success() {
            let message = format!("{url}: HTTP {}", response.status().as_u16());
            return Err(if response.status().is_server_error() {
                CliError::Unreachable(message)
            } else {
                CliError::Failed(message)
            });
        }
        response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| CliError::Failed(format!("{url}: {e}")))
    }

    /// `PATCH` JSON to an admin path.
    pub(crate) fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .agent
            .patch(&url)
            .header("Authorization", &self.authorization())
            .send_json(body);
        read_response(response, &url)
    }

    /// `POST` JSON to an admin path.
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .agent
            .post(&url)
            .header("Authorization", &self.authorization())
            .send_json(body);
        read_response(response, &url)
    }
}
