//! Per-owner lists threaded through one append-only table: each entry, under a fresh global seq,
//! names its owner and the seq of the owner's entry before it, and the owner's own record keeps
//! the seq of its newest entry (the head). Appending writes at the table's right edge, a leaf the
//! whole batch shares, where an (owner, seq) index writes a leaf per owner (docs/design.md,
//! "Statements and account charges are threads").

use redb::{ReadableTable, Table, TableDefinition, Value};

use crate::storage::StoreError;
use crate::storage::pages::Page;

/// seq → (owner, the seq of the owner's previous entry or 0, item).
pub type Thread<I> = TableDefinition<'static, u64, (&'static str, u64, I)>;

/// The stored `prev` of an owner's first entry: seqs start at 1, so no entry has seq 0.
const NO_ENTRY: u64 = 0;

/// Appends `item` as `owner`'s newest entry under `seq`, after `head` (the owner's newest entry
/// so far). The caller makes `seq` the owner's head in the same transaction. A head at or above
/// `seq`, or an entry already under `seq`, means the stored head or counter is corrupt: it is
/// reported (the batch fails), never written over.
pub fn append<'a, I: Value + 'static>(
    table: &mut Table<'_, u64, (&'static str, u64, I)>,
    name: &'static str,
    seq: u64,
    owner: &'a str,
    head: Option<u64>,
    item: I::SelfType<'a>,
) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { table: name, detail };
    if let Some(head) = head.filter(|head| *head >= seq) {
        return Err(corrupt(format!("{owner}: newest entry {head} is not below the new {seq}")));
    }
    if table.get(seq)?.is_some() {
        return Err(corrupt(format!("{owner}: seq {seq} was already taken")));
    }
    table.insert(seq, (owner, head.unwrap_or(NO_ENTRY), item))?;
    Ok(())
}

