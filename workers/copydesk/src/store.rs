//! The embedded dedup store of `copydesk process`: a redb file under `--state`, kept between runs.
//!
//! It maps an article id (the hex of its content hash) to the id of the article it repeats (its
//! own for an original), and keeps each new article's near-duplicate sketch and LSH band keys
//! (`shared::neardup`), so a syndicated copy is recognised as well as an exact one. Writes are
//! batched, one transaction per chunk of documents, and each commit is durable, so an interrupted
//! run never forgets an article it already wrote out.

use std::path::Path;

use anyhow::Context;
use redb::{Database, ReadableTable, TableDefinition};
use shared::neardup::{Compact, Sketch};

const ARTICLES: TableDefinition<'_, &str, &str> = TableDefinition::new("articles");
const SKETCHES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("sketches");
const BANDS: TableDefinition<'_, (u8, u64), &str> = TableDefinition::new("bands");

/// What the store knew of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    New,
    /// The same text was seen before; the id of the article it repeats.
    Exact(String),
    /// A near-copy of the article with this id was seen before.
    Near(String),
}
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
        txn.open_table(SKETCHES)?;
        txn.open_table(BANDS)?;
        txn.commit()?;
        Ok(Store { db })
    }

    /// Records the articles in order and says, for each, whether it was known (from an earlier
    /// run, or earlier in this batch), exactly or as a near-copy.
    pub fn record(&self, items: &[(&str, &Sketch)]) -> anyhow::Result<Vec<Seen>> {
        let txn = self.db.begin_write()?;
        let mut seen = Vec::with_capacity(items.len());
        {
            let mut articles = txn.open_table(ARTICLES)?;
            let mut sketches = txn.open_table(SKETCHES)?;
            let mut bands = txn.open_table(BANDS)?;
            for (id, sketch) in items {
                if let Some(original) = articles.get(*id)?.map(|v| v.value().to_owned()) {
                    seen.push(Seen::Exact(original));
                    continue;
                }
                let keys = sketch.bands();
                let compact = sketch.compact();
                let mut near = None;
                for (b, key) in keys.iter().enumerate() {
                    let Some(candidate) = bands.get((b as u8, *key))?.map(|v| v.value().to_owned()) else { continue };
                    let other = sketches.get(candidate.as_str())?.and_then(|v| Compact::from_bytes(v.value()));
                    if other.is_some_and(|o| compact.is_near_duplicate_of(&o)) {
                        near = Some(candidate);
                        break;
                    }
                }
                if let Some(original) = near {
                    articles.insert(*id, original.as_str())?;
                    seen.push(Seen::Near(original));
                    continue;
                }
                articles.insert(*id, *id)?;
                sketches.insert(*id, compact.as_bytes())?;
                for (b, key) in keys.iter().enumerate() {
                    if bands.get((b as u8, *key))?.is_none() {
                        bands.insert((b as u8, *key), *id)?;
                    }
                }
                seen.push(Seen::New);
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
        let (a, b, c) =
            (Sketch::of("alpha story text here"), Sketch::of("bravo, a different one"), Sketch::of("charlie again"));
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(
                store.record(&[("a", &a), ("b", &b), ("a", &a)]).unwrap(),
                [Seen::New, Seen::New, Seen::Exact("a".into())]
            );
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.record(&[("b", &b), ("c", &c)]).unwrap(), [Seen::Exact("b".into()), Seen::New]);
        assert_eq!(store.count().unwrap(), 3);
    }

    #[test]
    fn a_near_copy_points_at_its_original() {
        let dir = tempfile::tempdir().unwrap();
        let story = "The city council voted seven to two on Tuesday evening to approve next year's budget. \
                     Most of the new money will go to repairing playgrounds and paths in the eastern districts, \
                     where residents have complained for years that maintenance lagged behind the rest of the city.";
        let copy = format!("{story} Download our app for more local news.");
        let store = Store::open(dir.path()).unwrap();
        let seen = store.record(&[("orig", &Sketch::of(story)), ("copy", &Sketch::of(&copy))]).unwrap();
        assert_eq!(seen, [Seen::New, Seen::Near("orig".into())]);
        // The copy again points at the original, not at itself.
        assert_eq!(store.record(&[("copy", &Sketch::of(&copy))]).unwrap(), [Seen::Exact("orig".into())]);
    }
}
