//! Content of local files and folders: listing, hashing, copying.
//!
//! amlops identifies local content (code folders, data files, build contexts) by a tree digest:
//! SHA-256 over the sorted relative paths, sizes and per-file SHA-256 digests. Files are cut
//! into chunks hashed on all cores, so a folder of large files hashes at the speed of the
//! disk, and a folder of many small files costs one pass with no per-file process overhead.
//!
//! The Azure ML SDK identifies code snapshots by another hash ([`sdk_hash`], "hash version
//! 202208"): one SHA-256 stream over the file count, each `#path#size`, then every file's
//! bytes. amlops computes it where Azure needs it, to find code that `az ml` uploaded.
//!
//! A folder's root `.amlignore`, or else its root `.gitignore`, excludes files, as the SDK
//! does. A symbolic link that points outside the folder is refused: following it would upload
//! files the user did not put in the folder.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

/// Why a local path could not be listed or hashed.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{link} is a symbolic link to {target}, outside {root}")]
    SymlinkEscapes {
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("invalid ignore file {path}: {message}")]
    IgnoreFile { path: PathBuf, message: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file of a listed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the listed folder, with `/` separators; the file name for a file.
    pub relative: String,
    /// Where to read it (symbolic links resolved).
    pub path: PathBuf,
    pub size: u64,
}

/// The files of a local file or folder, in a stable order.
#[derive(Clone, Debug)]
pub struct FileSet {
    pub root: PathBuf,
    pub is_dir: bool,
    /// Sorted by relative path, byte-wise.
    pub files: Vec<FileEntry>,
}

impl FileSet {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Lists a file or a folder, honouring the folder's ignore file.
pub fn list(path: &Path) -> Result<FileSet, ContentError> {
    let meta = std::fs::metadata(path).map_err(|_| ContentError::Missing(path.to_path_buf()))?;
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(FileSet {
            root: path.to_path_buf(),
            is_dir: false,
            files: vec![FileEntry {
                relative: name,
                path: path.to_path_buf(),
                size: meta.len(),
            }],
        });
    }
    let root = path.canonicalize().map_err(io_error(path))?;
    let ignore = ignore_rules(&root)?;
    let mut files = Vec::new();
    walk(&root, &root, "", &ignore, &mut files, 0)?;
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(FileSet {
        root,
        is_dir: true,
        files,
    })
}

fn ignore_rules(root: &Path) -> Result<Option<ignore::gitignore::Gitignore>, ContentError> {
    let file = [".amlignore", ".gitignore"]
        .into_iter()
        .map(|n| root.join(n))
        .find(|p| p.is_file());
    let Some(file) = file else { return Ok(None) };
    let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
    if let Some(e) = builder.add(&file) {
        return Err(ContentError::IgnoreFile {
            path: file,
            message: e.to_string(),
        });
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| ContentError::IgnoreFile {
            path: file,
            message: e.to_string(),
        })
}

const MAX_DEPTH: usize = 64;

/// amlops' own state (the local workspace, the emulator's certificate) is never content: a
/// `code: .` beside the manifests would otherwise hash, and upload, the workspace database
/// that apply itself changes. State folders are `.amlops` and its siblings (`.amlops-dev`),
/// and any folder holding a local workspace's database (a `--data-dir` of another name).
const STATE_DIR: &str = ".amlops";

fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    ignore: &Option<ignore::gitignore::Gitignore>,
    files: &mut Vec<FileEntry>,
    depth: usize,
) -> Result<(), ContentError> {
    if depth > MAX_DEPTH {
        return Err(ContentError::Io {
            path: dir.to_path_buf(),
            source: io::Error::other("folders nested too deeply (a symbolic link loop?)"),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(STATE_DIR) {
            continue;
        }
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let link = entry.path();
        let kind = entry.file_type().map_err(io_error(&link))?;
        let target = if kind.is_symlink() {
            let target = link.canonicalize().map_err(io_error(&link))?;
            if !target.starts_with(root) {
                return Err(ContentError::SymlinkEscapes {
                    link,
                    target,
                    root: root.to_path_buf(),
                });
            }
            target
        } else {
            link.clone()
        };
        // A directory entry's own metadata costs no path lookup; links need the target's.
        let meta = if kind.is_symlink() {
            std::fs::metadata(&target).map_err(io_error(&target))?
        } else {
            entry.metadata().map_err(io_error(&target))?
        };
        let ignored = |is_dir: bool| {
            ignore.as_ref().is_some_and(|rules| {
                rules
                    .matched_path_or_any_parents(&relative, is_dir)
                    .is_ignore()
            })
        };
        if meta.is_dir() {
            if !ignored(true) && !target.join(crate::WORKSPACE_DATABASE).is_file() {
                walk(root, &target, &relative, ignore, files, depth + 1)?;
            }
        } else if !ignored(false) {
            files.push(FileEntry {
                relative,
                path: target,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// A tree digest with the size of what it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// Lowercase hex SHA-256.
    pub hex: String,
    pub files: usize,
    pub bytes: u64,
}

impl Digest {
    /// A short form for versions and names.
    pub fn short(&self) -> &str {
        &self.hex[..16]
    }
}

/// Chunks larger files are cut into, so that one large file uses every core.
const CHUNK: u64 = 8 << 20;

/// Hashes a file set: SHA-256 over `amlops-tree-v1`, then for each file its relative path,
/// size and SHA-256 (of its chunk digests when it spans several chunks).
pub fn tree_digest(set: &FileSet) -> Result<Digest, ContentError> {
    let chunks: Vec<(usize, u64, u64)> = set
        .files
        .iter()
        .enumerate()
        .flat_map(|(index, file)| {
            let count = file.size.div_ceil(CHUNK).max(1);
            (0..count).map(move |c| {
                (
                    index,
                    c * CHUNK,
                    CHUNK.min(file.size.saturating_sub(c * CHUNK)),
                )
            })
        })
        .collect();
    let digests = hash_chunks(set, &chunks)?;
    let mut file_digests = Vec::with_capacity(set.files.len());
    let mut next = 0;
    for index in 0..set.files.len() {
        let mut file_chunks = Vec::new();
        while next < chunks.len() && chunks[next].0 == index {
            file_chunks.push(digests[next]);
            next += 1;
        }
        file_digests.push(match file_chunks.as_slice() {
            [single] => *single,
            many => {
                let mut combined = Sha256::new();
                for digest in many {
                    combined.update(digest);
                }
                combined.finalize().into()
            }
        });
    }
    Ok(tree_from_file_digests(set, &file_digests))
}

/// The tree digest of a set from each file's digest.
fn tree_from_file_digests(set: &FileSet, file_digests: &[[u8; 32]]) -> Digest {
    let mut tree = Sha256::new();
    tree.update(b"amlops-tree-v1\n");
    for (file, digest) in set.files.iter().zip(file_digests) {
        tree.update(file.relative.as_bytes());
        tree.update(b"\0");
        tree.update(file.size.to_string().as_bytes());
        tree.update(b"\0");
        tree.update(hex::encode(digest).as_bytes());
        tree.update(b"\n");
    }
    Digest {
        hex: hex::encode(tree.finalize()),
        files: set.files.len(),
        bytes: set.total_bytes(),
    }
}

/// Hashes every chunk on a pool of threads, one per core; chunks are taken in order from a
/// shared counter, so large and small files mix without planning. A few megabytes are
/// hashed on the calling thread: starting threads would cost more than it saves.
fn hash_chunks(set: &FileSet, chunks: &[(usize, u64, u64)]) -> Result<Vec<[u8; 32]>, ContentError> {
    let total: u64 = chunks.iter().map(|c| c.2).sum();
    let largest = chunks.iter().map(|c| c.2).max().unwrap_or(0);
    let buffer_size = largest.clamp(1, 1 << 20) as usize;
    let workers = if total < PARALLEL_BYTES {
        1
    } else {
        cores().min(chunks.len().max(1))
    };
    let next = AtomicUsize::new(0);
    let work = || hash_some(set, chunks, &next, buffer_size);
    let results: Vec<Hashed> = if workers == 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("hashing thread panicked"))
                .collect()
        })
    };
    let mut digests = vec![[0u8; 32]; chunks.len()];
    for result in results {
        for (i, digest) in result? {
            digests[i] = digest;
        }
    }
    Ok(digests)
}

/// Below this many bytes, content is hashed on the calling thread.
const PARALLEL_BYTES: u64 = 4 << 20;

/// The cores hashing may use, read once.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

type Hashed = Result<Vec<(usize, [u8; 32])>, ContentError>;

/// Hashes chunks taken from `next` until none is left.
fn hash_some(
    set: &FileSet,
    chunks: &[(usize, u64, u64)],
    next: &AtomicUsize,
    buffer_size: usize,
) -> Hashed {
    let mut done = Vec::new();
    let mut buffer = vec![0u8; buffer_size];
    let mut open: Option<(usize, File)> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(file_index, offset, len)) = chunks.get(i) else {
            break;
        };
        let entry = &set.files[file_index];
        if open.as_ref().is_none_or(|(f, _)| *f != file_index) {
            open = Some((
                file_index,
                File::open(&entry.path).map_err(io_error(&entry.path))?,
            ));
        }
        let (_, file) = open.as_ref().expect("opened above");
        done.push((
            i,
            hash_range(file, offset, len, &mut buffer).map_err(io_error(&entry.path))?,
        ));
    }
    Ok(done)
}

