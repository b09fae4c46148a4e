//! Row rules: the predicates of the policy file that decide which rows of a type a role sees.
//!
//! A rule is written in the vocabulary of the `where` argument (the same column operators,
//! `and`, `or`, `not`; several keys in one table must all hold), plus
//! - a relation of the type (`placements = { … }`): a row of that relation satisfying the inner
//!   rule exists (Hasura's boolean expressions, read through the catalogue's joins);
//! - `visible = true` inside a relation: the role's own rule for the relation's target type;
//! - session values as operands: `"$jurisdiction"`, `"$agency"` (the token's agency code) and
//!   `"$now"`;
//! - `true` (every row) and `false` (none).
//!
//! `compile` checks a rule against the catalogue when the policy loads (an unknown field,
//! operator, value or variable is an error at its line); `rows::Conditions` renders it into SQL
//! for every query, bound values only.

use std::fmt;
use std::ops::Range;

use async_graphql::Value as GqlValue;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::Spanned;

use crate::catalogue::{CATALOGUE, FieldKind, Join, Kind, TypeDef};

/// A rule as written in the policy file, with the place of every part.
#[derive(Clone, Debug)]
pub enum RuleFile {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Spanned<RuleFile>>),
    Table(Vec<(Spanned<String>, Spanned<RuleFile>)>),
}

