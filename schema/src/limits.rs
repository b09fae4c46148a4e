//! What a request may cost, decided before any SQL runs and before any recursive parse.
//!
//! Three checks, in the order the HTTP layer runs them:
//! 1. [`scan_nesting`]: a flat, non-recursive scan of the document text that refuses values
//!    (arguments, variable defaults) nested deeper than `max_input_depth` and selections nested
//!    beyond a hard bound, so neither the parser nor any walk after it can overflow the stack.
//!    [`json_depth`] does the same for JSON variables.
//! 2. [`analyse`]: a static cost of the selected operation from the role's schema registry.
//!    Every object a field can return costs 1 per instance; a list field multiplies its
//!    subtree by the most rows it can return: `first` (or the default page size) on pages and
//!    nested to-many relations, the number of `_entities` representations, a fixed bound for
//!    other lists. Introspection costs a fixed amount per root field and is exempt from the
//!    data depth limit (it has its own bound in the executor). Aliases and root fields are
//!    counted too.
//! 3. The response size, in the HTTP layer (`max_response_bytes`).

use std::collections::HashSet;

use async_graphql::Variables;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{Name, Value};

/// Selections nested deeper than this (in braces) are refused before parsing, whatever the
/// configured depth: the parser and validator recurse on them.
pub const MAX_SELECTION_NESTING: usize = 64;

/// Fields (and fragment spreads) one analysis visits at most: the walk itself is bounded, so
/// fragments spread many times over cannot make it run long.
pub const MAX_VISITS: u64 = 100_000;

/// Cost of a `totalCount`: a count over the whole filtered set, not one row.
pub const COUNT_COST: u64 = 10;

/// Rows assumed for a list that neither `first` nor representations bound (statistics groups,
/// access reports): these are small by construction, but never free.
pub const UNBOUNDED_LIST_ROWS: u64 = 100;

/// The limits that shape a request's cost.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_cost: u64,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Rows of a root page when `first` is not given.
    pub default_page_size: u64,
    /// Rows of a nested to-many relation when `first` is not given.
    pub nested_page_size: u64,
    /// Largest `first` of a root page and of a nested relation: a larger one is refused by
    /// the resolver, so the estimate need not go past it.
    pub max_page_size: u64,
    pub max_nested_page_size: u64,
    /// Cost of one `__schema` or `__type` root field.
    pub introspection_cost: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 12,
            max_cost: 50_000,
            max_aliases: 100,
            max_root_fields: 100,
            default_page_size: 50,
            nested_page_size: 50,
            max_page_size: 500,
            max_nested_page_size: 500,
            introspection_cost: 100,
        }
    }
}

/// Why a request is refused before it runs. Every variant answers 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("input values are nested deeper than {limit} levels")]
    InputTooDeep { limit: usize },
    #[error("Query is nested too deep (more than {limit} levels).")]
    TooDeep { depth: usize, limit: usize },
    #[error("the operation's estimated cost {cost} exceeds the limit of {limit}")]
    TooExpensive { cost: u64, limit: u64 },
    #[error("the operation has {aliases} aliases; at most {limit} are allowed")]
    TooManyAliases { aliases: usize, limit: usize },
    #[error("the operation has {fields} root fields; at most {limit} are allowed")]
    TooManyRootFields { fields: usize, limit: usize },
    #[error("no operation named `{0}` in the document")]
    UnknownOperation(String),
    #[error("the document holds several operations: name one in `operationName`")]
    OperationNameMissing,
}

