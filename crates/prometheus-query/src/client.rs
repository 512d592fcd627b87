//! The HTTP client (feature `client`, on by default): everything that talks to a server. The
//! fuzz targets build the crate without it, so their sanitizer build compiles no TLS or C code.

use std::fmt;

use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use secret_log::{Logger, Secret};
use serde_json::json;
use tls_client::Roots;

use crate::{
    decode_answer, Cause, Config, QueryError, Sample, ATTEMPTS, ATTEMPT_TIMEOUT, BACKOFF, MAX_BODY_BYTES,
    MAX_IN_FLIGHT, RUN_DEADLINE,
};

/// A Prometheus client for one run.
pub struct Client {
    http: Result<reqwest::Client, String>,
    url: String,
    display_url: String,
    token: Option<Secret<String>>,
    log: Logger,
    deadline: tokio::time::Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("url", &self.display_url).field("token", &self.token).finish_non_exhaustive()
    }
}

/// The URL with any user information, query and fragment removed, for messages.
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

impl Client {
    /// Builds the run's client: reads the token (a warning if it cannot) and the CA file. A TLS
    /// setup failure does not fail here: every query of the run then fails with it.
    /// The run's deadline ([`RUN_DEADLINE`]) starts here.
    #[must_use]
    pub fn new(config: &Config, log: Logger) -> Self {
        let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
        let token = match std::fs::read_to_string(&config.token_file) {
            Ok(t) => Some(Secret::new(t.trim_end().to_string())),
            Err(e) => {
                log.warn(
                    "cannot read the Prometheus token file, querying without Authorization",
                    &[("file", json!(config.token_file.display().to_string())), ("error", json!(e.to_string()))],
                );
                None
            }
        };
        if config.insecure_skip_verify {
            log.warn("Prometheus TLS certificate verification is disabled (PROMETHEUS_INSECURE_SKIP_VERIFY)", &[]);
        }
        let http = Self::build_http(config);
        Self { http, url: config.url.clone(), display_url: without_credentials(&config.url), token, log, deadline }
    }

