//! Blob storage behind the emulator: a real Azurite.
//!
//! The emulator never stores blob content itself. It signs SAS tokens for Azurite with the
//! account key (Azurite's well-known development key unless told otherwise), creates the
//! containers uploads go to, and copies blobs out of Azurite into the data directory before a
//! job runs. [`Azurite`] starts and stops an Azurite process for tests and for
//! `amlops emulator --azurite PATH`.
//!
//! SAS tokens are credentials: they are handed to the client that asked for them and never
//! logged; the account key never leaves this module.

use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use super::{EmulatorError, Result};

/// Azurite's development account, documented by Microsoft for every storage emulator.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's development account key (public, the same on every machine).
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The storage service version the emulator speaks and signs for.
const SERVICE_VERSION: &str = "2021-08-06";
/// How long handed-out SAS tokens stay valid.
const SAS_LIFETIME: time::Duration = time::Duration::hours(8);

/// A blob storage account reached path-style (`http://127.0.0.1:10000/devstoreaccount1`).
#[derive(Clone)]
pub struct StorageAccount {
    /// The account's blob URL, without a trailing slash.
    pub endpoint: String,
    pub account: String,
    key: Vec<u8>,
}

impl fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageAccount")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// What a SAS token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and list.
    Read,
    /// Read, add, create, write, delete and list: what uploads need.
    ReadWrite,
}

impl Access {
    fn permissions(self) -> &'static str {
        match self {
            Access::Read => "rl",
            Access::ReadWrite => "racwdl",
        }
    }
}

impl StorageAccount {
    /// Azurite's development account at `blob_host`, such as `http://127.0.0.1:10000`.
    pub fn azurite(blob_host: &str) -> Self {
        StorageAccount {
            endpoint: format!("{}/{DEV_ACCOUNT}", blob_host.trim_end_matches('/')),
            account: DEV_ACCOUNT.into(),
            key: BASE64
                .decode(DEV_KEY)
                .expect("the development key is base64"),
        }
    }

    /// Any account, given its path-style blob URL and its base64 key.
    pub fn new(endpoint: &str, account: &str, key_base64: &str) -> Result<Self> {
        let key = BASE64
            .decode(key_base64.trim())
            .map_err(|_| EmulatorError::Config("the storage account key is not base64".into()))?;
        Ok(StorageAccount {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            account: account.to_owned(),
            key,
        })
    }

    /// Reads `URL` (Azurite's development account) or `URL;ACCOUNT;KEY`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.split(';').collect::<Vec<_>>().as_slice() {
            [host] => {
                let host = host.trim_end_matches('/');
                let host = host
                    .strip_suffix(&format!("/{DEV_ACCOUNT}"))
                    .unwrap_or(host);
                Ok(StorageAccount::azurite(host))
            }
            [endpoint, account, key] => StorageAccount::new(endpoint, account, key),
            _ => Err(EmulatorError::Config(format!(
                "storage `{text}` is neither URL nor URL;ACCOUNT;KEY"
            ))),
        }
    }

    pub fn container_url(&self, container: &str) -> String {
        format!("{}/{container}", self.endpoint)
    }

    /// A service SAS query (without `?`) for one container.
    pub fn container_sas(&self, container: &str, access: Access) -> String {
        let expiry = OffsetDateTime::now_utc() + SAS_LIFETIME;
        self.container_sas_until(container, access, expiry)
    }

    fn container_sas_until(
        &self,
        container: &str,
        access: Access,
        expiry: OffsetDateTime,
    ) -> String {
        let expiry = timestamp(expiry);
        let permissions = access.permissions();
        let resource = format!("/blob/{}/{container}", self.account);
        // The fields of a service SAS (version 2020-12-06 and later), in order; empty ones
        // are the start, identifier, IP, protocol, snapshot, encryption scope and the five
        // response headers.
        let fields = [
            permissions,
            "",
            &expiry,
            &resource,
            "",
            "",
            "",
            SERVICE_VERSION,
            "c",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ];
        let signature = self.sign(&fields.join("\n"));
        format!(
            "sv={SERVICE_VERSION}&sr=c&sp={permissions}&se={}&sig={}",
            encode(&expiry),
            encode(&signature)
        )
    }

    /// An account SAS query (without `?`) for everything the emulator itself does: creating
    /// containers, listing and reading blobs.
    fn account_sas(&self) -> String {
        let expiry = timestamp(OffsetDateTime::now_utc() + SAS_LIFETIME);
        let permissions = "rwdlac";
        let fields = [
            self.account.as_str(),
            permissions,
            "b",
            "sco",
            "",
            &expiry,
            "",
            "",
            SERVICE_VERSION,
            "",
            "",
        ];
        let signature = self.sign(&fields.join("\n"));
        format!(
            "sv={SERVICE_VERSION}&ss=b&srt=sco&sp={permissions}&se={}&sig={}",
            encode(&expiry),
            encode(&signature)
        )
    }

    fn sign(&self, text: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key size");
        mac.update(text.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// Whether `uri` is a blob of this account; returns its container and blob path.
    pub fn blob_of<'u>(&self, uri: &'u str) -> Option<(&'u str, &'u str)> {
        let rest = strip_prefix_ignoring_case(uri, &format!("{}/", self.endpoint))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (container, path) = rest.split_once('/').unwrap_or((rest, ""));
        (!container.is_empty()).then_some((container, path.trim_end_matches('/')))
    }
}