impl LimitError {
    /// The stable `extensions.code`.
    pub fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode;
        match self {
            LimitError::InputTooDeep { .. } => ErrorCode::MaxInputDepthLimit,
            // The depth refusal keeps the code it always had.
            LimitError::TooDeep { .. } => ErrorCode::GraphqlValidationFailed,
            LimitError::TooExpensive { .. } => ErrorCode::CostEstimatedTooExpensive,
            LimitError::TooManyAliases { .. } => ErrorCode::MaxAliasesLimit,
            LimitError::TooManyRootFields { .. } => ErrorCode::MaxRootFieldsLimit,
            LimitError::UnknownOperation(_) | LimitError::OperationNameMissing => {
                ErrorCode::OperationResolutionFailure
            }
        }
    }

    /// Extra `extensions` entries: the measured figure and the limit.
    pub fn details(&self) -> Vec<(&'static str, u64)> {
        let n = |v: usize| v as u64;
        match *self {
            LimitError::InputTooDeep { limit } => vec![("limit", n(limit))],
            LimitError::TooDeep { depth, limit } => vec![("depth", n(depth)), ("limit", n(limit))],
            LimitError::TooExpensive { cost, limit } => vec![("cost", cost), ("limit", limit)],
            LimitError::TooManyAliases { aliases, limit } => {
                vec![("aliases", n(aliases)), ("limit", n(limit))]
            }
            LimitError::TooManyRootFields { fields, limit } => {
                vec![("rootFields", n(fields)), ("limit", n(limit))]
            }
            LimitError::UnknownOperation(_) | LimitError::OperationNameMissing => Vec::new(),
        }
    }
}

/// Refuses a document whose values nest deeper than `max_input_depth` or whose selections nest
/// deeper than [`MAX_SELECTION_NESTING`]. A flat scan of the text: strings, block strings and
/// comments are skipped; brackets inside parentheses (arguments, variable definitions) are
/// values, braces outside them are selection sets. Unbalanced text is left to the parser.
pub fn scan_nesting(document: &str, max_input_depth: usize) -> Result<(), LimitError> {
    let bytes = document.as_bytes();
    let mut i = 0;
    // Depth of `{` outside parentheses; open parentheses; value brackets inside them.
    let mut selections = 0usize;
    let mut parens = 0usize;
    let mut values = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' => parens += 1,
            b')' => {
                parens = parens.saturating_sub(1);
                if parens == 0 {
                    values = 0;
                }
            }
            b'[' | b'{' if parens > 0 => {
                values += 1;
                if values > max_input_depth {
                    return Err(LimitError::InputTooDeep {
                        limit: max_input_depth,
                    });
                }
            }
            b']' | b'}' if parens > 0 => values = values.saturating_sub(1),
            b'{' => {
                selections += 1;
                if selections > MAX_SELECTION_NESTING {
                    return Err(LimitError::TooDeep {
                        depth: selections,
                        limit: MAX_SELECTION_NESTING,
                    });
                }
            }
            b'}' => selections = selections.saturating_sub(1),
            // Values nested outside parentheses are not GraphQL; count them all the same.
            b'[' => {
                values += 1;
                if values > max_input_depth {
                    return Err(LimitError::InputTooDeep {
                        limit: max_input_depth,
                    });
                }
            }
            b']' => values = values.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// How deep a JSON value nests (a scalar is 0, `[1]` is 1), without recursion.
pub fn json_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Whether any string (or object key) in a JSON value holds a NUL character, which no
/// database text column can store. Without recursion.
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => return true,
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

/// What an operation was found to cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub cost: u64,
    pub depth: usize,
    pub aliases: usize,
    pub root_fields: usize,
    pub operation: Option<OperationType>,
}

/// The operation a request runs: the named one, or the only one.
pub fn select_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<&'a OperationDefinition, LimitError> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Ok(&op.node),
        (DocumentOperations::Single(_), Some(name)) => {
            Err(LimitError::UnknownOperation(name.to_owned()))
        }
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .map(|op| &op.node)
            .ok_or_else(|| LimitError::UnknownOperation(name.to_owned())),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            Ok(&ops.values().next().expect("one").node)
        }
        (DocumentOperations::Multiple(_), None) => Err(LimitError::OperationNameMissing),
    }
}

