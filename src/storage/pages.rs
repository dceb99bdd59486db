//! Newest-first cursor pagination over `(owner, seq)` keyed tables.

use redb::{ReadableTable, Value};

use crate::storage::StoreError;

/// One page of a list and the cursor of the next (older) page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<u64>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// Items of `owner` with seq below `cursor` (all when `None`), newest first, at most `limit`.
pub fn page_desc<V, T>(
    table: &impl ReadableTable<(&'static str, u64), V>,
    owner: &str,
    cursor: Option<u64>,
    limit: usize,
    mut convert: impl FnMut(V::SelfType<'_>) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError>
where
    V: Value + 'static,
{
    let end = cursor.unwrap_or(u64::MAX);
    let mut items = Vec::with_capacity(limit.min(256));
    let mut next_cursor = None;
    let mut last_seq = 0u64;
    for entry in table.range((owner, 0)..(owner, end))?.rev() {
        let (key, value) = entry?;
        if items.len() == limit {
            // `limit` items are in hand and one more exists: the next page starts below the last.
            next_cursor = Some(last_seq);
            break;
        }
        items.push(convert(value.value())?);
        last_seq = key.value().1;
    }
    Ok(Page { items, next_cursor })
}
