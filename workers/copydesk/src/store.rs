//! The embedded dedup store of `copydesk process`: a redb file under `--state`, kept between runs.
//!
//! It maps an article id (the hex of its content hash) to the label of the document that first
//! brought it. Writes are batched, one transaction per chunk of documents, and each commit is
//! durable, so an interrupted run never forgets an article it already wrote out.

use std::path::Path;

use anyhow::Context;
use redb::{Database, ReadableTable, TableDefinition};

const ARTICLES: TableDefinition<'_, &str, &str> = TableDefinition::new("articles");
const FILE_NAME: &str = "dedup.redb";

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the state folder {}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).with_context(|| format!("opening the state store {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(ARTICLES)?;
        txn.commit()?;
        Ok(Store { db })
    }

    /// Records the ids in order; returns, for each, whether it was already known (from an earlier
    /// run, or earlier in this batch).
    pub fn record(&self, items: &[(&str, &str)]) -> anyhow::Result<Vec<bool>> {
        let txn = self.db.begin_write()?;
        let mut seen = Vec::with_capacity(items.len());
        {
            let mut table = txn.open_table(ARTICLES)?;
            for (id, label) in items {
                let known = table.get(*id)?.is_some();
                if !known {
                    table.insert(*id, *label)?;
                }
                seen.push(known);
            }
        }
        txn.commit().context("committing to the state store")?;
        Ok(seen)
    }

    /// How many articles the store remembers.
    #[cfg(test)]
    pub fn count(&self) -> anyhow::Result<u64> {
        use redb::{ReadableDatabase, ReadableTableMetadata};
        Ok(self.db.begin_read()?.open_table(ARTICLES)?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.record(&[("a", "x"), ("b", "y"), ("a", "z")]).unwrap(), [false, false, true]);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.record(&[("b", "y"), ("c", "w")]).unwrap(), [true, false]);
        assert_eq!(store.count().unwrap(), 3);
    }
}