impl<'de> serde::Deserialize<'de> for RuleFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = RuleFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row rule: true, false or a table of conditions")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RuleFile, E> {
                Ok(RuleFile::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RuleFile, E> {
                Ok(RuleFile::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RuleFile, E> {
                i64::try_from(v)
                    .map(RuleFile::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RuleFile, E> {
                Ok(RuleFile::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RuleFile, E> {
                Ok(RuleFile::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RuleFile, E> {
                Ok(RuleFile::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RuleFile, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<RuleFile>>()? {
                    items.push(item);
                }
                Ok(RuleFile::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RuleFile, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<RuleFile>>()?;
                    entries.push((key, value));
                }
                Ok(RuleFile::Table(entries))
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

/// A value of the session a rule may compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionValue {
    /// The token's jurisdiction, a region-code prefix.
    Jurisdiction,
    /// The code of the token's agency (`agencies.code`).
    Agency,
    /// The time of the request.
    Now,
}

impl SessionValue {
    pub const ALL: [(&'static str, SessionValue); 3] = [
        ("$jurisdiction", SessionValue::Jurisdiction),
        ("$agency", SessionValue::Agency),
        ("$now", SessionValue::Now),
    ];

    /// In plain words, for `policy explain`.
    fn words(self) -> &'static str {
        match self {
            SessionValue::Jurisdiction => "your jurisdiction",
            SessionValue::Agency => "your agency's code",
            SessionValue::Now => "now",
        }
    }
}

/// What a column is compared with: a literal of the policy, or a session value.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Literal(GqlValue),
    Session(SessionValue),
}

/// A compiled row rule over rows of one type.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    True,
    False,
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    /// Conditions on one column, all of which must hold (`{ eq = …, isNull = … }`).
    Column {
        field: &'static str,
        column: &'static str,
        kind: Kind,
        ops: Vec<(&'static str, Operand)>,
    },
    /// A row of the relation `field` (to `target`) satisfying `rule` exists.
    Related {
        field: &'static str,
        target: &'static str,
        join: Join,
        many: bool,
        rule: Box<Rule>,
    },
    /// The role's own rule for `type_name` holds for the row.
    Visible {
        type_name: &'static str,
    },
}

/// An error at a place of the policy file.
pub type RuleError = (Range<usize>, String);

/// Checks `rule` (a rule over rows of `ty`) against the catalogue.
pub fn compile(rule: &Spanned<RuleFile>, ty: &'static TypeDef) -> Result<Rule, RuleError> {
    let span = rule.span();
    match rule.get_ref() {
        RuleFile::Bool(true) => Ok(Rule::True),
        RuleFile::Bool(false) => Ok(Rule::False),
        RuleFile::Table(entries) => {
            let mut parts = Vec::new();
            for (key, value) in entries {
                parts.push(compile_entry(key, value, ty)?);
            }
            Ok(match parts.len() {
                0 => Rule::True,
                1 => parts.pop().unwrap_or(Rule::True),
                _ => Rule::And(parts),
            })
        }
        _ => Err((
            span,
            format!(
                "a row rule of {} is true, false or a table of conditions",
                ty.name
            ),
        )),
    }
}

fn compile_entry(
    key: &Spanned<String>,
    value: &Spanned<RuleFile>,
    ty: &'static TypeDef,
) -> Result<Rule, RuleError> {
    let name = key.get_ref().as_str();
    match name {
        "and" | "or" => {
            let RuleFile::List(items) = value.get_ref() else {
                return Err((value.span(), format!("`{name}` takes a list of rules")));
            };
            let rules = items
                .iter()
                .map(|i| compile(i, ty))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "and" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            })
        }
        "not" => Ok(Rule::Not(Box::new(compile(value, ty)?))),
        "visible" => match value.get_ref() {
            RuleFile::Bool(true) => Ok(Rule::Visible { type_name: ty.name }),
            _ => Err((
                value.span(),
                "`visible` takes `true` (the role's own rule for this type)".to_owned(),
            )),
        },
        field_name => {
            let field = ty.field(field_name).ok_or_else(|| {
                (
                    key.span(),
                    format!(
                        "type {} has no field `{field_name}` (a row rule names columns and relations of its type, `and`, `or`, `not` and `visible`)",
                        ty.name
                    ),
                )
            })?;
            match field.kind {
                FieldKind::Column { column, kind, .. } => {
                    compile_column(field.name, column, kind, value)
                }
                FieldKind::Relation { target, join, many } => Ok(Rule::Related {
                    field: field.name,
                    target,
                    join,
                    many,
                    rule: Box::new(compile(value, CATALOGUE.type_def(target))?),
                }),
                FieldKind::Mask { .. } | FieldKind::Expression { .. } => Err((
                    key.span(),
                    format!(
                        "{}.{field_name} is computed: a row rule names columns and relations only",
                        ty.name
                    ),
                )),
                // A stored column now, but a rule on it would let each placement written change
                // which shelters a role sees: kept out, as when it was counted per read.
                FieldKind::Maintained { .. } => Err((
                    key.span(),
                    format!(
                        "{}.{field_name} is maintained by the database (a count kept by triggers): a row rule names columns and relations only",
                        ty.name
                    ),
                )),
            }
        }
    }
}

fn compile_column(
    field: &'static str,
    column: &'static str,
    kind: Kind,
    value: &Spanned<RuleFile>,
) -> Result<Rule, RuleError> {
    let RuleFile::Table(entries) = value.get_ref() else {
        return Err((
            value.span(),
            format!("`{field}` takes a table of conditions, e.g. {{ eq = … }}"),
        ));
    };
    let operators = crate::condition::operators(kind);
    let mut ops = Vec::new();
    for (op, operand) in entries {
        let known = operators
            .iter()
            .find(|o| **o == op.get_ref().as_str())
            .ok_or_else(|| {
                (
                    op.span(),
                    format!(
                        "`{field}` has no operator `{}` (known: {})",
                        op.get_ref(),
                        operators.join(", ")
                    ),
                )
            })?;
        let operand = compile_operand(operand)?;
        // The value must be one the column can hold: rendered once here with sample session
        // values, so a request never meets a rule the database would refuse.
        let sample = sample_value(&operand);
        let mut object = async_graphql::indexmap::IndexMap::new();
        object.insert(async_graphql::Name::new(*known), sample.clone());
        crate::condition::column_condition("t.c", kind, &GqlValue::Object(object))
            .map_err(|e| (operand_span(op, value), format!("`{field}`: {e}")))?;
        if let (Kind::Enum(e) | Kind::EnumList(e), Operand::Literal(literal)) = (kind, &operand) {
            let values = CATALOGUE
                .enums
                .iter()
                .find(|d| d.name == e)
                .map_or(&[][..], |d| d.values);
            let named: Vec<&GqlValue> = match literal {
                GqlValue::List(items) => items.iter().collect(),
                single => vec![single],
            };
            for v in named {
                if let GqlValue::String(s) = v
                    && !values.contains(&s.as_str())
                {
                    return Err((
                        value.span(),
                        format!("`{s}` is no {e} (known: {})", values.join(", ")),
                    ));
                }
            }
        }
        ops.push((*known, operand));
    }
    Ok(Rule::Column {
        field,
        column,
        kind,
        ops,
    })
}

fn operand_span(op: &Spanned<String>, value: &Spanned<RuleFile>) -> Range<usize> {
    if op.span().end > 0 {
        op.span()
    } else {
        value.span()
    }
}

fn compile_operand(value: &Spanned<RuleFile>) -> Result<Operand, RuleError> {
    fn literal(value: &Spanned<RuleFile>) -> Result<GqlValue, RuleError> {
        Ok(match value.get_ref() {
            RuleFile::Bool(b) => GqlValue::Boolean(*b),
            RuleFile::Int(i) => GqlValue::Number((*i).into()),
            RuleFile::Float(f) => async_graphql::Number::from_f64(*f)
                .map(GqlValue::Number)
                .ok_or_else(|| (value.span(), "not a finite number".to_owned()))?,
            RuleFile::Text(s) if s.starts_with('$') => {
                return Err((
                    value.span(),
                    format!("`{s}`: session values cannot appear in a list"),
                ));
            }
            RuleFile::Text(s) => GqlValue::String(s.clone()),
            RuleFile::List(items) => {
                GqlValue::List(items.iter().map(literal).collect::<Result<Vec<_>, _>>()?)
            }
            RuleFile::Table(_) => {
                return Err((value.span(), "expected a value, not a table".to_owned()));
            }
        })
    }
    match value.get_ref() {
        RuleFile::Text(s) if s.starts_with('$') => SessionValue::ALL
            .iter()
            .find(|(name, _)| name == s)
            .map(|(_, v)| Operand::Session(*v))
            .ok_or_else(|| {
                (
                    value.span(),
                    format!(
                        "unknown session value `{s}` (known: {})",
                        SessionValue::ALL.map(|(n, _)| n).join(", ")
                    ),
                )
            }),
        _ => literal(value).map(Operand::Literal),
    }
}

/// A stand-in for a session value when a rule is checked at start-up.
fn sample_value(operand: &Operand) -> GqlValue {
    match operand {
        Operand::Literal(v) => v.clone(),
        Operand::Session(SessionValue::Jurisdiction) => GqlValue::String("31".to_owned()),
        Operand::Session(SessionValue::Agency) => GqlValue::String("AGENCY".to_owned()),
        Operand::Session(SessionValue::Now) => {
            GqlValue::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
    }
}

impl Rule {
    /// The types whose role rule this rule refers to (`visible`), with the relation path.
    pub fn visible_types(&self, out: &mut Vec<&'static str>) {
        match self {
            Rule::And(rules) | Rule::Or(rules) => {
                rules.iter().for_each(|r| r.visible_types(out));
            }
            Rule::Not(rule) | Rule::Related { rule, .. } => rule.visible_types(out),
            Rule::Visible { type_name } => out.push(type_name),
            Rule::True | Rule::False | Rule::Column { .. } => {}
        }
    }

    /// This rule for rows whose `column` is known to reference a row of `parent` the session
    /// may see (a relation read through its parent, in the parent's statement): a condition
    /// that asks exactly that (`{ person = { visible = true } }` over `person_id`) holds and is
    /// not checked again. An equivalent rule under that knowledge, anywhere in the rule.
    pub fn given_visible(&self, column: &str, parent: &str) -> Rule {
        match self {
            Rule::Related {
                join: Join::Forward { column: c },
                target,
                rule,
                many: false,
                ..
            } if *c == column
                && *target == parent
                && matches!(rule.as_ref(), Rule::Visible { type_name } if *type_name == parent) =>
            {
                Rule::True
            }
            Rule::And(rules) => {
                let rules: Vec<Rule> = rules
                    .iter()
                    .map(|r| r.given_visible(column, parent))
                    .filter(|r| *r != Rule::True)
                    .collect();
                if rules.contains(&Rule::False) {
                    Rule::False
                } else if rules.is_empty() {
                    Rule::True
                } else {
                    Rule::And(rules)
                }
            }
            Rule::Or(rules) => {
                let rules: Vec<Rule> = rules
                    .iter()
                    .map(|r| r.given_visible(column, parent))
                    .filter(|r| *r != Rule::False)
                    .collect();
                if rules.contains(&Rule::True) {
                    Rule::True
                } else if rules.is_empty() {
                    Rule::False
                } else {
                    Rule::Or(rules)
                }
            }
            Rule::Not(rule) => match rule.given_visible(column, parent) {
                Rule::True => Rule::False,
                Rule::False => Rule::True,
                other => Rule::Not(Box::new(other)),
            },
            other => other.clone(),
        }
    }

    /// Whether this rule reads another table (a relation): the engine then shapes an `or`
    /// of it so the planner probes per row.
    pub fn reads_relation(&self) -> bool {
        match self {
            Rule::Related { .. } | Rule::Visible { .. } => true,
            Rule::And(rules) | Rule::Or(rules) => rules.iter().any(Rule::reads_relation),
            Rule::Not(rule) => rule.reads_relation(),
            Rule::True | Rule::False | Rule::Column { .. } => false,
        }
    }

    /// The rule in plain words (`policy explain`, `policy diff`).
    pub fn words(&self) -> String {
        match self {
            Rule::True => "every row".to_owned(),
            Rule::False => "no row".to_owned(),
            Rule::And(rules) if rules.is_empty() => "every row".to_owned(),
            Rule::Or(rules) if rules.is_empty() => "no row".to_owned(),
            Rule::And(rules) => rules
                .iter()
                .map(|r| r.words_nested())
                .collect::<Vec<_>>()
                .join(" and "),
            Rule::Or(rules) => format!(
                "either {}",
                rules
                    .iter()
                    .map(|r| r.words_nested())
                    .collect::<Vec<_>>()
                    .join(", or ")
            ),
            Rule::Not(rule) => format!("not ({})", rule.words()),
            Rule::Column { field, ops, .. } => ops
                .iter()
                .map(|(op, operand)| format!("{field} {}", op_words(op, operand)))
                .collect::<Vec<_>>()
                .join(" and "),
            Rule::Related {
                field, many, rule, ..
            } => {
                let inner = match rule.as_ref() {
                    Rule::True => String::new(),
                    Rule::Visible { type_name } => {
                        return if *many {
                            format!(
                                "with at least one of its {field} you may see (by your rule for {type_name})"
                            )
                        } else {
                            format!("whose {field} you may see (by your rule for {type_name})")
                        };
                    }
                    other if *many => format!(" where {}", other.words_nested()),
                    other => return format!("whose {field}'s {}", other.words_nested()),
                };
                if *many {
                    format!("with at least one of its {field}{inner}")
                } else {
                    format!("with a {field}")
                }
            }
            Rule::Visible { type_name } => format!("you may see (by your rule for {type_name})"),
        }
    }

    fn words_nested(&self) -> String {
        match self {
            Rule::Or(rules) | Rule::And(rules) if rules.len() > 1 => format!("({})", self.words()),
            _ => self.words(),
        }
    }
}

fn operand_words(operand: &Operand) -> String {
    match operand {
        Operand::Literal(GqlValue::List(items)) => items
            .iter()
            .map(|i| i.to_string().trim_matches('"').to_owned())
            .collect::<Vec<_>>()
            .join(", "),
        Operand::Literal(v) => v.to_string().trim_matches('"').to_owned(),
        Operand::Session(s) => s.words().to_owned(),
    }
}

fn op_words(op: &str, operand: &Operand) -> String {
    let value = operand_words(operand);
    let yes = matches!(operand, Operand::Literal(GqlValue::Boolean(true)));
    match op {
        "eq" => format!("is {value}"),
        "ne" => format!("is not {value}"),
        "in" => format!("is one of {value}"),
        "notIn" => format!("is none of {value}"),
        "isNull" if yes => "is empty".to_owned(),
        "isNull" => "is set".to_owned(),
        "gt" => format!("is after {value}"),
        "gte" => format!("is {value} or after"),
        "lt" => format!("is before {value}"),
        "lte" => format!("is {value} or before"),
        "within" => format!("lies within {value}"),
        "contains" => format!("contains {value}"),
        "isEmpty" if yes => "is an empty list".to_owned(),
        "isEmpty" => "is a non-empty list".to_owned(),
        other => format!("{other} {value}"),
    }
}

/// The GraphQL value of an operand for `session`.
pub fn operand_value(operand: &Operand, session: &crate::session::Session) -> GqlValue {
    match operand {
        Operand::Literal(v) => v.clone(),
        Operand::Session(SessionValue::Jurisdiction) => {
            GqlValue::String(session.jurisdiction.clone())
        }
        Operand::Session(SessionValue::Agency) => GqlValue::String(session.agency.clone()),
        Operand::Session(SessionValue::Now) => GqlValue::String(
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
    }
}

/// The join of a relation as SQL, from the parent `parent` to the target `target`: the
/// `FROM` items and the condition that ties them.
pub fn join_sql(
    join: Join,
    target_table: &str,
    parent: &str,
    target: &str,
    link: &str,
) -> (String, String) {
    match join {
        Join::Forward { column } => (
            format!("{target_table} {target}"),
            format!("{target}.id = {parent}.{column}"),
        ),
        Join::Reverse { column, condition } => {
            let mut on = format!("{target}.{column} = {parent}.id");
            if let Some(condition) = condition {
                on.push_str(" AND ");
                on.push_str(&condition.replace("{t}", target));
            }
            (format!("{target_table} {target}"), on)
        }
        Join::Through {
            table,
            parent_column,
            target_column,
        } => (
            format!(
                "{table} {link} JOIN {target_table} {target} ON {target}.id = {link}.{target_column}"
            ),
            format!("{link}.{parent_column} = {parent}.id"),
        ),
    }
}