/// Visits `owner`'s entries newest first from `from`, following each entry's link, until `visit`
/// returns false. A missing entry, another owner's entry or a link that does not fall is
/// reported as corruption, never followed (a cycle would otherwise never end).
pub fn visit<I: Value + 'static>(
    table: &impl ReadableTable<u64, (&'static str, u64, I)>,
    name: &'static str,
    owner: &str,
    from: Option<u64>,
    mut visit: impl FnMut(u64, I::SelfType<'_>) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { table: name, detail };
    let mut next = from.unwrap_or(NO_ENTRY);
    while next != NO_ENTRY {
        let guard = table.get(next)?.ok_or_else(|| corrupt(format!("{owner}: entry {next} is missing")))?;
        let (found, prev, item) = guard.value();
        if found != owner {
            return Err(corrupt(format!("{owner}: entry {next} belongs to {found}")));
        }
        if prev >= next {
            return Err(corrupt(format!("{owner}: entry {next} links forward to {prev}")));
        }
        if !visit(next, item)? {
            return Ok(());
        }
        next = prev;
    }
    Ok(())
}

/// `owner`'s entries below `cursor` (from the newest when `None`), newest first, at most `limit`;
/// the next page's cursor is the seq of the page's last entry, as with `pages::page_desc`.
/// `None` when `cursor` is not one of the owner's entries, so not a cursor this list gave out:
/// going on from one costs a lookup per entry, and finding where an arbitrary number falls
/// would cost a walk of the whole list.
pub fn page_desc<I: Value + 'static, T>(
    table: &impl ReadableTable<u64, (&'static str, u64, I)>,
    name: &'static str,
    owner: &str,
    head: Option<u64>,
    cursor: Option<u64>,
    limit: usize,
    mut convert: impl FnMut(I::SelfType<'_>) -> Result<T, StoreError>,
) -> Result<Option<Page<T>>, StoreError> {
    let from = match cursor {
        Some(seq) => match table.get(seq)? {
            Some(guard) if guard.value().0 == owner => Some(guard.value().1),
            _ => return Ok(None),
        },
        None => head,
    };
    let mut items = Vec::with_capacity(limit.min(256));
    let mut next_cursor = None;
    let mut last_seq = 0u64;
    visit(table, name, owner, from, |seq, item| {
        if items.len() == limit {
            // `limit` items are in hand and one more exists: the next page starts below the last.
            next_cursor = Some(last_seq);
            return Ok(false);
        }
        items.push(convert(item)?);
        last_seq = seq;
        Ok(true)
    })?;
    Ok(Some(Page { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;
    use redb::{Database, ReadOnlyTable, ReadableDatabase};

    use super::*;

    const LINES: Thread<&str> = TableDefinition::new("lines");

    /// Two owners' entries interleaved, as a batch of charges to two wallets writes them.
    fn interleaved() -> Database {
        let db = Database::builder().create_with_backend(InMemoryBackend::new()).expect("db");
        let txn = db.begin_write().expect("write");
        {
            let mut table = txn.open_table(LINES).expect("table");
            let mut heads = [None, None];
            for seq in 1..=9u64 {
                let owner = usize::from(seq % 3 == 0);
                let name = ["ann", "bob"][owner];
                append(&mut table, "lines", seq, name, heads[owner], format!("{name}-{seq}").as_str()).expect("append");
                heads[owner] = Some(seq);
            }
        }
        txn.commit().expect("commit");
        db
    }

    fn table(db: &Database) -> ReadOnlyTable<u64, (&'static str, u64, &'static str)> {
        db.begin_read().expect("read").open_table(LINES).expect("table")
    }

    fn page(db: &Database, owner: &str, head: u64, cursor: Option<u64>, limit: usize) -> Option<Page<String>> {
        page_desc(&table(db), "lines", owner, Some(head), cursor, limit, |item| Ok(item.to_owned())).expect("read")
    }

    #[test]
    fn each_owner_pages_through_its_own_entries_newest_first() {
        // Proves an owner sees exactly its entries, newest first, across pages joined by cursors.
        let db = interleaved();
        let first = page(&db, "ann", 8, None, 4).expect("a page");
        assert_eq!(first.items, ["ann-8", "ann-7", "ann-5", "ann-4"]);
        assert_eq!(first.next_cursor, Some(4));
        let second = page(&db, "ann", 8, first.next_cursor, 4).expect("a page");
        assert_eq!((second.items, second.next_cursor), (vec!["ann-2".to_owned(), "ann-1".to_owned()], None));
        let bob = page(&db, "bob", 9, None, 3).expect("a page");
        assert_eq!((bob.items, bob.next_cursor), (vec!["bob-9".into(), "bob-6".into(), "bob-3".into()], None));
    }

    #[test]
    fn a_cursor_that_is_not_one_of_the_owners_entries_is_refused() {
        // Proves another owner's seq or a number past the end is no cursor, instead of a walk of the list.
        let db = interleaved();
        assert!(page(&db, "ann", 8, Some(6), 10).is_none());
        assert!(page(&db, "bob", 9, Some(100), 1).is_none());
        assert_eq!(page(&db, "bob", 9, Some(3), 10).expect("bob's own entry").items, Vec::<String>::new());
    }

    #[test]
    fn a_broken_link_is_reported_not_followed() {
        // Proves a head pointing at another owner's entry, a missing entry or a forward link is corruption.
        let db = interleaved();
        let walk = |owner: &str, head: u64| {
            visit(&table(&db), "lines", owner, Some(head), |_, _| Ok(true)).expect_err("corrupt").to_string()
        };
        assert!(walk("ann", 9).contains("entry 9 belongs to bob"), "{}", walk("ann", 9));
        assert!(walk("ann", 42).contains("entry 42 is missing"), "{}", walk("ann", 42));
        let txn = db.begin_write().expect("write");
        txn.open_table(LINES).expect("table").insert(10, ("cyc", 10, "loop")).expect("insert");
        txn.commit().expect("commit");
        assert!(walk("cyc", 10).contains("links forward"), "{}", walk("cyc", 10));
    }

    #[test]
    fn appending_at_or_below_the_head_or_over_an_entry_is_corruption() {
        // Proves a corrupt head or counter fails the append with an error instead of a panic or an overwrite.
        let db = interleaved();
        let txn = db.begin_write().expect("write");
        let mut table = txn.open_table(LINES).expect("table");
        let below = append(&mut table, "lines", 3, "ann", Some(5), "late").expect_err("refused");
        assert!(below.to_string().contains("newest entry 5 is not below the new 3"), "{below}");
        let taken = append(&mut table, "lines", 9, "ann", Some(8), "again").expect_err("refused");
        assert!(taken.to_string().contains("seq 9 was already taken"), "{taken}");
        assert_eq!(table.get(9).expect("get").expect("kept").value(), ("bob", 6, "bob-9"));
    }
}
