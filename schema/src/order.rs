//! Answers in the order of the selection set, as the GraphQL specification requires (fields
//! are collected in document order, fragments expanded in place).
//!
//! async-graphql 7.2 resolves sibling fields concurrently and inserts each into the answer as
//! it completes, so the keys of an object come back in completion order. `reorder` puts them
//! back in the document's order after execution. The document's depth is bounded before
//! parsing (`limits::scan_nesting`), so the recursion here is too.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value};

use crate::limits::select_operation;

/// Reorders every object of `data` (the answer to `operation_name` of `document`).
pub fn reorder(data: &mut Value, document: &ExecutableDocument, operation_name: Option<&str>) {
    if let Ok(operation) = select_operation(document, operation_name) {
        reorder_value(data, &[&operation.selection_set.node], document);
    }
}

/// The response keys of `sets` in document order, each with the sub-selections that answer
/// it (a key may be selected several times; its selections merge).
fn collect<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    keys: &mut Vec<(Name, Vec<&'a SelectionSet>)>,
    spread: &mut HashSet<Name>,
) {
    for set in sets {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.clone();
                    let sub = &field.node.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => keys.push((key, vec![sub])),
                    }
                }
                Selection::InlineFragment(inline) => {
                    collect(&[&inline.node.selection_set.node], document, keys, spread)
                }
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if let Some(fragment) = document.fragments.get(name)
                        && spread.insert(name.clone())
                    {
                        collect(&[&fragment.node.selection_set.node], document, keys, spread);
                        spread.remove(name);
                    }
                }
            }
        }
    }
}

fn reorder_value(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                reorder_value(item, sets, document);
            }
        }
        Value::Object(map) => {
            let mut keys = Vec::new();
            collect(sets, document, &mut keys, &mut HashSet::new());
            let mut old = std::mem::take(map);
            for (key, subs) in keys {
                if let Some(mut v) = old.shift_remove(&key) {
                    if subs.iter().any(|s| !s.items.is_empty()) {
                        reorder_value(&mut v, &subs, document);
                    }
                    map.insert(key, v);
                }
            }
            // Anything not selected by name (none expected) keeps its place at the end.
            map.extend(old);
        }
        _ => {}
    }
}

/// Answers `__schema { description }` with null: async-graphql 7.2 answers it with a fixed
/// text of its own, which would make the introspected schema differ from the SDL the gateway
/// prints (`schema print`), and this schema has no description.
pub fn clear_schema_description(
    data: &mut Value,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) {
    let Ok(operation) = select_operation(document, operation_name) else {
        return;
    };
    let mut roots = Vec::new();
    fields(
        &operation.selection_set.node,
        document,
        &mut roots,
        &mut HashSet::new(),
    );
    for (key, name, set) in roots {
        if name.as_str() != "__schema" {
            continue;
        }
        let mut inner = Vec::new();
        fields(set, document, &mut inner, &mut HashSet::new());
        if let Value::Object(root) = data
            && let Some(Value::Object(schema)) = root.get_mut(&key)
        {
            for (key, name, _) in inner {
                if name.as_str() == "description"
                    && let Some(value) = schema.get_mut(&key)
                {
                    *value = Value::Null;
                }
            }
        }
    }
}

/// The fields of one selection set (fragments expanded): response key, field name, sub-selection.
fn fields<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    out: &mut Vec<(Name, Name, &'a SelectionSet)>,
    spread: &mut HashSet<Name>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => out.push((
                field.node.response_key().node.clone(),
                field.node.name.node.clone(),
                &field.node.selection_set.node,
            )),
            Selection::InlineFragment(inline) => {
                fields(&inline.node.selection_set.node, document, out, spread)
            }
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                if let Some(fragment) = document.fragments.get(name)
                    && spread.insert(name.clone())
                {
                    fields(&fragment.node.selection_set.node, document, out, spread);
                    spread.remove(name);
                }
            }
        }
    }
}

/// Every field name the document selects anywhere (operations and fragments, any type): the
/// engine computes a costly expression field only when its name is among them.
pub fn mentioned_fields(document: &ExecutableDocument) -> HashSet<String> {
    fn walk(set: &SelectionSet, out: &mut HashSet<String>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    out.insert(field.node.name.node.to_string());
                    walk(&field.node.selection_set.node, out);
                }
                Selection::InlineFragment(inline) => walk(&inline.node.selection_set.node, out),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    for (_, operation) in document.operations.iter() {
        walk(&operation.node.selection_set.node, &mut out);
    }
    for fragment in document.fragments.values() {
        walk(&fragment.node.selection_set.node, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_document_with_fragments_in_place() {
        let doc = async_graphql::parser::parse_query(
            "{ b a { y ...F x } c: a { x } } fragment F on T { z y }",
        )
        .expect("parses");
        let mut data = async_graphql::value!({
            "c": { "x": 1 },
            "a": { "x": 1, "z": 2, "y": 3 },
            "b": 0,
        });
        reorder(&mut data, &doc, None);
        assert_eq!(
            serde_json::to_string(&data).expect("json"),
            r#"{"b":0,"a":{"y":3,"z":2,"x":1},"c":{"x":1}}"#
        );
    }
}