fn strip_prefix_ignoring_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn timestamp(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Iso8601::DEFAULT)
        .map(|t| {
            // `2026-01-01T00:00:00.000000000Z` → `2026-01-01T00:00:00Z`, as storage expects.
            match t.split_once('.') {
                Some((whole, _)) => format!("{whole}Z"),
                None => t,
            }
        })
        .unwrap_or_default()
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Encodes a blob path for a URL, keeping its slashes.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Talks to the storage account: containers, listings, downloads.
#[derive(Clone)]
pub struct BlobClient {
    account: StorageAccount,
    http: reqwest::Client,
}

impl BlobClient {
    pub fn new(account: StorageAccount) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| EmulatorError::Config(format!("cannot make a storage client: {e}")))?;
        Ok(BlobClient { account, http })
    }

    pub fn account(&self) -> &StorageAccount {
        &self.account
    }

    /// Creates a container; one that exists already is fine.
    pub async fn create_container(&self, container: &str) -> std::result::Result<(), String> {
        let url = format!(
            "{}?restype=container&{}",
            self.account.container_url(container),
            self.account.account_sas()
        );
        let response = self.send(self.http.put(&url)).await?;
        match response.status().as_u16() {
            201 | 409 => Ok(()),
            status => Err(format!(
                "cannot create container {container}: storage answered {status}"
            )),
        }
    }

    /// The names of the blobs in `container` starting with `prefix`.
    pub async fn list(
        &self,
        container: &str,
        prefix: &str,
    ) -> std::result::Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let url = format!(
                "{}?restype=container&comp=list&prefix={}&marker={}&{}",
                self.account.container_url(container),
                encode(prefix),
                encode(&marker),
                self.account.account_sas()
            );
            let response = self.send(self.http.get(&url)).await?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| e.to_string())?;
            if status == 404 {
                return Ok(Vec::new());
            }
            if status != 200 {
                return Err(format!(
                    "cannot list container {container}: storage answered {status}"
                ));
            }
            let page = ListPage::parse(&text);
            names.extend(page.names);
            match page.next_marker {
                Some(next) if !next.is_empty() => marker = next,
                _ => return Ok(names),
            }
        }
    }

    /// Copies the blob `path` of `container`, or every blob under `path/`, to `local` (a file
    /// for one blob, a folder otherwise). Returns how many blobs were copied.
    pub async fn copy_out(
        &self,
        container: &str,
        path: &str,
        local: &Path,
    ) -> std::result::Result<usize, String> {
        let folder_prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let names = self.list(container, path).await?;
        let mut copied = 0;
        for name in &names {
            let destination = if name == path {
                local.to_path_buf()
            } else if let Some(relative) = name.strip_prefix(&folder_prefix) {
                match safe_join(local, relative) {
                    Some(destination) => destination,
                    None => continue,
                }
            } else {
                continue;
            };
            self.download(container, name, &destination).await?;
            copied += 1;
        }
        Ok(copied)
    }

    async fn download(
        &self,
        container: &str,
        name: &str,
        destination: &Path,
    ) -> std::result::Result<(), String> {
        let url = format!(
            "{}/{}?{}",
            self.account.container_url(container),
            encode_path(name),
            self.account.account_sas()
        );
        let response = self.send(self.http.get(&url)).await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!(
                "cannot read blob {container}/{name}: storage answered {status}"
            ));
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if let Some(parent) = destination.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        tokio::fs::write(destination, &bytes)
            .await
            .map_err(|e| format!("{}: {e}", destination.display()))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> std::result::Result<reqwest::Response, String> {
        request
            .header("x-ms-version", SERVICE_VERSION)
            .header("x-ms-date", httpdate_now())
            .send()
            .await
            // reqwest's error names the URL, whose query holds a SAS: keep only the kind.
            .map_err(|e| {
                format!(
                    "storage at {} is unreachable: {}",
                    self.account.endpoint,
                    error_kind(&e)
                )
            })
    }
}

fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        "connection refused"
    } else if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    }
}

