//! `{"items": [...], "next_cursor": "…" | null}`, newest first.

use serde::Serialize;

use crate::storage::pages::Page;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn from_page<R>(page: Page<R>, convert: impl FnMut(R) -> T) -> Self {
        List {
            items: page.items.into_iter().map(convert).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }
    }
}
