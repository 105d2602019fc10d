//! Writes to Google Cloud Storage through its JSON API: a backup as a resumable upload
//! (chunks of [`PART_SIZE`](super::PART_SIZE), the object appearing only when the last
//! one is sent at commit), a manifest as a media upload. `object_store` writes GCS through
//! the XML API's multipart uploads, which the GCS emulators do not serve; the JSON API is
//! what Google's own clients stream with, so one path serves both. Reads, HEAD, listing
//! and deletes stay with `object_store`. Never sees Redis or Terraform.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use object_store::gcp::{GcpCredentialProvider, GoogleCloudStorage};
use object_store::path::Path;
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

/// The public endpoint, when nothing else names one.
pub const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com";
/// Resumable chunks but the last must be multiples of this.
const CHUNK_UNIT: usize = 256 * 1024;
/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request (a chunk of 8 MiB at worst) may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

fn error(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "GCS",
        source: message.into(),
    }
}

/// What writes to one bucket: its endpoint and the credentials of the `object_store`
/// client made for it (none when requests are sent unsigned).
pub struct Writer {
    http: reqwest::Client,
    base: String,
    bucket: String,
    credentials: Option<GcpCredentialProvider>,
}

impl Writer {
    /// The writer for `bucket` at `base`, signing with `client`'s credentials unless
    /// `skip_signature`.
    pub fn new(
        client: &GoogleCloudStorage,
        base: &str,
        bucket: &str,
        skip_signature: bool,
    ) -> Result<Writer, object_store::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| error(format!("cannot make an HTTP client: {e}")))?;
        Ok(Writer {
            http,
            base: base.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            credentials: (!skip_signature).then(|| client.credentials().clone()),
        })
    }

    fn upload_url(&self, upload_type: &str, path: &Path) -> Result<Url, object_store::Error> {
        let mut url = Url::parse(&format!(
            "{}/upload/storage/v1/b/{}/o",
            self.base, self.bucket
        ))
        .map_err(|e| error(format!("bad endpoint {}: {e}", self.base)))?;
        url.query_pairs_mut()
            .append_pair("uploadType", upload_type)
            .append_pair("name", path.as_ref());
        Ok(url)
    }

    async fn request(
        &self,
        method: Method,
        url: Url,
    ) -> Result<reqwest::RequestBuilder, object_store::Error> {
        let mut req = self.http.request(method, url);
        if let Some(c) = &self.credentials {
            let token = c.get_credential().await?;
            if !token.bearer.is_empty() {
                req = req.header(AUTHORIZATION, format!("Bearer {}", token.bearer));
            }
        }
        Ok(req)
    }

    /// Writes `body` at `path` in one request.
    pub async fn put(&self, path: &Path, body: Bytes) -> Result<(), object_store::Error> {
        let url = self.upload_url("media", path)?;
        let resp = self
            .request(Method::POST, url)
            .await?
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| error(format!("upload failed: {e}")))?;
        expect_success(resp, "upload").await.map(|_| ())
    }

    /// Opens a resumable upload session for `path`: nothing is there until
    /// [`Resumable::finish`].
    pub async fn start(self: &Arc<Self>, path: &Path) -> Result<Resumable, object_store::Error> {
        let url = self.upload_url("resumable", path)?;
        let resp = self
            .request(Method::POST, url)
            .await?
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .body("{}")
            .send()
            .await
            .map_err(|e| error(format!("starting the upload failed: {e}")))?;
        let resp = expect_success(resp, "starting the upload").await?;
        let session = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .ok_or_else(|| error("the upload session has no Location".into()))?;
        Ok(Resumable {
            writer: Arc::clone(self),
            session,
            buffer: BytesMut::new(),
            sent: 0,
        })
    }
}

/// The response if it is a success; else its status and body as an error.
async fn expect_success(
    resp: reqwest::Response,
    what: &str,
) -> Result<reqwest::Response, object_store::Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(500).collect();
    if status == StatusCode::NOT_FOUND {
        return Err(object_store::Error::NotFound {
            path: String::new(),
            source: format!("{what}: {status}: {body}").into(),
        });
    }
    Err(error(format!(
        "{what}: Client error with status {status}: {body}"
    )))
}

