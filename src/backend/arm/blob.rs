//! Uploading local content to blob storage through a SAS.
//!
//! `startPendingUpload` hands out a folder URL and a SAS query granting writes under it. Each
//! file goes up with Put Blob, or, above [`BlobOptions::single_put_limit`], as blocks put in
//! parallel and committed with Put Block List. Content is addressed by its tree digest, so a
//! folder uploaded once need not go up again: the first file is written last, with the digest
//! in its metadata, and a folder whose first file carries that digest is complete.
//!
//! The SAS query lives in [`SasFolder`] only; errors and logs name blobs by path.

use std::fmt;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, Url};

use super::http::{Call, Http, Payload};
use crate::backend::BackendError;
use crate::content::{FileEntry, FileSet};

/// The storage service version amlops speaks.
pub const STORAGE_VERSION: &str = "2023-11-03";

/// The metadata key of the seal.
const DIGEST_METADATA: &str = "x-ms-meta-amlops_digest";

#[derive(Clone, Debug)]
pub struct BlobOptions {
    /// Files up to this size go up in one Put Blob.
    pub single_put_limit: u64,
    /// The size of a block of a larger file.
    pub block_size: u64,
    /// Files, or blocks of one file, sent at once (the client's cap still applies).
    pub parallel: usize,
}

impl Default for BlobOptions {
    fn default() -> Self {
        Self {
            single_put_limit: 32 << 20,
            block_size: 8 << 20,
            parallel: 8,
        }
    }
}

/// A folder in blob storage and the SAS that opens it.
#[derive(Clone)]
pub struct SasFolder {
    /// Without query.
    folder: Url,
    sas: String,
}

impl fmt::Debug for SasFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasFolder")
            .field("folder", &self.folder.as_str())
            .finish_non_exhaustive()
    }
}

impl SasFolder {
    /// Reads a SAS URI (`https://acct.blob.core.windows.net/container/folder?sv=…&sig=…`).
    pub fn parse(sas_uri: &str) -> Result<Self, BackendError> {
        let mut url = Url::parse(sas_uri)
            .map_err(|_| BackendError::Other("the service returned an invalid SAS URI".into()))?;
        let sas = url.query().unwrap_or_default().to_owned();
        url.set_query(None);
        Ok(Self { folder: url, sas })
    }

    /// The folder `relative` below this one (each segment percent-encoded).
    pub fn child(&self, relative: &str) -> SasFolder {
        let mut folder = self.folder.clone();
        if let Ok(mut segments) = folder.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(relative.split('/').filter(|s| !s.is_empty()));
        }
        SasFolder {
            folder,
            sas: self.sas.clone(),
        }
    }

    /// The URL of the folder, without its SAS: what resources point at.
    pub fn public_url(&self) -> &str {
        self.folder.as_str()
    }

    /// The blob URL with the SAS and extra query parameters.
    fn signed(&self, extra: &[(&str, &str)]) -> Url {
        let mut url = self.folder.clone();
        let mut query = self.sas.clone();
        for (key, value) in extra {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(key);
            query.push('=');
            query.push_str(&url_escape(value));
        }
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        url
    }
}

/// Percent-encodes everything but unreserved characters.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What an upload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// The content was there already.
    pub skipped: bool,
    pub files: usize,
    pub bytes: u64,
}

