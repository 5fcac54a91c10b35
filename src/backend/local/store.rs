//! The local workspace's database: ARM objects by scope and path, in SQLite.
//!
//! One row per object, its body exactly as a GET returns it. Every change runs in a
//! transaction, so a crash never leaves half an object (or a version without its container).
//! Reads never write: opening the database and planning leave the file byte for byte as it
//! was, which is how "a second apply writes nothing" is checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::backend::{BackendError, Result};

/// The database file inside a data directory.
pub const DATABASE: &str = crate::WORKSPACE_DATABASE;
const SCHEMA_VERSION: i64 = 1;

pub struct Store {
    connection: Connection,
    path: PathBuf,
}

/// A row of the `objects` table.
#[derive(Clone, Debug)]
pub struct Row {
    pub path: String,
    pub body: Value,
}

impl Store {
    /// Opens (creating when absent) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
        let path = dir.join(DATABASE);
        let connection = Connection::open(&path)?;
        connection.busy_timeout(Duration::from_secs(30))?;
        let store = Store { connection, path };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 = self
            .connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version > SCHEMA_VERSION {
            return Err(BackendError::Store(format!(
                "{} was written by a newer amlops (schema {version}); upgrade amlops",
                self.path.display()
            )));
        }
        self.connection.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS objects (
                 scope TEXT NOT NULL,
                 path TEXT NOT NULL,
                 parent TEXT NOT NULL,
                 body TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 PRIMARY KEY (scope, path)
             );
             CREATE INDEX IF NOT EXISTS objects_by_parent ON objects (scope, parent, seq);
             CREATE TABLE IF NOT EXISTS runs (
                 scope TEXT NOT NULL,
                 name TEXT NOT NULL,
                 run_dir TEXT NOT NULL,
                 pid INTEGER,
                 exit_code INTEGER,
                 PRIMARY KEY (scope, name)
             );
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
        Ok(())
    }

    pub fn get(&self, scope: &str, path: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .connection
            .query_row(
                "SELECT body FROM objects WHERE scope = ?1 AND path = ?2",
                params![scope, path],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| parse(&t)).transpose()
    }

    /// The objects directly inside collection `parent`, oldest first.
    pub fn children(&self, scope: &str, parent: &str) -> Result<Vec<Row>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT path, body FROM objects WHERE scope = ?1 AND parent = ?2 ORDER BY seq",
        )?;
        let rows = statement.query_map(params![scope, parent], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (path, body) = row?;
            out.push(Row {
                path,
                body: parse(&body)?,
            });
        }
        Ok(out)
    }

    /// Every object whose path starts with `prefix` (all versions of all codes, say).
    pub fn under(&self, scope: &str, prefix: &str) -> Result<Vec<Row>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT path, body FROM objects WHERE scope = ?1 AND path LIKE ?2 ESCAPE '\\' ORDER BY seq")?;
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = statement.query_map(params![scope, pattern], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (path, body) = row?;
            out.push(Row {
                path,
                body: parse(&body)?,
            });
        }
        Ok(out)
    }

    /// Runs `change` in one transaction: all of its writes land, or none.
    pub fn transaction<T>(&mut self, change: impl FnOnce(&Writer<'_>) -> Result<T>) -> Result<T> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let result = change(&Writer {
            transaction: &transaction,
        })?;
        transaction.commit()?;
        Ok(result)
    }

    pub fn run(&self, scope: &str, name: &str) -> Result<Option<RunRow>> {
        Ok(self
            .connection
            .query_row(
                "SELECT run_dir, pid, exit_code FROM runs WHERE scope = ?1 AND name = ?2",
                params![scope, name],
                |r| {
                    Ok(RunRow {
                        run_dir: PathBuf::from(r.get::<_, String>(0)?),
                        pid: r.get(1)?,
                        exit_code: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }
}

/// Runtime facts about a local job run.
#[derive(Clone, Debug)]
pub struct RunRow {
    pub run_dir: PathBuf,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
}

/// Writes inside a transaction.
pub struct Writer<'t> {
    transaction: &'t rusqlite::Transaction<'t>,
}

impl Writer<'_> {
    pub fn get(&self, scope: &str, path: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .transaction
            .query_row(
                "SELECT body FROM objects WHERE scope = ?1 AND path = ?2",
                params![scope, path],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| parse(&t)).transpose()
    }

    pub fn children(&self, scope: &str, parent: &str) -> Result<Vec<Row>> {
        let mut statement = self.transaction.prepare_cached(
            "SELECT path, body FROM objects WHERE scope = ?1 AND parent = ?2 ORDER BY seq",
        )?;
        let rows = statement.query_map(params![scope, parent], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (path, body) = row?;
            out.push(Row {
                path,
                body: parse(&body)?,
            });
        }
        Ok(out)
    }

    /// Inserts or replaces an object. New objects sort after every existing one.
    pub fn put(&self, scope: &str, path: &str, body: &Value) -> Result<()> {
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let text = serde_json::to_string(body).map_err(|e| BackendError::Store(e.to_string()))?;
        self.transaction.execute(
            "INSERT INTO objects (scope, path, parent, body, seq)
             VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM objects))
             ON CONFLICT (scope, path) DO UPDATE SET body = excluded.body",
            params![scope, path, parent, text],
        )?;
        Ok(())
    }

    pub fn delete(&self, scope: &str, path: &str) -> Result<bool> {
        let removed = self.transaction.execute(
            "DELETE FROM objects WHERE scope = ?1 AND (path = ?2 OR path LIKE ?3)",
            params![scope, path, format!("{path}/%")],
        )?;
        Ok(removed > 0)
    }

    pub fn put_run(&self, scope: &str, name: &str, run: &RunRow) -> Result<()> {
        self.transaction.execute(
            "INSERT INTO runs (scope, name, run_dir, pid, exit_code) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (scope, name) DO UPDATE SET run_dir = excluded.run_dir, pid = excluded.pid, exit_code = excluded.exit_code",
            params![scope, name, run.run_dir.to_string_lossy(), run.pid, run.exit_code],
        )?;
        Ok(())
    }
}

fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| BackendError::Store(format!("corrupt object: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_are_transactional() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .transaction(|w| w.put("s", "data/a", &json!({"name": "a"})))
            .unwrap();
        let failed: Result<()> = store.transaction(|w| {
            w.put("s", "data/b", &json!({"name": "b"}))?;
            Err(BackendError::Store("boom".into()))
        });
        assert!(failed.is_err());
        assert!(store.get("s", "data/b").unwrap().is_none());
        assert_eq!(
            store.get("s", "data/a").unwrap(),
            Some(json!({"name": "a"}))
        );
    }

    #[test]
    fn reading_does_not_touch_the_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store
                .transaction(|w| w.put("s", "data/a/versions/1", &json!({"name": "1"})))
                .unwrap();
        }
        let before = std::fs::read(dir.path().join(DATABASE)).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.children("s", "data/a/versions").unwrap().len(), 1);
        assert!(store.get("s", "nothing").unwrap().is_none());
        drop(store);
        assert_eq!(std::fs::read(dir.path().join(DATABASE)).unwrap(), before);
    }

    #[test]
    fn children_keep_insertion_order_and_delete_is_recursive() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .transaction(|w| {
                w.put("s", "data/a", &json!({}))?;
                w.put("s", "data/a/versions/2", &json!({"name": "2"}))?;
                w.put("s", "data/a/versions/1", &json!({"name": "1"}))?;
                Ok(())
            })
            .unwrap();
        let names: Vec<_> = store
            .children("s", "data/a/versions")
            .unwrap()
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(names, vec!["data/a/versions/2", "data/a/versions/1"]);
        store.transaction(|w| w.delete("s", "data/a")).unwrap();
        assert!(store.under("s", "data/").unwrap().is_empty());
    }
}