    /// The same client with another deadline (tests of the deadline use a short one).
    #[must_use]
    pub fn with_deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = deadline;
        self
    }

    fn build_http(config: &Config) -> Result<reqwest::Client, String> {
        tls_client::install_default_provider();
        // No redirects: following one would re-send the bearer token to another address.
        let mut builder = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .no_proxy()
            .http1_only()
            .redirect(reqwest::redirect::Policy::none());
        if config.url.starts_with("https://") {
            let tls = tls_client::client_config(&Roots::PemFile(config.ca_file.clone()), !config.insecure_skip_verify)
                .map_err(|e| e.to_string())?;
            builder = builder.tls_backend_preconfigured(tls);
        }
        builder.build().map_err(|e| e.without_url().to_string())
    }

    /// Runs one query with retries.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, QueryError> {
        let err = |cause| QueryError { query: promql.to_string(), url: self.display_url.clone(), cause };
        let http = self.http.as_ref().map_err(|e| err(Cause::TlsSetup(e.clone())))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(http, promql).await {
                Ok(samples) => return Ok(samples),
                Err((cause, retry)) => {
                    if !retry || attempt >= ATTEMPTS {
                        let cause = match cause {
                            Cause::TimedOut { .. } => Cause::TimedOut { attempts: attempt },
                            Cause::Connect { detail, .. } => Cause::Connect { detail, attempts: attempt },
                            c => c,
                        };
                        return Err(err(cause));
                    }
                    self.log.debug(
                        "retrying Prometheus query",
                        &[("query", json!(promql)), ("attempt", json!(attempt)), ("error", json!(cause.to_string()))],
                    );
                    tokio::time::sleep(BACKOFF[(attempt - 1) as usize]).await;
                }
            }
        }
    }

    /// One attempt; the error says whether it may be retried.
    async fn attempt(&self, http: &reqwest::Client, promql: &str) -> Result<Vec<Sample>, (Cause, bool)> {
        let mut url = url::Url::parse(&format!("{}/api/v1/query", self.url))
            .map_err(|e| (Cause::Connect { detail: format!("invalid PROMETHEUS_URL: {e}"), attempts: 1 }, false))?;
        url.query_pairs_mut().append_pair("query", promql);
        let mut req = http.get(url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose());
        }
        let resp = req.send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            return Err((Cause::Redirect(status), false));
        }
        let body = read_bounded(resp, MAX_BODY_BYTES).await?;
        let answer = decode_answer(status, &body).map_err(|c| {
            let retry = c.is_retryable();
            (c, retry)
        })?;
        if answer.dropped > 0 {
            self.log.warn(
                "dropping sample: value is not a finite number",
                &[("query", json!(promql)), ("dropped", json!(answer.dropped))],
            );
        }
        Ok(answer.samples)
    }

    /// Runs all queries concurrently (at most [`MAX_IN_FLIGHT`]) under [`RUN_DEADLINE`]; results
    /// come back in the order of `queries`.
    ///
    /// A query still waiting for a slot when the deadline passes is not sent: it fails at once
    /// with [`Cause::DeadlineExceeded`], so a huge run ends at its deadline instead of opening one
    /// more connection per remaining query.
    pub async fn query_all<S: AsRef<str>>(&self, queries: &[S]) -> Vec<Result<Vec<Sample>, QueryError>> {
        let deadline = self.deadline;
        stream::iter(queries.iter().map(|q| async move {
            let q = q.as_ref();
            let exceeded =
                || QueryError { query: q.to_string(), url: self.display_url.clone(), cause: Cause::DeadlineExceeded };
            if tokio::time::Instant::now() >= deadline {
                return Err(exceeded());
            }
            tokio::time::timeout_at(deadline, self.query(q)).await.unwrap_or_else(|_| Err(exceeded()))
        }))
        .buffered(MAX_IN_FLIGHT)
        .collect()
        .await
    }
}

/// Reads the body into memory, at most `limit` bytes (`http_body_util::Limited`): a declared
/// `Content-Length` above the limit is refused before reading, and an endless or undeclared body
/// is cut at the limit.
async fn read_bounded(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, (Cause, bool)> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err((Cause::BodyTooLarge, false));
    }
    match Limited::new(reqwest::Body::from(resp), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(e) if e.is::<LengthLimitError>() => Err((Cause::BodyTooLarge, false)),
        Err(e) => Err(if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            classify(e)
        } else {
            let detail = tls_client::causes(&*e).pop().unwrap_or_else(|| e.to_string());
            (Cause::Connect { detail: format!("reading the body: {detail}"), attempts: 1 }, true)
        }),
    }
}

/// Maps a transport error to a cause; built from our own words and the error's sources only, so
/// the URL (and any credential in it) never appears.
fn classify(e: &reqwest::Error) -> (Cause, bool) {
    if let Some(v) = tls_client::verification_failure(e) {
        return (Cause::CertificateVerifyFailed(v), false);
    }
    if e.is_timeout() {
        return (Cause::TimedOut { attempts: 1 }, true);
    }
    let detail = tls_client::causes(e).pop().unwrap_or_else(|| "request failed".into());
    if e.is_decode() || e.is_body() {
        return (Cause::Connect { detail: format!("reading the body: {detail}"), attempts: 1 }, true);
    }
    (Cause::Connect { detail, attempts: 1 }, true)
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(without_credentials("https://user:pw@prom:9090/x"), "https://prom:9090/x");
        assert_eq!(without_credentials("http://127.0.0.1:9090"), "http://127.0.0.1:9090");
        assert_eq!(without_credentials("https://prom:9090/p?token=t#f"), "https://prom:9090/p");
        assert_eq!(without_credentials("http://u:p@a b:1"), "<invalid URL>");
    }
}