/// The date header storage wants (RFC 1123).
fn httpdate_now() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// Joins a blob's relative name to a folder, refusing names that climb out of it.
fn safe_join(root: &Path, relative: &str) -> Option<PathBuf> {
    let relative = Path::new(relative);
    (relative.components().count() > 0
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_))))
    .then(|| root.join(relative))
}

/// One page of a List Blobs answer.
#[derive(Debug, Default, PartialEq)]
struct ListPage {
    names: Vec<String>,
    next_marker: Option<String>,
}

impl ListPage {
    /// Reads the blob names and the continuation marker out of the XML answer. The document
    /// is flat and machine-written, so reading the elements by name is enough.
    fn parse(xml: &str) -> Self {
        let element = |name: &str| {
            regex::Regex::new(&format!("<{name}>([^<]*)</{name}>")).expect("fixed pattern")
        };
        let blob_names = element("Name");
        let mut names = Vec::new();
        for blob in xml.split("<Blob>").skip(1) {
            let blob = blob.split("</Blob>").next().unwrap_or_default();
            if let Some(name) = blob_names.captures(blob) {
                names.push(unescape(&name[1]));
            }
        }
        let next_marker = element("NextMarker").captures(xml).map(|c| unescape(&c[1]));
        ListPage { names, next_marker }
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An Azurite blob service started by this process and stopped when dropped.
pub struct Azurite {
    child: Child,
    /// Its blob host, such as `http://127.0.0.1:41235`.
    pub blob_host: String,
}

impl Azurite {
    /// Starts `azurite-blob` (the executable of the npm package) on a free loopback port,
    /// keeping its data in `location`, and waits until it listens.
    pub fn start(executable: &Path, location: &Path) -> Result<Self> {
        std::fs::create_dir_all(location).map_err(|source| EmulatorError::Io {
            context: location.display().to_string(),
            source,
        })?;
        let mut child = Command::new(executable)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(location)
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| EmulatorError::Io {
                context: format!("cannot start {}", executable.display()),
                source,
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if let Some(url) = line.split("listens on ").nth(1) {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(blob_host) => Ok(Azurite { child, blob_host }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(EmulatorError::Config(format!(
                    "{} did not report a listening address within 60 s",
                    executable.display()
                )))
            }
        }
    }

    /// The development account of this Azurite.
    pub fn account(&self) -> StorageAccount {
        StorageAccount::azurite(&self.blob_host)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_sas_matches_the_storage_sdk() {
        // Known answer from azure-storage-blob 12.31.1's generate_container_sas with the same
        // account, key, container, permission "racwdl", expiry and version.
        let account = StorageAccount::azurite("http://127.0.0.1:10000");
        let expiry = OffsetDateTime::from_unix_timestamp(1_893_456_000).unwrap();
        let sas = account.container_sas_until("code-1", Access::ReadWrite, expiry);
        assert_eq!(
            sas,
            "sv=2021-08-06&sr=c&sp=racwdl&se=2030-01-01T00%3A00%3A00Z&sig=AqBiPSXJg4HHt7fNjC%2FDtR1DvrqoF1afrLNP4b3MT10%3D"
        );
    }

    #[test]
    fn storage_settings_and_blob_urls() {
        let account = StorageAccount::parse("http://127.0.0.1:10000/devstoreaccount1/").unwrap();
        assert_eq!(account.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert!(!format!("{account:?}").contains(DEV_KEY));
        assert_eq!(
            account.blob_of("http://127.0.0.1:10000/devstoreaccount1/c1/src/a.py?sig=x"),
            Some(("c1", "src/a.py"))
        );
        assert_eq!(
            account.blob_of("http://127.0.0.1:10000/devstoreaccount1/c1"),
            Some(("c1", ""))
        );
        assert_eq!(
            account.blob_of("http://127.0.0.1:9/devstoreaccount1/c1/x"),
            None
        );
        assert!(StorageAccount::parse("a;b").is_err());
        assert!(StorageAccount::parse("http://h/acct;acct;not base64!").is_err());
    }

    #[test]
    fn list_pages_are_read() {
        let xml = "<?xml version=\"1.0\"?><EnumerationResults><Blobs><Blob><Name>src/a&amp;b.py</Name><Properties><Content-Length>3</Content-Length></Properties></Blob><Blob><Name>src/c.py</Name></Blob></Blobs><NextMarker>m2</NextMarker></EnumerationResults>";
        assert_eq!(
            ListPage::parse(xml),
            ListPage {
                names: vec!["src/a&b.py".into(), "src/c.py".into()],
                next_marker: Some("m2".into())
            }
        );
        assert_eq!(safe_join(Path::new("/x"), "../y"), None);
        assert_eq!(encode_path("a b/c"), "a%20b/c");
    }
}
