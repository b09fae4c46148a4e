//! `SchemaOptions`: the limits and defaults (depth, complexity, page sizes, the
//! `verifyDocument` rate) that shape every role's schema. Depends on nothing of ours.

/// Limits and defaults that shape every role's schema.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// `verifyDocument` calls allowed per caller per minute.
    pub verify_per_minute: u32,
    /// Rows of a nested to-many relation per parent when `first` is not given.
    pub nested_page_size: u32,
    /// Largest `first` of a nested to-many relation.
    pub max_nested_page_size: u32,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            max_depth: 12,
            max_complexity: 2_000,
            default_page_size: 50,
            max_page_size: 500,
            verify_per_minute: 30,
            nested_page_size: 50,
            max_nested_page_size: 500,
        }
    }
}