/// The cost, depth, aliases and root fields of the selected operation, checked against
/// `limits`. Fields the schema does not know are skipped (validation reports them).
pub fn analyse(
    registry: &Registry,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    limits: &Limits,
) -> Result<Analysis, LimitError> {
    let operation = select_operation(document, operation_name)?;
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else {
        return Ok(Analysis {
            operation: Some(operation.ty),
            ..Analysis::default()
        });
    };
    // Variables as execution will see them: defaults of the operation fill what is not given.
    let mut resolved = variables.clone();
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        if let Some(default) = &definition.default_value
            && !resolved.contains_key(&definition.name.node)
        {
            resolved.insert(definition.name.node.clone(), default.node.clone());
        }
    }
    let mut walker = Walker {
        registry,
        document,
        variables: &resolved,
        limits,
        aliases: 0,
        depth: 0,
        fragments: HashSet::new(),
        visits: 0,
    };
    let mut root_fields = 0;
    walker.count_root_fields(&operation.selection_set.node, &mut root_fields);
    let cost = walker.selection_cost(&operation.selection_set.node, root, 0, None, true);
    if walker.visits > MAX_VISITS {
        return Err(LimitError::TooExpensive {
            cost: u64::MAX,
            limit: limits.max_cost,
        });
    }
    let analysis = Analysis {
        cost,
        depth: walker.depth,
        aliases: walker.aliases,
        root_fields,
        operation: Some(operation.ty),
    };
    if analysis.depth > limits.max_depth {
        return Err(LimitError::TooDeep {
            depth: analysis.depth,
            limit: limits.max_depth,
        });
    }
    if analysis.root_fields > limits.max_root_fields {
        return Err(LimitError::TooManyRootFields {
            fields: analysis.root_fields,
            limit: limits.max_root_fields,
        });
    }
    if analysis.aliases > limits.max_aliases {
        return Err(LimitError::TooManyAliases {
            aliases: analysis.aliases,
            limit: limits.max_aliases,
        });
    }
    if analysis.cost > limits.max_cost {
        return Err(LimitError::TooExpensive {
            cost: analysis.cost,
            limit: limits.max_cost,
        });
    }
    Ok(analysis)
}

struct Walker<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Fields and spreads visited; past `MAX_VISITS` the walk stops.
    visits: u64,
    limits: &'a Limits,
    aliases: usize,
    depth: usize,
    /// Fragments being expanded (a cycle is left to validation).
    fragments: HashSet<Name>,
}

/// `[Person!]!` → (`Person`, true).
fn named_type(ty: &str) -> (&str, bool) {
    let list = ty.starts_with('[');
    (ty.trim_matches(|c| c == '[' || c == ']' || c == '!'), list)
}

impl<'a> Walker<'a> {
    /// An argument's value, variables resolved; `None` when absent or null.
    fn argument(
        &self,
        field: &'a async_graphql::parser::types::Field,
        name: &str,
    ) -> Option<Value> {
        let (_, value) = field.arguments.iter().find(|(n, _)| n.node == name)?;
        let value = value
            .node
            .clone()
            .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
            .ok()?;
        (value != Value::Null).then_some(value)
    }