/// A read buffer as large as the largest file of `set` needs, at most 1 MiB.
fn read_buffer(set: &FileSet) -> Vec<u8> {
    let largest = set.files.iter().map(|f| f.size).max().unwrap_or(0);
    vec![0u8; largest.clamp(1, 1 << 20) as usize]
}

fn hash_range(file: &File, offset: u64, len: u64, buffer: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut done = 0;
    while done < len {
        let want = buffer.len().min((len - done) as usize);
        let read = file.read_at(&mut buffer[..want], offset + done)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being hashed",
            ));
        }
        hasher.update(&buffer[..read]);
        done += read as u64;
    }
    Ok(hasher.finalize().into())
}

/// The SDK's content hash of a code snapshot (`hash_sha256`, hash version 202208).
pub fn sdk_hash(set: &FileSet) -> Result<String, ContentError> {
    sdk_hash_from(set, &mut Bytes::Disk(read_buffer(set)))
}

fn sdk_hash_from(set: &FileSet, bytes: &mut Bytes<'_>) -> Result<String, ContentError> {
    let mut order: Vec<usize> = (0..set.files.len()).collect();
    order.sort_by_cached_key(|&i| set.files[i].relative.to_lowercase());
    let mut hasher = Sha256::new();
    hasher.update(order.len().to_string().as_bytes());
    for &i in &order {
        let file = &set.files[i];
        hasher.update(format!("#{}#", file.relative).as_bytes());
        hasher.update(file.size.to_string().as_bytes());
    }
    for &i in &order {
        bytes.feed(&mut hasher, set, i)?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Where the bytes of a set's files come from while they are hashed.
enum Bytes<'a> {
    /// Read from disk through this buffer.
    Disk(Vec<u8>),
    /// Read already, one entry per file of the set.
    Memory(&'a [Vec<u8>]),
}

impl Bytes<'_> {
    fn feed(
        &mut self,
        hasher: &mut Sha256,
        set: &FileSet,
        index: usize,
    ) -> Result<(), ContentError> {
        match self {
            Bytes::Disk(buffer) => hash_file_into(hasher, &set.files[index].path, buffer),
            Bytes::Memory(contents) => {
                hasher.update(&contents[index]);
                Ok(())
            }
        }
    }
}

/// Below this many bytes in all, a set's files are read once and hashed from memory.
const IN_MEMORY_BYTES: u64 = 4 << 20;

/// The digests of a set: its tree digest, and when asked the SDK's content hash and object
/// hash. A small set's files are read once for all three.
pub fn hashes(
    set: &FileSet,
    sdk: bool,
    object: bool,
) -> Result<(Digest, Option<String>, Option<String>), ContentError> {
    if set.total_bytes() > IN_MEMORY_BYTES {
        return Ok((
            tree_digest(set)?,
            sdk.then(|| sdk_hash(set)).transpose()?,
            object.then(|| object_hash(set)).transpose()?,
        ));
    }
    let contents = set
        .files
        .iter()
        .map(|f| std::fs::read(&f.path).map_err(io_error(&f.path)))
        .collect::<Result<Vec<_>, _>>()?;
    if contents
        .iter()
        .zip(&set.files)
        .any(|(c, f)| c.len() as u64 != f.size)
    {
        return Err(ContentError::Io {
            path: set.root.clone(),
            source: io::Error::other("a file changed while it was being hashed"),
        });
    }
    let digests: Vec<[u8; 32]> = contents.iter().map(|c| Sha256::digest(c).into()).collect();
    let digest = tree_from_file_digests(set, &digests);
    let mut memory = Bytes::Memory(&contents);
    let sdk = sdk.then(|| sdk_hash_from(set, &mut memory)).transpose()?;
    let object = object
        .then(|| object_hash_from(set, &mut memory))
        .transpose()?;
    Ok((digest, sdk, object))
}

/// A code folder with `includes` merged in, as the SDK snapshots a component with
/// `additional_includes`: each include (a folder or a file) joins the snapshot under its own
/// name. A name already in the folder is an error, as it is for the SDK.
pub fn list_merged(path: &Path, includes: &[PathBuf]) -> Result<FileSet, ContentError> {
    let mut set = list(path)?;
    for include in includes {
        let included = list(include)?;
        let name = include
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in included.files {
            let relative = if included.is_dir {
                format!("{name}/{}", file.relative)
            } else {
                name.clone()
            };
            if set.files.iter().any(|f| f.relative == relative) {
                return Err(ContentError::Io {
                    path: include.clone(),
                    source: io::Error::other(format!(
                        "`{relative}` is both in the code folder and an additional include"
                    )),
                });
            }
            set.files.push(FileEntry { relative, ..file });
        }
    }
    set.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(set)
}

/// The SDK's hash of a local build context or model folder (`get_object_hash`): one SHA-256
/// stream, seeded with the SDK's fixed prefix, over each entry in case-insensitive name order:
/// its name, then a file's bytes or a folder's entries. A single file contributes its bytes
/// only. Folders without files are not in a [`FileSet`], so they do not count here, while the
/// SDK would hash their names.
pub fn object_hash(set: &FileSet) -> Result<String, ContentError> {
    object_hash_from(set, &mut Bytes::Disk(read_buffer(set)))
}

fn object_hash_from(set: &FileSet, bytes: &mut Bytes<'_>) -> Result<String, ContentError> {
    let mut hasher = Sha256::new();
    hasher.update(b"Initialize for october 2021 AML CLI version");
    if !set.is_dir {
        for index in 0..set.files.len() {
            bytes.feed(&mut hasher, set, index)?;
        }
        return Ok(hex::encode(hasher.finalize()));
    }
    let files: Vec<(Vec<&str>, usize)> = set
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.relative.split('/').collect(), i))
        .collect();
    object_hash_dir(set, &files, 0, &mut hasher, bytes)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Hashes the entries at `depth` of `files` (all below one folder), in the SDK's order.