/// A resumable upload in progress: full chunks are sent as they fill, one at a time;
/// the rest stays in memory until [`Resumable::finish`] sends it as the last chunk.
pub struct Resumable {
    writer: Arc<Writer>,
    session: Url,
    buffer: BytesMut,
    sent: u64,
}

impl Resumable {
    /// Appends `data`, sending every full chunk.
    pub async fn write(&mut self, data: &[u8], chunk: usize) -> Result<(), object_store::Error> {
        let chunk = chunk.max(CHUNK_UNIT) / CHUNK_UNIT * CHUNK_UNIT;
        self.buffer.extend_from_slice(data);
        while self.buffer.len() >= chunk {
            let part = self.buffer.split_to(chunk).freeze();
            self.send(part, false).await?;
        }
        Ok(())
    }

    /// Sends what is left as the last chunk: the object appears at its key.
    pub async fn finish(mut self) -> Result<u64, object_store::Error> {
        let rest = std::mem::take(&mut self.buffer).freeze();
        self.send(rest, true).await?;
        Ok(self.sent)
    }

    /// Cancels the session: nothing is left at the key.
    pub async fn abort(self) -> Result<(), object_store::Error> {
        let resp = self
            .writer
            .request(Method::DELETE, self.session.clone())
            .await?
            .send()
            .await
            .map_err(|e| error(format!("cancelling the upload failed: {e}")))?;
        // GCS answers a cancelled session with 499; gone already is fine.
        match resp.status().as_u16() {
            200..=299 | 404 | 410 | 499 => Ok(()),
            s => Err(error(format!("cancelling the upload: status {s}"))),
        }
    }

    async fn send(&mut self, part: Bytes, last: bool) -> Result<(), object_store::Error> {
        let len = part.len() as u64;
        let end = self.sent + len;
        let range = match (last, len) {
            (true, 0) => format!("bytes */{end}"),
            (true, _) => format!("bytes {}-{}/{end}", self.sent, end - 1),
            (false, _) => format!("bytes {}-{}/*", self.sent, end - 1),
        };
        let resp = self
            .writer
            .request(Method::PUT, self.session.clone())
            .await?
            .header(CONTENT_RANGE, range)
            .body(part)
            .send()
            .await
            .map_err(|e| error(format!("uploading bytes {}-{end} failed: {e}", self.sent)))?;
        // 308: the chunk is in, more may come; a success ends the upload.
        let status = resp.status();
        if (!last && status == StatusCode::PERMANENT_REDIRECT) || (last && status.is_success()) {
            self.sent = end;
            return Ok(());
        }
        let what = format!("uploading bytes {}-{end}", self.sent);
        expect_success(resp, &what).await?;
        Err(error(format!("{what}: unexpected status {status}")))
    }
}

/// The endpoint the `object_store` client for these settings uses: `endpoint`, else the
/// `gcs_base_url` of a service account key (as emulators' keys carry), else Google's.
pub fn base_url(endpoint: Option<&str>, service_account_json: Option<&str>) -> String {
    endpoint
        .map(str::to_string)
        .or_else(|| {
            let v: serde_json::Value = serde_json::from_str(service_account_json?).ok()?;
            v["gcs_base_url"].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_comes_from_the_settings_then_the_key_then_google() {
        assert_eq!(
            base_url(Some("http://127.0.0.1:4443"), None),
            "http://127.0.0.1:4443"
        );
        let key = r#"{"gcs_base_url": "http://emulator:4443", "disable_oauth": true}"#;
        assert_eq!(base_url(None, Some(key)), "http://emulator:4443");
        assert_eq!(base_url(None, Some("{}")), DEFAULT_BASE_URL);
        assert_eq!(base_url(None, None), DEFAULT_BASE_URL);
    }
}