    fn count_root_fields(&mut self, set: &'a SelectionSet, count: &mut usize) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(f) => {
                    if f.node.name.node != "__typename" {
                        *count += 1;
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.count_root_fields(&inline.node.selection_set.node, count)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    self.visits += 1;
                    if self.visits > MAX_VISITS || self.fragments.len() >= MAX_SELECTION_NESTING {
                        return;
                    }
                    if let Some(fragment) = self.document.fragments.get(name)
                        && self.fragments.insert(name.clone())
                    {
                        self.count_root_fields(&fragment.node.selection_set.node, count);
                        self.fragments.remove(name);
                    }
                }
            }
        }
    }

    /// Cost of one selection set on `parent`, whose fields sit at `depth + 1`. `page` bounds
    /// the lists of a connection object (the `first` of the field that returned it).
    fn selection_cost(
        &mut self,
        set: &'a SelectionSet,
        parent: &str,
        depth: usize,
        page: Option<u64>,
        root: bool,
    ) -> u64 {
        let mut cost = 0u64;
        for selection in &set.items {
            self.visits += 1;
            // Past the budget, or spread inside spread deeper than any selection may nest: stop;
            // `analyse` refuses.
            if self.visits > MAX_VISITS || self.fragments.len() >= MAX_SELECTION_NESTING {
                self.visits = MAX_VISITS + 1;
                return u64::MAX;
            }
            let part = match &selection.node {
                Selection::Field(f) => self.field_cost(&f.node, parent, depth, page, root),
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    let on = on.to_owned();
                    self.selection_cost(&inline.node.selection_set.node, &on, depth, page, root)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    match self.document.fragments.get(name) {
                        Some(fragment) if self.fragments.insert(name.clone()) => {
                            let on = fragment.node.type_condition.node.on.node.to_string();
                            let c = self.selection_cost(
                                &fragment.node.selection_set.node,
                                &on,
                                depth,
                                page,
                                root,
                            );
                            self.fragments.remove(name);
                            c
                        }
                        _ => 0,
                    }
                }
            };
            cost = cost.saturating_add(part);
        }
        cost
    }

    fn field_cost(
        &mut self,
        field: &'a async_graphql::parser::types::Field,
        parent: &str,
        depth: usize,
        page: Option<u64>,
        root: bool,
    ) -> u64 {
        if field.alias.is_some() {
            self.aliases += 1;
        }
        let name = field.name.node.as_str();
        if name == "__typename" {
            return 0;
        }
        if root && (name == "__schema" || name == "__type") {
            return self.limits.introspection_cost;
        }
        self.depth = self.depth.max(depth + 1);
        let Some(meta) = self.registry.types.get(parent).and_then(|t| match t {
            MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => {
                fields.get(name)
            }
            _ => None,
        }) else {
            return 0;
        };
        let (target, is_list) = named_type(&meta.ty);
        let target = target.to_owned();
        let (default, max) = if root {
            (self.limits.default_page_size, self.limits.max_page_size)
        } else {
            (
                self.limits.nested_page_size,
                self.limits.max_nested_page_size,
            )
        };
        // A page's rows: `first`, or `last` when paging backward.
        let first = meta.args.contains_key("first").then(|| {
            ["first", "last"]
                .into_iter()
                .find_map(|name| match self.argument(field, name)? {
                    Value::Number(n) => n.as_u64(),
                    _ => None,
                })
                .unwrap_or(default)
                .min(max)
        });
        let representations =
            (name == "_entities").then(|| match self.argument(field, "representations") {
                Some(Value::List(items)) => items.len() as u64,
                _ => 1,
            });
        let rows = if is_list {
            first
                .or(representations)
                .or(page)
                .unwrap_or(UNBOUNDED_LIST_ROWS)
        } else {
            1
        };
        if field.selection_set.node.items.is_empty() {
            // A scalar or enum: paid for by the object that holds it, but for a count.
            return if name == "totalCount" { COUNT_COST } else { 0 };
        }
        let child_page = if is_list { None } else { first };
        let children = self.selection_cost(
            &field.selection_set.node,
            &target,
            depth + 1,
            child_page,
            false,
        );
        rows.saturating_mul(children.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_scan_counts_values_inside_arguments_only() {
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(33), "]".repeat(33));
        assert_eq!(
            scan_nesting(&deep, 32),
            Err(LimitError::InputTooDeep { limit: 32 })
        );
        let ok = format!("{{ a(x: {}1{}) }}", "[".repeat(32), "]".repeat(32));
        assert_eq!(scan_nesting(&ok, 32), Ok(()));
        // Brackets in strings, block strings and comments are text.
        let text = format!(
            "{{ a(x: \"{}\", y: \"\"\"{}\"\"\") # {}\n }}",
            "[".repeat(100),
            "{".repeat(100),
            "[".repeat(100)
        );
        assert_eq!(scan_nesting(&text, 32), Ok(()));
        let selections = format!("{}{}", "{ a ".repeat(65), "}".repeat(65));
        assert!(matches!(
            scan_nesting(&selections, 32),
            Err(LimitError::TooDeep { .. })
        ));
    }

    fn schema() -> async_graphql::dynamic::Schema {
        use async_graphql::dynamic::{Field, FieldFuture, Object, Schema, TypeRef};
        let item = Object::new("Item")
            .field(Field::new("id", TypeRef::named_nn(TypeRef::ID), |_| {
                FieldFuture::new(async { Ok(None::<async_graphql::Value>) })
            }))
            .field(
                Field::new("items", TypeRef::named_nn_list_nn("Item"), |_| {
                    FieldFuture::new(async { Ok(None::<async_graphql::Value>) })
                })
                .argument(async_graphql::dynamic::InputValue::new(
                    "first",
                    TypeRef::named(TypeRef::INT),
                )),
            );
        let query = Object::new("Query").field(
            Field::new("items", TypeRef::named_nn_list_nn("Item"), |_| {
                FieldFuture::new(async { Ok(None::<async_graphql::Value>) })
            })
            .argument(async_graphql::dynamic::InputValue::new(
                "first",
                TypeRef::named(TypeRef::INT),
            )),
        );
        Schema::build("Query", None, None)
            .register(item)
            .register(query)
            .finish()
            .expect("schema")
    }

    fn cost(document: &str) -> Result<Analysis, LimitError> {
        let doc = async_graphql::parser::parse_query(document).expect("parses");
        analyse(
            schema().registry(),
            &doc,
            None,
            &Variables::default(),
            &Limits::default(),
        )
    }

    #[test]
    fn lists_multiply_and_variable_defaults_count() {
        assert_eq!(cost("{ items(first: 3) { id } }").map(|a| a.cost), Ok(3));
        assert_eq!(
            cost("{ items(first: 3) { items(first: 4) { id } } }").map(|a| a.cost),
            Ok(3 * (1 + 4))
        );
        // A default of the operation is what execution uses.
        assert_eq!(
            cost("query($n: Int = 500) { items(first: $n) { items(first: $n) { id } } }")
                .map(|a| a.cost),
            Err(LimitError::TooExpensive {
                cost: 500 * (1 + 500),
                limit: 50_000
            })
        );
    }

    #[test]
    fn fragments_spread_many_times_cannot_make_the_walk_long() {
        // 2^40 expansions if walked naively.
        let mut doc = String::from("{ ...F0 }\n");
        for i in 0..40 {
            doc.push_str(&format!(
                "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
                n = i + 1
            ));
        }
        doc.push_str("fragment F40 on Query { items(first: 1) { id } }\n");
        let started = std::time::Instant::now();
        assert!(matches!(cost(&doc), Err(LimitError::TooExpensive { .. })));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // A chain of spreads deeper than any selection may nest.
        let mut chain = String::from("{ ...F0 }\n");
        for i in 0..5_000 {
            chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        chain.push_str("fragment F5000 on Query { items { id } }\n");
        assert!(matches!(cost(&chain), Err(LimitError::TooExpensive { .. })));
    }

    #[test]
    fn json_depth_and_nul_need_no_recursion() {
        let mut v = serde_json::json!(1);
        for _ in 0..100_000 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert_eq!(json_depth(&v), 100_000);
        assert!(!json_has_nul(&v));
        assert!(json_has_nul(&serde_json::json!({"a": ["x\u{0}"]})));
        assert!(json_has_nul(&serde_json::json!({"a\u{0}": 1})));
        // Dropping a deep value recurses in serde_json; take it apart flat.
        let mut stack = vec![v];
        while let Some(serde_json::Value::Array(items)) = stack.pop() {
            stack.extend(items);
        }
    }
}