/// Uploads `set` to `base`: a file becomes the blob `base`, a folder's files go below it.
pub async fn upload(
    http: &Http,
    set: &FileSet,
    base: &SasFolder,
    digest: &str,
    options: &BlobOptions,
) -> Result<Sent, BackendError> {
    let Some((seal, rest)) = set.files.split_first() else {
        return Ok(Sent::default());
    };
    let blob = |file: &FileEntry| {
        if set.is_dir {
            base.child(&file.relative)
        } else {
            base.clone()
        }
    };
    if is_sealed(http, &blob(seal), digest).await? {
        tracing::debug!(folder = base.folder.path(), "content already uploaded");
        return Ok(Sent {
            skipped: true,
            ..Sent::default()
        });
    }
    let puts: Vec<_> = rest
        .iter()
        .map(|file| put_file(http, file, blob(file), None, options))
        .collect();
    futures::stream::iter(puts)
        .buffer_unordered(options.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    put_file(http, seal, blob(seal), Some(digest), options).await?;
    Ok(Sent {
        skipped: false,
        files: set.files.len(),
        bytes: set.total_bytes(),
    })
}

/// Whether the seal blob exists with this digest.
async fn is_sealed(http: &Http, seal: &SasFolder, digest: &str) -> Result<bool, BackendError> {
    let call = blob_call(Method::HEAD, seal.signed(&[]));
    match http.send(&call).await {
        Ok(reply) => Ok(reply.header(DIGEST_METADATA) == Some(digest)),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The longest wait for one blob request: a block or a small file on a slow link.
const BLOB_TIMEOUT: Duration = Duration::from_secs(600);

fn blob_call(method: Method, url: Url) -> Call {
    let mut call = Call::new(method, url).header("x-ms-version", STORAGE_VERSION);
    call.bearer = false;
    call.timeout = Some(BLOB_TIMEOUT);
    call
}

async fn put_file(
    http: &Http,
    file: &FileEntry,
    blob: SasFolder,
    seal: Option<&str>,
    options: &BlobOptions,
) -> Result<(), BackendError> {
    if file.size <= options.single_put_limit {
        let bytes = read_range(file, 0, file.size).await?;
        let mut call =
            blob_call(Method::PUT, blob.signed(&[])).header("x-ms-blob-type", "BlockBlob");
        if let Some(digest) = seal {
            call = call.header(DIGEST_METADATA, digest);
        }
        call.payload = Payload::Bytes(bytes, "application/octet-stream");
        http.send(&call).await?;
        return Ok(());
    }
    let block_size = options.block_size.max(1);
    let count = file.size.div_ceil(block_size);
    let ids: Vec<String> = (0..count).map(block_id).collect();
    let puts: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| put_block(http, file, &blob, index as u64 * block_size, block_size, id))
        .collect();
    futures::stream::iter(puts)
        .buffer_unordered(options.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let mut call = blob_call(Method::PUT, blob.signed(&[("comp", "blocklist")]));
    if let Some(digest) = seal {
        call = call.header(DIGEST_METADATA, digest);
    }
    call.payload = Payload::Bytes(Bytes::from(block_list(&ids)), "application/xml");
    http.send(&call).await?;
    Ok(())
}

async fn put_block(
    http: &Http,
    file: &FileEntry,
    blob: &SasFolder,
    offset: u64,
    block_size: u64,
    id: &str,
) -> Result<(), BackendError> {
    let bytes = read_range(file, offset, block_size.min(file.size - offset)).await?;
    let mut call = blob_call(
        Method::PUT,
        blob.signed(&[("comp", "block"), ("blockid", id)]),
    );
    call.payload = Payload::Bytes(bytes, "application/octet-stream");
    http.send(&call).await.map(|_| ())
}

/// Block ids of one blob must all have the same length.
fn block_id(index: u64) -> String {
    STANDARD.encode(format!("amlops-block-{index:010}"))
}

fn block_list(ids: &[String]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in ids {
        xml.push_str("<Latest>");
        xml.push_str(id);
        xml.push_str("</Latest>");
    }
    xml.push_str("</BlockList>");
    xml
}

async fn read_range(file: &FileEntry, offset: u64, length: u64) -> Result<Bytes, BackendError> {
    let path = file.path.clone();
    tokio::task::spawn_blocking(move || {
        let handle = std::fs::File::open(&path)?;
        let mut buffer = vec![0u8; length as usize];
        handle.read_exact_at(&mut buffer, offset)?;
        Ok::<_, std::io::Error>(Bytes::from(buffer))
    })
    .await
    .map_err(|e| BackendError::Other(format!("reading {}: {e}", file.path.display())))?
    .map_err(|source| BackendError::Io {
        context: format!("cannot read {}", file.path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_sas_out_of_public_urls() {
        let folder = SasFolder::parse(
            "https://acct.blob.core.windows.net/c/LocalUpload/x?sv=2023&sig=SECRET%3D",
        )
        .unwrap();
        let child = folder.child("d32/src/my file.py");
        assert_eq!(
            child.public_url(),
            "https://acct.blob.core.windows.net/c/LocalUpload/x/d32/src/my%20file.py"
        );
        assert!(!format!("{child:?}").contains("SECRET"));
        let signed = child.signed(&[("comp", "block"), ("blockid", "YQ==")]);
        assert_eq!(
            signed.query(),
            Some("sv=2023&sig=SECRET%3D&comp=block&blockid=YQ%3D%3D")
        );
        let trailing = SasFolder::parse("http://127.0.0.1:10000/acct/c/?sig=s").unwrap();
        assert_eq!(
            trailing.child("a/b").public_url(),
            "http://127.0.0.1:10000/acct/c/a/b"
        );
    }

    #[test]
    fn block_ids_have_one_length() {
        let ids: Vec<String> = [0, 9, 10, 12345].into_iter().map(block_id).collect();
        assert!(ids.windows(2).all(|w| w[0].len() == w[1].len()));
        assert_eq!(
            block_list(&ids[..1]),
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>{}</Latest></BlockList>",
                ids[0]
            )
        );
    }
}
