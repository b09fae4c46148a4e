//! The access policy: load the policy file, check it against the catalogue, compile it into
//! one immutable `RoleView` per role. Nothing about access is decided anywhere else; the schema
//! builder only renders what a `RoleView` contains.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::catalogue::{CATALOGUE, Catalogue, FieldDef, FieldKind, Kind, TypeDef};
use crate::rules::{Rule, RuleFile};
use crate::statistics::{DisclosureControl, STATISTICS, StatisticsDef};

/// Which of `known` the policy `items` name; an unknown one is an error at its span.
fn flags<const N: usize>(
    items: &[Spanned<String>],
    known: [&str; N],
    unknown: &str,
) -> Result<[bool; N], (Range<usize>, String)> {
    let mut set = [false; N];
    for item in items {
        match known.iter().position(|k| *k == item.get_ref()) {
            Some(i) => set[i] = true,
            None => {
                return Err((
                    item.span(),
                    format!(
                        "{unknown} `{}` (known: {})",
                        item.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(set)
}

/// Where a table header first appears: tables declared by a `[header]` have their span at
/// their first key, which would name the wrong line.
fn header_span(text: &str, header: &str) -> Option<Range<usize>> {
    text.find(header).map(|start| start..start + header.len())
}

/// The policy compiled into the repository, used when no other file is configured.
pub const DEFAULT_POLICY: &str = include_str!("../../policy.toml");

/// Whether `name` can name a role: it appears in tokens, configuration keys and SQL-free
/// audit fields, so plain lower-case identifiers only.
pub fn is_role_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 40
}

/// A circle of row rules through `visible` starting at `start`, if there is one.
fn rule_cycle(
    start: &'static str,
    refers: &dyn Fn(&str) -> Vec<&'static str>,
) -> Option<Vec<&'static str>> {
    fn walk(
        at: &'static str,
        start: &'static str,
        path: &mut Vec<&'static str>,
        refers: &dyn Fn(&str) -> Vec<&'static str>,
    ) -> bool {
        for next in refers(at) {
            if next == start {
                path.push(next);
                return true;
            }
            if path.contains(&next) {
                continue;
            }
            path.push(next);
            if walk(next, start, path, refers) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start];
    walk(start, start, &mut path, refers).then_some(path)
}

/// Root operations a role may be granted besides lists and lookups.
pub const OPERATIONS: &[&str] = &[
    "verifyDocument",
    "personAccessReport",
    "revokeToken",
    "revokeTokensOfAgency",
    "issueToken",
    "createReferral",
    "acceptReferral",
    "declineReferral",
    "closeReferral",
    "extendReferral",
    "completeActionItem",
    "registerPerson",
];

/// A policy that does not fit the catalogue, with the line of the offending entry.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    roles: BTreeMap<String, Spanned<RoleFile>>,
    /// What each referral purpose allows (`[referral_purposes.SHELTER]`).
    #[serde(default)]
    referral_purposes: BTreeMap<String, Spanned<PurposeFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposeFile {
    receivers: Vec<Spanned<String>>,
    max_days: i64,
    #[serde(default)]
    consent_date_required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    description: Option<String>,
    #[serde(default)]
    operations: Vec<Spanned<String>>,
    /// The kind of agency (`agencies.kind`) a token of this role must name; none: the gateway's
    /// own administration (`ADMIN_AGENCY`).
    agency_kind: Option<Spanned<String>>,
    #[serde(default)]
    types: BTreeMap<String, Spanned<TypeFile>>,
    #[serde(default)]
    statistics: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    /// How its statistics are protected (docs/statistics.md); defaults where absent.
    disclosure_control: Option<Spanned<DisclosureFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureFile {
    threshold: Option<i64>,
    max_dimensions: Option<usize>,
    max_noise: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeFile {
    /// The row rule (`rules`): which rows of the type the role sees.
    rows: Spanned<RuleFile>,
    #[serde(default)]
    queries: Vec<Spanned<String>>,
    read: Vec<Spanned<String>>,
    #[serde(default)]
    referred: Vec<Spanned<String>>,
    /// W cells: fields the role may set (columns, or forward relations by id).
    #[serde(default)]
    write: Vec<Spanned<String>>,
    /// Root mutations: "create" and/or "update".
    #[serde(default)]
    mutations: Vec<Spanned<String>>,
}

/// How a role reads one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// In full: selectable, and (for plain columns) usable in filters and sort orders.
    Full,
    /// Only for persons with an accepted referral to the caller's agency; `null` otherwise.
    /// Never filterable or sortable.
    Referred,
}

#[derive(Clone, Debug)]
pub struct FieldView {
    pub def: &'static FieldDef,
    pub access: Access,
}

impl FieldView {
    /// Plain columns read in full are the only fields a filter or sort order may name.
    pub fn filterable(&self) -> Option<(&'static str, Kind)> {
        match (self.access, self.def.kind) {
            (Access::Full, FieldKind::Column { column, kind, .. }) => Some((column, kind)),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TypeView {
    pub def: &'static TypeDef,
    /// Which rows the role sees (checked against the catalogue).
    pub rows: Rule,
    /// Root `persons(…)` list.
    pub list: bool,
    /// Root `person(id:)` lookup.
    pub get: bool,
    pub fields: Vec<FieldView>,
    /// Fields the role may set, in catalogue order.
    pub writable: Vec<&'static FieldDef>,
    /// To-many links the role may add to and remove from (`add{Type}{Field}`,
    /// `remove{Type}{Field}`): W cells on relations through a link table.
    pub links: Vec<&'static FieldDef>,
    pub create: bool,
    pub update: bool,
}

impl TypeView {
    pub fn field(&self, name: &str) -> Option<&FieldView> {
        self.fields.iter().find(|f| f.def.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct StatisticsView {
    pub def: &'static StatisticsDef,
    pub dimensions: Vec<&'static str>,
}

/// Everything one role may see. Immutable once compiled.
#[derive(Clone, Debug)]
pub struct RoleView {
    pub name: String,
    /// Who holds the role, in the policy's words.
    pub description: Option<String>,
    /// The kind of agency a token of this role names (`AgencyKind`); `None`: the gateway's own
    /// administration, `ADMIN_AGENCY`.
    pub agency_kind: Option<&'static str>,
    pub types: BTreeMap<&'static str, TypeView>,
    pub operations: BTreeSet<&'static str>,
    pub statistics: Vec<StatisticsView>,
    /// How the role's statistics are protected.
    pub disclosure: DisclosureControl,
    /// What each referral purpose allows (the same for every role).
    pub referral_purposes: Arc<crate::purposes::PurposeRules>,
}

/// Operations that answer with rows of a type: a scope naming the operation must name the type.
const OPERATION_TYPES: &[(&str, &str)] = &[
    ("revokeToken", "AccessToken"),
    ("createReferral", "Referral"),
    ("acceptReferral", "Referral"),
    ("declineReferral", "Referral"),
    ("closeReferral", "Referral"),
    ("extendReferral", "Referral"),
    ("completeActionItem", "ActionItem"),
    ("registerPerson", "Person"),
    ("registerPerson", "UnhcrRegistration"),
    ("registerPerson", "Case"),
];

/// Operations no narrowed token may have: issuing tokens from a narrowed token would mint
/// tokens wider than itself.
const WHOLE_ROLE_ONLY: &[&str] = &["issueToken"];

/// Why a set of scopes cannot narrow a role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRefusal {
    #[error("scope `{0}` is not part of the role")]
    NotInRole(String),
    #[error("scope `{0}` answers with `{1}` rows: name `{1}` (or `{1}:read`) too")]
    Needs(&'static str, &'static str),
    #[error("`{0}` cannot be a scope: only a token with its whole role may use it")]
    WholeRoleOnly(String),
}

/// Suffix of a scope that grants a type without its writes (`Incident:read`).
pub const READ_ONLY_SCOPE_SUFFIX: &str = ":read";

impl RoleView {
    /// This role narrowed to `scopes` (see docs/tokens.md): `Type` keeps a type as the role has
    /// it, `Type:read` keeps it without writes, an operation or statistics field name keeps that
    /// root field. Relations to types not kept disappear with them. Scopes only remove: a scope
    /// naming anything the role does not have is refused (the error names it), and so is
    /// `issueToken`. Only the schema narrows: row filters stay the whole role's (`Engine::base`).
    pub fn narrowed(&self, scopes: &[String]) -> Result<RoleView, ScopeRefusal> {
        let mut types: BTreeMap<&'static str, TypeView> = BTreeMap::new();
        let mut operations = BTreeSet::new();
        let mut statistics: Vec<StatisticsView> = Vec::new();
        for scope in scopes {
            if WHOLE_ROLE_ONLY.contains(&scope.as_str()) {
                return Err(ScopeRefusal::WholeRoleOnly(scope.clone()));
            }
            let (name, read_only) = match scope.strip_suffix(READ_ONLY_SCOPE_SUFFIX) {
                Some(name) => (name, true),
                None => (scope.as_str(), false),
            };
            if let Some(view) = self.types.get(name) {
                let mut view = view.clone();
                if read_only {
                    view.create = false;
                    view.update = false;
                    view.writable.clear();
                    view.links.clear();
                }
                // `Type` and `Type:read` together: the wider one.
                let wider = types.get(view.def.name).is_none_or(|kept| {
                    kept.writable.len() + kept.links.len() < view.writable.len() + view.links.len()
                });
                if wider {
                    types.insert(view.def.name, view);
                }
            } else if let (false, Some(op)) = (read_only, self.operations.get(name)) {
                operations.insert(*op);
            } else if let (false, Some(st)) = (
                read_only,
                self.statistics.iter().find(|st| st.def.field == name),
            ) {
                if !statistics.iter().any(|kept| kept.def.field == name) {
                    statistics.push(st.clone());
                }
            } else {
                return Err(ScopeRefusal::NotInRole(scope.clone()));
            }
        }
        for (operation, needs) in OPERATION_TYPES {
            if operations.contains(operation) && !types.contains_key(needs) {
                return Err(ScopeRefusal::Needs(operation, needs));
            }
        }
        let kept: BTreeSet<&'static str> = types.keys().copied().collect();
        let reachable = |kind: &FieldKind| match kind {
            FieldKind::Relation { target, .. } => kept.contains(target),
            _ => true,
        };
        for view in types.values_mut() {
            view.fields.retain(|f| reachable(&f.def.kind));
            view.writable.retain(|f| reachable(&f.kind));
            view.links.retain(|f| reachable(&f.kind));
        }
        Ok(RoleView {
            name: self.name.clone(),
            description: self.description.clone(),
            agency_kind: self.agency_kind,
            types,
            operations,
            statistics,
            disclosure: self.disclosure,
            referral_purposes: self.referral_purposes.clone(),
        })
    }

    /// A role that sees nothing (a router's own token).
    pub fn empty(name: &str) -> Self {
        RoleView {
            name: name.to_owned(),
            description: None,
            agency_kind: None,
            types: BTreeMap::new(),
            operations: BTreeSet::new(),
            statistics: Vec::new(),
            disclosure: DisclosureControl::default(),
            referral_purposes: Arc::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub roles: BTreeMap<String, Arc<RoleView>>,
}

impl Policy {
    pub fn role(&self, name: &str) -> Option<&Arc<RoleView>> {
        self.roles.get(name)
    }

    /// Parses and checks `text` (named `file` in messages) against the catalogue.
    pub fn compile(file: &str, text: &str) -> Result<Policy, PolicyError> {
        let line_of =
            |span: Range<usize>| text[..span.start.min(text.len())].matches('\n').count() + 1;
        let err = |span: Range<usize>, message: String| PolicyError {
            file: file.to_owned(),
            line: line_of(span),
            message,
        };
        let catalogue: &'static Catalogue = &CATALOGUE;
        catalogue
            .check_against_entities()
            .map_err(|m| err(0..0, format!("catalogue does not match the entities: {m}")))?;
        let parsed: PolicyFile = toml::from_str(text)
            .map_err(|e| err(e.span().unwrap_or(0..0), e.message().to_owned()))?;

        let purposes = catalogue
            .enums
            .iter()
            .find(|e| e.name == "ReferralPurpose")
            .map_or(&[][..], |e| e.values);
        let kinds = catalogue
            .enums
            .iter()
            .find(|e| e.name == "AgencyKind")
            .map_or(&[][..], |e| e.values);
        let mut rules = crate::purposes::PurposeRules::new();
        for (purpose, rule) in &parsed.referral_purposes {
            if !purposes.contains(&purpose.as_str()) {
                return Err(err(
                    rule.span(),
                    format!(
                        "`{purpose}` is no ReferralPurpose ({})",
                        purposes.join(", ")
                    ),
                ));
            }
            let file = rule.get_ref();
            for kind in &file.receivers {
                if !kinds.contains(&kind.get_ref().as_str()) {
                    return Err(err(
                        kind.span(),
                        format!("`{}` is no AgencyKind", kind.get_ref()),
                    ));
                }
            }
            if !(1..=3650).contains(&file.max_days) {
                return Err(err(
                    rule.span(),
                    format!("{purpose}: max_days must be between 1 and 3650"),
                ));
            }
            rules.insert(
                purpose.clone(),
                crate::purposes::PurposeRule {
                    receivers: file.receivers.iter().map(|k| k.get_ref().clone()).collect(),
                    max_days: file.max_days,
                    consent_date_required: file.consent_date_required,
                },
            );
        }
        let referral_purposes = Arc::new(rules);

        let mut roles = BTreeMap::new();
        for (role_name, role_file) in &parsed.roles {
            let role_span =
                header_span(text, &format!("[roles.{role_name}")).unwrap_or(role_file.span());
            let role_file = role_file.get_ref();
            if !is_role_name(role_name) {
                return Err(err(
                    role_span,
                    format!(
                        "role name `{role_name}`: lower-case letters, digits and `_`, starting with a letter"
                    ),
                ));
            }
            let mut types = BTreeMap::new();
            for (type_name, type_file) in &role_file.types {
                let type_span =
                    header_span(text, &format!("[roles.{role_name}.types.{type_name}]"))
                        .unwrap_or(type_file.span());
                let type_file = type_file.get_ref();
                let def = catalogue.get(type_name).ok_or_else(|| {
                    err(
                        type_span.clone(),
                        format!("role {role_name}: unknown type `{type_name}`"),
                    )
                })?;
                let rows = crate::rules::compile(&type_file.rows, def).map_err(|(span, m)| {
                    err(span, format!("{role_name}.{type_name}: row rule: {m}"))
                })?;
                let [list, get] = flags(
                    &type_file.queries,
                    ["list", "get"],
                    &format!("{role_name}.{type_name}: unknown query"),
                )
                .map_err(|(span, m)| err(span, m))?;
                // The field a policy entry names, or an error at its line.
                let field_of = |item: &Spanned<String>| {
                    def.field(item.get_ref()).ok_or_else(|| {
                        err(
                            item.span(),
                            format!(
                                "{role_name}: type {type_name} has no field `{}`",
                                item.get_ref()
                            ),
                        )
                    })
                };
                let mut fields: Vec<FieldView> = Vec::new();
                for (items, access) in [
                    (&type_file.read, Access::Full),
                    (&type_file.referred, Access::Referred),
                ] {
                    for item in items {
                        let name = item.get_ref();
                        let field = field_of(item)?;
                        if fields.iter().any(|f| f.def.name == field.name) {
                            return Err(err(
                                item.span(),
                                format!("{role_name}.{type_name}: field `{name}` listed twice"),
                            ));
                        }
                        if access == Access::Referred
                            && (field.column().is_none() || def.person_column.is_none())
                        {
                            return Err(err(
                                item.span(),
                                format!(
                                    "{role_name}.{type_name}: `{name}` cannot be referral-only (only columns of types about a person can)"
                                ),
                            ));
                        }
                        fields.push(FieldView { def: field, access });
                    }
                }
                let mut writable: Vec<&'static FieldDef> = Vec::new();
                let mut links: Vec<&'static FieldDef> = Vec::new();
                for item in &type_file.write {
                    let name = item.get_ref();
                    let field = field_of(item)?;
                    let link = matches!(
                        field.kind,
                        FieldKind::Relation {
                            join: crate::catalogue::Join::Through { .. },
                            ..
                        }
                    );
                    let settable = link
                        || matches!(
                            field.kind,
                            FieldKind::Column { .. }
                                | FieldKind::Relation {
                                    join: crate::catalogue::Join::Forward { .. },
                                    ..
                                }
                        ) && !["id", "createdAt", "updatedAt"].contains(&field.name);
                    if !settable {
                        return Err(err(
                            item.span(),
                            format!(
                                "{role_name}.{type_name}: `{name}` cannot be written (only columns, forward relations and links can)"
                            ),
                        ));
                    }
                    // W implies R: a role writes only what it reads in full.
                    if !fields
                        .iter()
                        .any(|f| f.def.name == field.name && f.access == Access::Full)
                    {
                        return Err(err(
                            item.span(),
                            format!(
                                "{role_name}.{type_name}: `{name}` is written but not read in full"
                            ),
                        ));
                    }
                    if link {
                        links.push(field);
                    } else {
                        writable.push(field);
                    }
                }
                writable.sort_by_key(|f| def.fields.iter().position(|d| d.name == f.name));
                links.sort_by_key(|f| def.fields.iter().position(|d| d.name == f.name));
                let [create, update] = flags(
                    &type_file.mutations,
                    ["create", "update"],
                    &format!("{role_name}.{type_name}: unknown mutation"),
                )
                .map_err(|(span, m)| err(span, m))?;
                if (create || update) && writable.is_empty() {
                    return Err(err(
                        type_span,
                        format!("{role_name}.{type_name}: mutations need `write` fields"),
                    ));
                }
                if create {
                    // A row can only be created when every required column can be set.
                    for f in &def.fields {
                        if let FieldKind::Column {
                            nullable: false,
                            kind,
                            ..
                        } = f.kind
                            && !kind.is_list()
                            && !["id", "createdAt", "updatedAt"].contains(&f.name)
                            && !writable.iter().any(|w| w.name == f.name)
                        {
                            return Err(err(
                                type_span,
                                format!(
                                    "{role_name}.{type_name}: `create` needs the required field `{}` in `write`",
                                    f.name
                                ),
                            ));
                        }
                    }
                }
                if !fields
                    .iter()
                    .any(|f| f.def.name == "id" && f.access == Access::Full)
                {
                    return Err(err(
                        type_span,
                        format!("{role_name}.{type_name}: `id` must be readable"),
                    ));
                }
                // Keep the catalogue's field order, so schemas read the same for every role.
                fields.sort_by_key(|f| def.fields.iter().position(|d| d.name == f.def.name));
                types.insert(
                    def.name,
                    (
                        TypeView {
                            def,
                            rows,
                            list,
                            get,
                            fields,
                            writable,
                            links,
                            create,
                            update,
                        },
                        type_span,
                        type_file,
                    ),
                );
            }
            // Cross-type checks: relations and row filters may only lead to types the role has.
            let has = |name: &str| types.contains_key(name);
            for (type_name, (view, span, type_file)) in &types {
                let mut refers = Vec::new();
                view.rows.visible_types(&mut refers);
                for target in refers {
                    if !has(target) {
                        return Err(err(
                            type_file.rows.span(),
                            format!(
                                "{role_name}.{type_name}: the row rule refers to the role's rule for {target}, but the role has no type {target}"
                            ),
                        ));
                    }
                }
                if let Some(cycle) = rule_cycle(type_name, &|t| {
                    let mut out = Vec::new();
                    if let Some((v, _, _)) = types.get(t) {
                        v.rows.visible_types(&mut out);
                    }
                    out
                }) {
                    return Err(err(
                        type_file.rows.span(),
                        format!(
                            "{role_name}.{type_name}: the row rules refer to each other in a circle ({})",
                            cycle.join(" → ")
                        ),
                    ));
                }
                for f in &view.fields {
                    if let FieldKind::Relation { target, .. } = f.def.kind
                        && !has(target)
                    {
                        let span = type_file
                            .read
                            .iter()
                            .find(|i| i.get_ref() == f.def.name)
                            .map_or(span.clone(), |i| i.span());
                        return Err(err(
                            span,
                            format!(
                                "{role_name}.{type_name}.{}: the role has no type {target}",
                                f.def.name
                            ),
                        ));
                    }
                }
            }
            let types: BTreeMap<&'static str, TypeView> =
                types.into_iter().map(|(k, (v, _, _))| (k, v)).collect();

            let mut operations = BTreeSet::new();
            for op in &role_file.operations {
                let known = OPERATIONS
                    .iter()
                    .find(|o| **o == op.get_ref().as_str())
                    .ok_or_else(|| {
                        err(
                            op.span(),
                            format!(
                                "{role_name}: unknown operation `{}` (known: {})",
                                op.get_ref(),
                                OPERATIONS.join(", ")
                            ),
                        )
                    })?;
                operations.insert(*known);
            }

            // registerPerson creates a person, a registration and maybe a case: every required
            // column of each must be writable, but the links the operation sets itself.
            if operations.contains("registerPerson") {
                for (type_name, set_here) in [
                    ("Person", "case_id"),
                    ("UnhcrRegistration", "person_id"),
                    ("Case", "focal_person_id"),
                ] {
                    let Some(view) = types.get(type_name) else {
                        return Err(err(
                            role_span.clone(),
                            format!("{role_name}: registerPerson needs the type {type_name}"),
                        ));
                    };
                    for f in &view.def.fields {
                        if let FieldKind::Column {
                            column,
                            kind,
                            nullable: false,
                        } = f.kind
                            && !kind.is_list()
                            && !["id", "created_at", "updated_at", set_here].contains(&column)
                            && !view.writable.iter().any(|w| w.name == f.name)
                        {
                            return Err(err(
                                role_span.clone(),
                                format!(
                                    "{role_name}: registerPerson needs `{type_name}.{}` in `write`",
                                    f.name
                                ),
                            ));
                        }
                    }
                }
            }
            if (operations.contains("revokeToken")
                || operations.contains("revokeTokensOfAgency")
                || operations.contains("issueToken"))
                && !types.contains_key("AccessToken")
            {
                return Err(err(
                    role_span.clone(),
                    format!("{role_name}: revoking tokens needs the type AccessToken"),
                ));
            }
            let mut statistics = Vec::new();
            for (source, dims) in &role_file.statistics {
                let def = STATISTICS
                    .iter()
                    .find(|s| s.name == source.as_str())
                    .ok_or_else(|| {
                        err(
                            dims.span(),
                            format!("{role_name}: no statistics over `{source}`"),
                        )
                    })?;
                let mut dimensions = Vec::new();
                for d in dims.get_ref() {
                    let dim = def
                        .dimensions
                        .iter()
                        .find(|x| x.name == d.get_ref().as_str())
                        .ok_or_else(|| {
                            err(
                                d.span(),
                                format!(
                                    "{role_name}: statistics over {source} have no dimension `{}`",
                                    d.get_ref()
                                ),
                            )
                        })?;
                    dimensions.push(dim.name);
                }
                if dimensions.is_empty() {
                    return Err(err(
                        dims.span(),
                        format!(
                            "{role_name}: statistics over {source} need at least one dimension"
                        ),
                    ));
                }
                statistics.push(StatisticsView { def, dimensions });
            }

            let defaults = DisclosureControl::default();
            let disclosure = match &role_file.disclosure_control {
                None => defaults,
                Some(file) => {
                    let control = DisclosureControl {
                        threshold: file.get_ref().threshold.unwrap_or(defaults.threshold),
                        max_dimensions: file
                            .get_ref()
                            .max_dimensions
                            .unwrap_or(defaults.max_dimensions),
                        max_noise: file.get_ref().max_noise.unwrap_or(defaults.max_noise),
                    };
                    if control.threshold < 1
                        || control.max_dimensions < 1
                        || !(0..=50).contains(&control.max_noise)
                    {
                        return Err(err(
                            file.span(),
                            format!(
                                "{role_name}: disclosure_control needs threshold >= 1, max_dimensions >= 1 and max_noise between 0 and 50"
                            ),
                        ));
                    }
                    control
                }
            };
            if types.is_empty() && statistics.is_empty() && operations.is_empty() {
                return Err(err(role_span, format!("role {role_name} grants nothing")));
            }
            let agency_kind = match &role_file.agency_kind {
                None => None,
                Some(kind) => Some(
                    crate::catalogue::CATALOGUE
                        .enums
                        .iter()
                        .find(|e| e.name == "AgencyKind")
                        .and_then(|e| e.values.iter().find(|v| **v == kind.get_ref().as_str()))
                        .copied()
                        .ok_or_else(|| {
                            err(
                                kind.span(),
                                format!("{role_name}: `{}` is no AgencyKind", kind.get_ref()),
                            )
                        })?,
                ),
            };
            roles.insert(
                role_name.clone(),
                Arc::new(RoleView {
                    name: role_name.clone(),
                    description: role_file.description.clone(),
                    agency_kind,
                    types,
                    operations,
                    statistics,
                    disclosure,
                    referral_purposes: referral_purposes.clone(),
                }),
            );
        }
        Ok(Policy { roles })
    }

    /// The policy compiled into the binary.
    pub fn builtin() -> Result<Policy, PolicyError> {
        Policy::compile("policy.toml", DEFAULT_POLICY)
    }
}