fn object_hash_dir(
    set: &FileSet,
    files: &[(Vec<&str>, usize)],
    depth: usize,
    hasher: &mut Sha256,
    bytes: &mut Bytes<'_>,
) -> Result<(), ContentError> {
    let mut names: Vec<&str> = files.iter().map(|(parts, _)| parts[depth]).collect();
    names.sort_by_cached_key(|n| n.to_lowercase());
    names.dedup();
    for name in names {
        hasher.update(name.as_bytes());
        let below: Vec<(Vec<&str>, usize)> = files
            .iter()
            .filter(|(parts, _)| parts[depth] == name)
            .cloned()
            .collect();
        match below.as_slice() {
            [(parts, index)] if parts.len() == depth + 1 => bytes.feed(hasher, set, *index)?,
            _ => object_hash_dir(set, &below, depth + 1, hasher, bytes)?,
        }
    }
    Ok(())
}

fn hash_file_into(hasher: &mut Sha256, path: &Path, buffer: &mut [u8]) -> Result<(), ContentError> {
    let mut reader = File::open(path).map_err(io_error(path))?;
    loop {
        let read = reader.read(buffer).map_err(io_error(path))?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

/// The SDK's version string for [`sdk_hash`].
pub const SDK_HASH_VERSION: &str = "202208";

/// Copies a file set into `dest` (a folder for folders, the file path for files), through a
/// temporary name so a crash never leaves a partial copy under the final name.
pub fn copy_into(set: &FileSet, dest: &Path) -> Result<(), ContentError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let staging = parent.join(format!(
        ".partial-{}-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&staging);
    if set.is_dir {
        std::fs::create_dir_all(&staging).map_err(io_error(&staging))?;
        for file in &set.files {
            let target = staging.join(&file.relative);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
            std::fs::copy(&file.path, &target).map_err(io_error(&file.path))?;
        }
    } else {
        std::fs::copy(&set.files[0].path, &staging).map_err(io_error(&set.files[0].path))?;
    }
    if dest.exists() {
        // Content-addressed destinations already hold the same bytes.
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_file(&staging);
        return Ok(());
    }
    std::fs::rename(&staging, dest).map_err(io_error(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &[u8]) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn hashing_from_memory_equals_hashing_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM python");
        write(dir.path(), "b/x.py", b"print(1)");
        write(dir.path(), "B.txt", b"upper");
        write(dir.path(), "a.b/c", b"");
        let set = list(dir.path()).unwrap();
        let (digest, sdk, object) = hashes(&set, true, true).unwrap();
        assert_eq!(digest, tree_digest(&set).unwrap());
        assert_eq!(sdk, Some(sdk_hash(&set).unwrap()));
        assert_eq!(object, Some(object_hash(&set).unwrap()));
        let file = list(&dir.path().join("Dockerfile")).unwrap();
        assert_eq!(
            hashes(&file, false, true).unwrap().2,
            Some(object_hash(&file).unwrap())
        );
    }

    #[test]
    fn merged_includes_join_under_their_names() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src/main.py", b"main");
        write(dir.path(), "common/helper.py", b"help");
        write(dir.path(), "notes.txt", b"n");
        let includes = [dir.path().join("common"), dir.path().join("notes.txt")];
        let set = list_merged(&dir.path().join("src"), &includes).unwrap();
        let names: Vec<&str> = set.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["common/helper.py", "main.py", "notes.txt"]);
        write(dir.path(), "src/notes.txt", b"clash");
        assert!(list_merged(&dir.path().join("src"), &includes).is_err());
    }

    #[test]
    fn digest_ignores_order_and_times_but_not_content() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "b.txt", b"two");
        write(a.path(), "sub/a.txt", b"one");
        let b = tempfile::tempdir().unwrap();
        write(b.path(), "sub/a.txt", b"one");
        write(b.path(), "b.txt", b"two");
        let da = tree_digest(&list(a.path()).unwrap()).unwrap();
        let db = tree_digest(&list(b.path()).unwrap()).unwrap();
        assert_eq!(da, db);
        write(b.path(), "b.txt", b"tw0");
        assert_ne!(da.hex, tree_digest(&list(b.path()).unwrap()).unwrap().hex);
    }

    #[test]
    fn large_files_are_chunked_consistently() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..(CHUNK as usize * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        write(dir.path(), "big.bin", &big);
        let first = tree_digest(&list(dir.path()).unwrap()).unwrap();
        let second = tree_digest(&list(dir.path()).unwrap()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.bytes, big.len() as u64);
    }

    #[test]
    fn sdk_hash_matches_the_sdk_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "main.py", b"");
        // The oracle's stubbed `src/main.py` folder for the scikit-learn iris job.
        assert_eq!(
            sdk_hash(&list(dir.path()).unwrap()).unwrap(),
            "fe25733b859b2cfce18accf564cafcd0db84842fc200beec503cdafba8834119"
        );
    }

    #[test]
    fn amlignore_wins_over_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".gitignore", b"*.txt\n");
        write(dir.path(), ".amlignore", b"*.log\nbuild/\n");
        write(dir.path(), "a.txt", b"kept");
        write(dir.path(), "a.log", b"dropped");
        write(dir.path(), "build/out.bin", b"dropped");
        let names: Vec<_> = list(dir.path())
            .unwrap()
            .files
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(names, vec![".amlignore", ".gitignore", "a.txt"]);
    }

    #[test]
    fn symlinks_leaving_the_folder_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret", b"x");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        assert!(matches!(
            list(dir.path()),
            Err(ContentError::SymlinkEscapes { .. })
        ));
        let inside = tempfile::tempdir().unwrap();
        write(inside.path(), "real.txt", b"x");
        std::os::unix::fs::symlink(
            inside.path().join("real.txt"),
            inside.path().join("alias.txt"),
        )
        .unwrap();
        assert_eq!(list(inside.path()).unwrap().files.len(), 2);
    }

    #[test]
    fn copies_atomically() {
        let src = tempfile::tempdir().unwrap();
        write(src.path(), "x/y.txt", b"data");
        let dest = tempfile::tempdir().unwrap();
        let target = dest.path().join("copy");
        copy_into(&list(src.path()).unwrap(), &target).unwrap();
        assert_eq!(std::fs::read(target.join("x/y.txt")).unwrap(), b"data");
    }
}
