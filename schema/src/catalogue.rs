//! The catalogue: every GraphQL type of the shared case data, its fields, and how each field is
//! read from the database (a column, a masked value derived from columns, an SQL expression, or a
//! relation). It knows nothing of roles; the policy decides which of these a role gets.
//!
//! `check_against_entities` ties it to the sea-orm entities: a column named here that the
//! entities do not have, a nullability or a value kind that differs from the entity's field
//! stops the start (`migrations/tests/frozen.rs` ties the entities to the migrated tables).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};

use crate::sql::Sql;

/// How a value looks in GraphQL and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Id,
    String,
    /// A Kemendagri region code (`31.71.01.1001`): filterable by prefix.
    Region,
    Int,
    /// A 64-bit integer column, shown as a GraphQL Int.
    BigInt,
    Float,
    Boolean,
    Date,
    DateTime,
    Enum(&'static str),
    /// A JSON array of strings in a text column.
    StringList,
    /// A JSON array of enum values in a text column.
    EnumList(&'static str),
}

impl Kind {
    /// The GraphQL name of the (element) type.
    pub fn graphql_name(self) -> &'static str {
        match self {
            Kind::Id => "ID",
            Kind::String | Kind::StringList => "String",
            Kind::Region => "RegionCode",
            Kind::Int | Kind::BigInt => "Int",
            Kind::Float => "Float",
            Kind::Boolean => "Boolean",
            Kind::Date => "Date",
            Kind::DateTime => "DateTime",
            Kind::Enum(name) | Kind::EnumList(name) => name,
        }
    }

    pub fn is_list(self) -> bool {
        matches!(self, Kind::StringList | Kind::EnumList(_))
    }
}

/// How a relation joins its parent to its target (the target table is aliased in the loader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// `parent.column = target.id`.
    Forward { column: &'static str },
    /// `target.column = parent.id`, optionally with a fixed condition on the target
    /// (`{t}` stands for the target's alias).
    Reverse {
        column: &'static str,
        condition: Option<&'static str>,
    },
    /// Through a link table: `table.parent_column = parent.id AND table.target_column = target.id`.
    Through {
        table: &'static str,
        parent_column: &'static str,
        target_column: &'static str,
    },
}

/// A mask (a coarser view of a field) as an SQL expression over its source columns, so the
/// raw value never leaves the database for a role that reads only the mask.
pub type MaskSql = fn(&MaskContext<'_>) -> Sql;

/// What a mask's expression is written for: the row's alias, the day ages are counted on, the
/// database.
pub struct MaskContext<'a> {
    pub alias: &'a str,
    pub today: NaiveDate,
    pub backend: sea_orm::DbBackend,
}

#[derive(Clone, Copy, Debug)]
pub enum FieldKind {
    Column {
        column: &'static str,
        kind: Kind,
        nullable: bool,
    },
    Mask {
        /// The columns it reads (checked against the entities).
        sources: &'static [&'static str],
        kind: Kind,
        sql: MaskSql,
    },
    /// A correlated SQL expression over the row (`{t}` stands for the row's alias).
    Expression { sql: &'static str, kind: Kind },
    /// A non-null column the database keeps up to date itself (triggers, in the transaction of
    /// the writes it follows): read like a column, but never written through the API, and,
    /// like a computed value, named by no filter, sort order or row rule.
    Maintained { column: &'static str, kind: Kind },
    Relation {
        target: &'static str,
        join: Join,
        many: bool,
    },
}

#[derive(Clone, Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: FieldKind,
    pub description: &'static str,
}

impl FieldDef {
    /// The column a field reads in full, if it is a plain column.
    pub fn column(&self) -> Option<(&'static str, Kind, bool)> {
        match self.kind {
            FieldKind::Column {
                column,
                kind,
                nullable,
            } => Some((column, kind, nullable)),
            _ => None,
        }
    }
}

/// The SQL of `AuditEvent.hiddenPersonCount`: the engine renders it for the reader
/// (`Engine::person_list`), since it depends on the reader's row filter.
pub const HIDDEN_PERSONS: &str = "{hidden_persons}";

#[derive(Clone, Debug)]
pub struct TypeDef {
    pub name: &'static str,
    pub table: &'static str,
    pub description: &'static str,
    /// The column that names the person this row is about (`id` for Person itself).
    pub person_column: Option<&'static str>,
    /// The column with the row's region code, for jurisdiction filters.
    pub region_column: Option<&'static str>,
    /// A column holding a JSON list of person ids (the audit log's): a reader gets only the
    /// ids of persons it may see (the rest as a count), and may filter only by those.
    pub person_list_column: Option<&'static str>,
    /// Plural name of the root list field (`persons`), and the single lookup (`person`).
    pub list_field: &'static str,
    pub get_field: &'static str,
    pub fields: Vec<FieldDef>,
    /// Column names of the sea-orm entity, whether each may be null, and its column type.
    entity_columns: fn() -> Vec<(String, bool, sea_orm::ColumnType)>,
}

impl TypeDef {
    /// Whether the entity's `column` accepts null.
    pub fn column_nullable(&self, column: &str) -> bool {
        (self.entity_columns)()
            .iter()
            .any(|(c, nullable, _)| c == column && *nullable)
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct EnumDef {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

pub struct Catalogue {
    pub types: Vec<TypeDef>,
    pub enums: Vec<EnumDef>,
}

impl Catalogue {
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn type_def(&self, name: &str) -> &TypeDef {
        self.get(name)
            .unwrap_or_else(|| panic!("catalogue has no type {name}"))
    }

    /// Every column a field reads must exist in the sea-orm entity of its table.
    pub fn check_against_entities(&self) -> Result<(), String> {
        for t in &self.types {
            let columns: BTreeSet<String> = (t.entity_columns)()
                .into_iter()
                .map(|(c, _, _)| c)
                .collect();
            let mut needed: Vec<&str> = vec!["id"];
            needed.extend(t.person_column);
            needed.extend(t.region_column);
            for f in &t.fields {
                match f.kind {
                    FieldKind::Column { column, .. } => needed.push(column),
                    FieldKind::Mask { sources, .. } => needed.extend(sources.iter().copied()),
                    FieldKind::Maintained { column, .. } => needed.push(column),
                    FieldKind::Relation {
                        join: Join::Forward { column },
                        ..
                    } => needed.push(column),
                    FieldKind::Relation {
                        target,
                        join: Join::Reverse { column, .. },
                        ..
                    } => {
                        let target = self
                            .get(target)
                            .ok_or_else(|| format!("{}.{}: no type {target}", t.name, f.name))?;
                        if !(target.entity_columns)()
                            .iter()
                            .any(|(c, _, _)| c == column)
                        {
                            return Err(format!(
                                "{}.{}: table {} has no column {column}",
                                t.name, f.name, target.table
                            ));
                        }
                    }
                    _ => {}
                }
            }
            let entity = (t.entity_columns)();
            for f in &t.fields {
                let (column, nullable, kind) = match f.kind {
                    FieldKind::Column {
                        column,
                        nullable,
                        kind,
                    } => (column, nullable, kind),
                    FieldKind::Maintained { column, kind } => (column, false, kind),
                    _ => continue,
                };
                if columns.contains(column) && t.column_nullable(column) != nullable {
                    return Err(format!(
                        "{}.{}: nullability differs from column {}.{column}",
                        t.name, f.name, t.table
                    ));
                }
                if let Some((_, _, column_type)) = entity.iter().find(|(c, _, _)| c == column)
                    && !kind_fits(kind, column_type)
                {
                    return Err(format!(
                        "{}.{}: a {kind:?} value, but the entity stores {}.{column} as {column_type:?}",
                        t.name, f.name, t.table
                    ));
                }
            }
            for column in needed {
                if !columns.contains(column) {
                    return Err(format!(
                        "type {}: table {} has no column {column}",
                        t.name, t.table
                    ));
                }
            }
        }
        Ok(())
    }
}

fn columns_of<E: EntityTrait>() -> Vec<(String, bool, sea_orm::ColumnType)> {
    E::Column::iter()
        .map(|c| {
            let def = c.def();
            (
                c.as_str().to_owned(),
                def.is_null(),
                def.get_column_type().clone(),
            )
        })
        .collect()
}

/// Whether a value of `kind` is stored in a column of `column_type` (the Rust type of the
/// entity's field decides the column type).
fn kind_fits(kind: Kind, column_type: &sea_orm::ColumnType) -> bool {
    use sea_orm::ColumnType as C;
    match kind {
        Kind::Id
        | Kind::String
        | Kind::Region
        | Kind::Enum(_)
        | Kind::StringList
        | Kind::EnumList(_) => matches!(column_type, C::String(_) | C::Text | C::Char(_)),
        Kind::Int => matches!(column_type, C::Integer | C::SmallInteger | C::TinyInteger),
        Kind::BigInt => matches!(column_type, C::BigInteger),
        Kind::Float => matches!(column_type, C::Double | C::Float),
        Kind::Boolean => matches!(column_type, C::Boolean),
        Kind::Date => matches!(column_type, C::Date),
        Kind::DateTime => matches!(
            column_type,
            C::TimestampWithTimeZone | C::DateTime | C::Timestamp
        ),
    }
}

const fn col(name: &'static str, column: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Column {
            column,
            kind,
            nullable: false,
        },
        description: "",
    }
}

const fn opt(name: &'static str, column: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Column {
            column,
            kind,
            nullable: true,
        },
        description: "",
    }
}

const fn to_one(name: &'static str, target: &'static str, join: Join) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Relation {
            target,
            join,
            many: false,
        },
        description: "",
    }
}

const fn to_many(name: &'static str, target: &'static str, join: Join) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Relation {
            target,
            join,
            many: true,
        },
        description: "",
    }
}

const fn fwd(column: &'static str) -> Join {
    Join::Forward { column }
}

const fn rev(column: &'static str) -> Join {
    Join::Reverse {
        column,
        condition: None,
    }
}

const fn mask(
    name: &'static str,
    sources: &'static [&'static str],
    kind: Kind,
    sql: MaskSql,
    description: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Mask { sources, kind, sql },
        description,
    }
}

fn common(mut fields: Vec<FieldDef>) -> Vec<FieldDef> {
    let mut all = vec![
        col("id", "id", Kind::Id),
        col("createdAt", "created_at", Kind::DateTime),
        col("updatedAt", "updated_at", Kind::DateTime),
    ];
    all.append(&mut fields);
    all
}

pub const CHILD_AGE: i32 = 18;

/// Age in whole years on `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

pub fn age_band(age: i32) -> &'static str {
    match age {
        i32::MIN..=4 => "AGE_0_4",
        5..=11 => "AGE_5_11",
        12..=17 => "AGE_12_17",
        18..=59 => "AGE_18_59",
        _ => "AGE_60_PLUS",
    }
}

pub const AGE_BANDS: &[&str] = &[
    "AGE_0_4",
    "AGE_5_11",
    "AGE_12_17",
    "AGE_18_59",
    "AGE_60_PLUS",
];

/// The day `years` years before `today`: a person is younger than `years` on `today` exactly
/// when born after it.
pub fn years_before(today: NaiveDate, years: u32) -> NaiveDate {
    today - chrono::Months::new(years * 12)
}

/// The first character of each space-separated word, ASCII letters upper-cased, each followed
/// by a dot, joined by spaces ("Muhammad ali" → "M. A."); empty for an empty name.
fn initials(c: &MaskContext<'_>) -> Sql {
    let name = format!("{}.full_name", c.alias);
    Sql::new(match c.backend {
        sea_orm::DbBackend::Postgres => format!(
            "CASE WHEN {name} IS NULL THEN NULL ELSE COALESCE((SELECT string_agg(translate(left(w, 1), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') || '.', ' ' ORDER BY n) FROM regexp_split_to_table(btrim({name}, ' '), ' +') WITH ORDINALITY AS words(w, n) WHERE w <> ''), '') END"
        ),
        // SQLite's upper() changes ASCII letters only, as translate() above.
        _ => format!(
            "(WITH RECURSIVE words(rest, done) AS (SELECT CASE WHEN trim({name}, ' ') = '' THEN '' ELSE trim({name}, ' ') || ' ' END, '' UNION ALL SELECT ltrim(substr(rest, instr(rest, ' ') + 1), ' '), done || CASE WHEN done = '' THEN '' ELSE ' ' END || upper(substr(rest, 1, 1)) || '.' FROM words WHERE rest <> '') SELECT done FROM words WHERE rest = '')"
        ),
    })
}

fn birth_year(c: &MaskContext<'_>) -> Sql {
    Sql::new(format!(
        "CAST(SUBSTR(CAST({}.date_of_birth AS TEXT), 1, 4) AS INTEGER)",
        c.alias
    ))
}

/// The age band on `today` of a person born on `birth` (a column), null when it is.
pub fn age_band_sql(birth: &str, today: NaiveDate) -> Sql {
    // A person is younger than N on `today` iff born after today minus N years.
    let mut sql = Sql::new(format!("CASE WHEN {birth} IS NULL THEN NULL"));
    for (band, upper) in AGE_BANDS.iter().zip([5u32, 12, 18, 60]) {
        sql.push(&format!(" WHEN {birth} > "))
            .bind(years_before(today, upper))
            .push(&format!(" THEN '{band}'"));
    }
    sql.push(&format!(" ELSE '{}' END", AGE_BANDS[AGE_BANDS.len() - 1]));
    sql
}

fn age_band_mask(c: &MaskContext<'_>) -> Sql {
    age_band_sql(&format!("{}.date_of_birth", c.alias), c.today)
}

/// `condition` as a boolean that is never null (false when a column is).
fn boolean(condition: Sql) -> Sql {
    let mut sql = Sql::new("CASE WHEN ");
    sql.append(condition).push(" THEN 1=1 ELSE 1=0 END");
    sql
}

fn is_child(c: &MaskContext<'_>) -> Sql {
    let birth = format!("{}.date_of_birth", c.alias);
    let mut child = Sql::new(format!("{birth} > "));
    child.bind(years_before(c.today, CHILD_AGE as u32));
    let mut sql = Sql::new(format!("CASE WHEN {birth} IS NULL THEN NULL ELSE "));
    sql.append(boolean(child)).push(" END");
    sql
}

/// A JSON list of strings is non-empty exactly when it holds a quote.
fn has_specific_needs(c: &MaskContext<'_>) -> Sql {
    let needs = format!("{}.specific_needs", c.alias);
    let mut sql = Sql::new(format!("CASE WHEN {needs} IS NULL THEN NULL ELSE "));
    sql.append(boolean(Sql::new(format!("{needs} LIKE '%\"%'"))))
        .push(" END");
    sql
}

fn document_valid(c: &MaskContext<'_>) -> Sql {
    let mut valid = Sql::new(format!("{}.document_expiry >= ", c.alias));
    valid
        .bind(c.today)
        .push(&format!(" AND {}.file_status = 'ACTIVE'", c.alias));
    boolean(valid)
}

fn is_person_of_concern(c: &MaskContext<'_>) -> Sql {
    boolean(Sql::new(format!("{}.file_status = 'ACTIVE'", c.alias)))
}

pub static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(build);

fn build() -> Catalogue {
    use Kind::*;
    use entities::*;
    let enums = vec![
        EnumDef {
            name: "AgencyKind",
            values: &[
                "IMMIGRATION",
                "UNHCR",
                "KESBANGPOL",
                "POLICE",
                "MUNICIPALITY",
                "IOM",
            ],
        },
        EnumDef {
            name: "Sex",
            values: &["FEMALE", "MALE", "OTHER"],
        },
        EnumDef {
            name: "SpecificNeed",
            values: &[
                "CHILD_AT_RISK",
                "UNACCOMPANIED_CHILD",
                "WOMAN_AT_RISK",
                "OLDER_PERSON",
                "SINGLE_PARENT",
                "DISABILITY",
                "SERIOUS_MEDICAL_CONDITION",
                "TORTURE_SURVIVOR",
                "SGBV_SURVIVOR",
                "LEGAL_PROTECTION",
            ],
        },
        EnumDef {
            name: "AgeBand",
            values: AGE_BANDS,
        },
        EnumDef {
            name: "LegalStatus",
            values: &[
                "ASYLUM_SEEKER",
                "REFUGEE",
                "REJECTED_FIRST_INSTANCE",
                "REJECTED_FINAL",
            ],
        },
        EnumDef {
            name: "FileStatus",
            values: &["ACTIVE", "INACTIVE", "CLOSED"],
        },
        EnumDef {
            name: "Solution",
            values: &[
                "NONE",
                "RESETTLEMENT_SUBMITTED",
                "RESETTLED",
                "COMPLEMENTARY_PATHWAY",
                "VOLUNTARY_REPATRIATION",
                "DECEASED",
            ],
        },
        EnumDef {
            name: "DocumentType",
            values: &["ASYLUM_SEEKER_CERTIFICATE", "REFUGEE_CARD"],
        },
        EnumDef {
            name: "EntryMode",
            values: &["AIR", "SEA", "LAND", "UNKNOWN"],
        },
        EnumDef {
            name: "ViolationAction",
            values: &["WARNING", "DETENTION", "DEPORTATION"],
        },
        EnumDef {
            name: "ReportMethod",
            values: &["OFFICE", "FIELD_VISIT", "APP"],
        },
        EnumDef {
            name: "ShelterKind",
            values: &[
                "DETENTION_CENTRE",
                "IOM_COMMUNITY_HOUSE",
                "TEMPORARY_SHELTER",
            ],
        },
        EnumDef {
            name: "PlacementKind",
            values: &[
                "DETENTION",
                "COMMUNITY_HOUSE",
                "TEMPORARY_SHELTER",
                "INDEPENDENT",
            ],
        },
        EnumDef {
            name: "IncidentKind",
            values: &[
                "GATHERING",
                "PROTEST",
                "ENCAMPMENT",
                "NEW_ARRIVAL",
                "PUBLIC_ORDER",
                "CRIME",
                "HEALTH",
                "DEATH",
                "ABSCONDING",
            ],
        },
        EnumDef {
            name: "MeetingLevel",
            values: &["CITY", "DISTRICT", "PROVINCE"],
        },
        EnumDef {
            name: "ActionItemStatus",
            values: &["OPEN", "DONE"],
        },
        EnumDef {
            name: "ReferralPurpose",
            values: &[
                "SHELTER",
                "HEALTH",
                "CHILD_PROTECTION",
                "CIVIL_REGISTRATION",
                "DOCUMENT_VERIFICATION",
                "LOSS_REPORT",
                "PUBLIC_ORDER",
            ],
        },
        EnumDef {
            name: "ReferralStatus",
            values: &["OPEN", "ACCEPTED", "DECLINED", "CLOSED"],
        },
    ];
    let person_ref = || to_one("person", "Person", fwd("person_id"));
    let types = vec![
        TypeDef {
            name: "Agency",
            table: "agencies",
            description: "An agency of Tim PORA.",
            person_column: None,
            region_column: Some("jurisdiction"),
            person_list_column: None,
            list_field: "agencies",
            get_field: "agency",
            entity_columns: columns_of::<agency::Entity>,
            fields: common(vec![
                col("code", "code", String),
                col("kind", "kind", Enum("AgencyKind")),
                col("name", "name", String),
                col("jurisdiction", "jurisdiction", Region),
                col("validFrom", "valid_from", Date),
                opt("validTo", "valid_to", Date),
            ]),
        },
        TypeDef {
            name: "Person",
            table: "persons",
            description: "A refugee or asylum seeker.",
            person_column: Some("id"),
            region_column: Some("residence_region"),
            person_list_column: None,
            list_field: "persons",
            get_field: "person",
            entity_columns: columns_of::<person::Entity>,
            fields: common(vec![
                col("fullName", "full_name", String),
                col("aliases", "aliases", StringList),
                col("sex", "sex", Enum("Sex")),
                col("dateOfBirth", "date_of_birth", Date),
                col("nationality", "nationality", String),
                col("languages", "languages", StringList),
                opt("religion", "religion", String),
                opt("ethnicity", "ethnicity", String),
                opt("phone", "phone", String),
                col("residenceRegion", "residence_region", Region),
                opt("residenceAddress", "residence_address", String),
                to_one("case", "Case", fwd("case_id")),
                opt("relationshipToFocal", "relationship_to_focal", String),
                col("specificNeeds", "specific_needs", EnumList("SpecificNeed")),
                opt("medicalNotes", "medical_notes", String),
                opt("claimNarrative", "claim_narrative", String),
                mask(
                    "initials",
                    &["full_name"],
                    String,
                    initials,
                    "Initials of the full name (\"M. A.\").",
                ),
                mask(
                    "birthYear",
                    &["date_of_birth"],
                    Int,
                    birth_year,
                    "Year of birth.",
                ),
                mask(
                    "ageBand",
                    &["date_of_birth"],
                    Enum("AgeBand"),
                    age_band_mask,
                    "Age band today.",
                ),
                mask(
                    "isChild",
                    &["date_of_birth"],
                    Boolean,
                    is_child,
                    "Under 18 today.",
                ),
                mask(
                    "hasSpecificNeeds",
                    &["specific_needs"],
                    Boolean,
                    has_specific_needs,
                    "Whether any specific need is recorded.",
                ),
                to_one("registration", "UnhcrRegistration", rev("person_id")),
                to_one("immigrationRecord", "ImmigrationRecord", rev("person_id")),
                to_many("violations", "Violation", rev("person_id")),
                to_many("monthlyReports", "MonthlyReport", rev("person_id")),
                to_many("placements", "Placement", rev("person_id")),
                to_one(
                    "currentPlacement",
                    "Placement",
                    Join::Reverse {
                        column: "person_id",
                        condition: Some("{t}.end_date IS NULL"),
                    },
                ),
                to_many("referrals", "Referral", rev("person_id")),
                to_many(
                    "incidents",
                    "Incident",
                    Join::Through {
                        table: "incident_persons",
                        parent_column: "person_id",
                        target_column: "incident_id",
                    },
                ),
            ]),
        },
        TypeDef {
            name: "Case",
            table: "cases",
            description: "A UNHCR registration group (household).",
            person_column: None,
            region_column: None,
            person_list_column: None,
            list_field: "cases",
            get_field: "case",
            entity_columns: columns_of::<case::Entity>,
            fields: common(vec![
                col("unhcrCaseNumber", "unhcr_case_number", String),
                to_one("focalPerson", "Person", fwd("focal_person_id")),
                to_many("members", "Person", rev("case_id")),
                opt("arrivalDate", "arrival_date", Date),
                col("registrationDate", "registration_date", Date),
            ]),
        },
        TypeDef {
            name: "UnhcrRegistration",
            table: "unhcr_registrations",
            description: "A person's UNHCR registration.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "unhcrRegistrations",
            get_field: "unhcrRegistration",
            entity_columns: columns_of::<unhcr_registration::Entity>,
            fields: common(vec![
                person_ref(),
                col("individualNumber", "individual_number", String),
                col("legalStatus", "legal_status", Enum("LegalStatus")),
                col("fileStatus", "file_status", Enum("FileStatus")),
                col("solution", "solution", Enum("Solution")),
                col("documentType", "document_type", Enum("DocumentType")),
                col("documentNumber", "document_number", String),
                col("documentExpiry", "document_expiry", Date),
                mask(
                    "documentValid",
                    &["document_expiry", "file_status"],
                    Boolean,
                    document_valid,
                    "Document unexpired and file ACTIVE.",
                ),
                mask(
                    "isPersonOfConcern",
                    &["file_status"],
                    Boolean,
                    is_person_of_concern,
                    "File ACTIVE.",
                ),
            ]),
        },
        TypeDef {
            name: "ImmigrationRecord",
            table: "immigration_records",
            description: "A person's immigration record.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "immigrationRecords",
            get_field: "immigrationRecord",
            entity_columns: columns_of::<immigration_record::Entity>,
            fields: common(vec![
                person_ref(),
                opt("passportNumber", "passport_number", String),
                opt("passportCountry", "passport_country", String),
                col("entryMode", "entry_mode", Enum("EntryMode")),
                opt("visaType", "visa_type", String),
                opt("visaExpiry", "visa_expiry", Date),
                opt("specialIdCardNumber", "special_id_card_number", String),
                to_one("supervisingOffice", "Agency", fwd("supervising_office_id")),
            ]),
        },
        TypeDef {
            name: "Violation",
            table: "violations",
            description: "A recorded violation.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "violations",
            get_field: "violation",
            entity_columns: columns_of::<violation::Entity>,
            fields: common(vec![
                person_ref(),
                col("occurredOn", "occurred_on", Date),
                col("article", "article", String),
                col("action", "action", Enum("ViolationAction")),
                to_one("office", "Agency", fwd("office_id")),
            ]),
        },
        TypeDef {
            name: "MonthlyReport",
            table: "monthly_reports",
            description: "A monthly self-reporting check-in.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "monthlyReports",
            get_field: "monthlyReport",
            entity_columns: columns_of::<monthly_report::Entity>,
            fields: common(vec![
                person_ref(),
                col("period", "period", String),
                opt("reportedAt", "reported_at", DateTime),
                opt("method", "method", Enum("ReportMethod")),
                col("present", "present", Boolean),
            ]),
        },
        TypeDef {
            name: "Shelter",
            table: "shelters",
            description: "A detention centre, community house or temporary shelter.",
            person_column: None,
            region_column: Some("region"),
            person_list_column: None,
            list_field: "shelters",
            get_field: "shelter",
            entity_columns: columns_of::<shelter::Entity>,
            fields: common(vec![
                col("name", "name", String),
                col("kind", "kind", Enum("ShelterKind")),
                to_one("operator", "Agency", fwd("operator_id")),
                col("region", "region", Region),
                col("address", "address", String),
                opt("latitude", "latitude", Float),
                opt("longitude", "longitude", Float),
                col("capacity", "capacity", Int),
                // Kept by triggers on `placements` (migration 000011), not counted per read.
                FieldDef {
                    name: "occupancy",
                    kind: FieldKind::Maintained {
                        column: "occupancy",
                        kind: Int,
                    },
                    description: "Open placements in this shelter.",
                },
                to_many("placements", "Placement", rev("shelter_id")),
            ]),
        },
        TypeDef {
            name: "Placement",
            table: "placements",
            description: "Where a person lives, and on whose decision.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "placements",
            get_field: "placement",
            entity_columns: columns_of::<placement::Entity>,
            fields: common(vec![
                person_ref(),
                to_one("shelter", "Shelter", fwd("shelter_id")),
                col("kind", "kind", Enum("PlacementKind")),
                col("startDate", "start_date", Date),
                opt("endDate", "end_date", Date),
                opt("decisionRef", "decision_ref", String),
                opt("reason", "reason", String),
            ]),
        },
        TypeDef {
            name: "Incident",
            table: "incidents",
            description: "A field report.",
            person_column: None,
            region_column: Some("region"),
            person_list_column: None,
            list_field: "incidents",
            get_field: "incident",
            entity_columns: columns_of::<incident::Entity>,
            fields: common(vec![
                col("kind", "kind", Enum("IncidentKind")),
                col("occurredAt", "occurred_at", DateTime),
                col("region", "region", Region),
                opt("locationDescription", "location_description", String),
                opt("headcount", "headcount", Int),
                opt("narrative", "narrative", String),
                to_one("reportingAgency", "Agency", fwd("reporting_agency_id")),
                to_many(
                    "involvedPersons",
                    "Person",
                    Join::Through {
                        table: "incident_persons",
                        parent_column: "incident_id",
                        target_column: "person_id",
                    },
                ),
                FieldDef {
                    name: "involvedPersonCount",
                    kind: FieldKind::Expression {
                        sql: "(SELECT CAST(COUNT(*) AS INTEGER) FROM incident_persons ipc WHERE ipc.incident_id = {t}.id)",
                        kind: Int,
                    },
                    description: "How many persons the report names.",
                },
                opt("actionsTaken", "actions_taken", String),
            ]),
        },
        TypeDef {
            name: "Meeting",
            table: "meetings",
            description: "A Tim PORA coordination meeting.",
            person_column: None,
            region_column: Some("region"),
            person_list_column: None,
            list_field: "meetings",
            get_field: "meeting",
            entity_columns: columns_of::<meeting::Entity>,
            fields: common(vec![
                col("level", "level", Enum("MeetingLevel")),
                col("heldOn", "held_on", Date),
                col("venue", "venue", String),
                col("region", "region", Region),
                to_one("chairAgency", "Agency", fwd("chair_agency_id")),
                to_many(
                    "participants",
                    "Agency",
                    Join::Through {
                        table: "meeting_participants",
                        parent_column: "meeting_id",
                        target_column: "agency_id",
                    },
                ),
                opt("agenda", "agenda", String),
                opt("decisions", "decisions", String),
                opt("minutes", "minutes", String),
                to_many("actionItems", "ActionItem", rev("meeting_id")),
            ]),
        },
        TypeDef {
            name: "ActionItem",
            table: "action_items",
            description: "A task a meeting gave an agency.",
            person_column: None,
            region_column: None,
            person_list_column: None,
            list_field: "actionItems",
            get_field: "actionItem",
            entity_columns: columns_of::<action_item::Entity>,
            fields: common(vec![
                to_one("meeting", "Meeting", fwd("meeting_id")),
                to_one("agency", "Agency", fwd("agency_id")),
                col("description", "description", String),
                opt("dueOn", "due_on", Date),
                col("status", "status", Enum("ActionItemStatus")),
            ]),
        },
        TypeDef {
            name: "AccessToken",
            table: "access_tokens",
            description: "A managed access token (never its value: that is shown once, at issue).",
            person_column: None,
            region_column: None,
            person_list_column: None,
            list_field: "accessTokens",
            get_field: "accessToken",
            entity_columns: columns_of::<access_token::Entity>,
            fields: common(vec![
                col("subject", "subject", String),
                col("agency", "agency", String),
                col("role", "role", String),
                col("jurisdiction", "jurisdiction", Region),
                col("scopes", "scopes", StringList),
                opt("purpose", "purpose", String),
                opt("note", "note", String),
                opt("issuedBy", "issued_by", String),
                col("issuedAt", "issued_at", DateTime),
                col("expiresAt", "expires_at", DateTime),
                opt("revokedAt", "revoked_at", DateTime),
                opt("revokedBy", "revoked_by", String),
                opt("lastUsedAt", "last_used_at", DateTime),
            ]),
        },
        TypeDef {
            name: "AuditEvent",
            table: "audit_events",
            description: "One audited request: who saw which fields of which persons. Never the values.",
            person_column: None,
            region_column: None,
            person_list_column: Some("person_ids"),
            list_field: "auditEvents",
            get_field: "auditEvent",
            entity_columns: columns_of::<audit_event::Entity>,
            fields: vec![
                col("id", "id", Id),
                col("seq", "seq", BigInt),
                col("at", "at", String),
                col("requestId", "request_id", String),
                opt("tokenId", "token_id", String),
                opt("subject", "subject", String),
                opt("agency", "agency", String),
                opt("role", "role", String),
                opt("purpose", "purpose", String),
                opt("operationName", "operation_name", String),
                opt("queryHash", "query_hash", String),
                col("fieldsRead", "fields_read", StringList),
                col("personIds", "person_ids", StringList),
                FieldDef {
                    name: "hiddenPersonCount",
                    kind: FieldKind::Expression {
                        sql: HIDDEN_PERSONS,
                        kind: BigInt,
                    },
                    description: "Persons of the event you may not see: counted, not named.",
                },
                col("rowCount", "row_count", BigInt),
                col("outcome", "outcome", String),
                col("durationMs", "duration_ms", BigInt),
                opt("via", "via", String),
                opt("scopes", "scopes", String),
                opt("reason", "reason", String),
                opt("address", "address", String),
                opt("refusals", "refusals", BigInt),
                opt("fieldsWritten", "fields_written", StringList),
                col("prevHash", "prev_hash", String),
                col("hash", "hash", String),
            ],
        },
        TypeDef {
            name: "Referral",
            table: "referrals",
            description: "A referral of one person from one agency to another.",
            person_column: Some("person_id"),
            region_column: None,
            person_list_column: None,
            list_field: "referrals",
            get_field: "referral",
            entity_columns: columns_of::<referral::Entity>,
            fields: common(vec![
                person_ref(),
                to_one("fromAgency", "Agency", fwd("from_agency_id")),
                to_one("toAgency", "Agency", fwd("to_agency_id")),
                col("purpose", "purpose", Enum("ReferralPurpose")),
                col("consentGiven", "consent_given", Boolean),
                opt("consentDate", "consent_date", Date),
                col("status", "status", Enum("ReferralStatus")),
                opt("expiresAt", "expires_at", DateTime),
                opt("note", "note", String),
                opt("reason", "reason", String),
            ]),
        },
    ];
    Catalogue { types, enums }
}

#[cfg(test)]
mod entity_checks {
    use super::*;

    #[test]
    fn a_value_kind_that_differs_from_the_entity_stops_the_start() {
        assert_eq!(CATALOGUE.check_against_entities(), Ok(()));
        let mut types = build().types;
        let shelter = types
            .iter_mut()
            .find(|t| t.name == "Shelter")
            .expect("Shelter");
        let capacity = shelter
            .fields
            .iter_mut()
            .find(|f| f.name == "capacity")
            .expect("capacity");
        capacity.kind = FieldKind::Column {
            column: "capacity",
            kind: Kind::Date,
            nullable: false,
        };
        let wrong = Catalogue {
            types,
            enums: build().enums,
        };
        let message = wrong.check_against_entities().expect_err("must fail");
        assert!(
            message.starts_with(
                "Shelter.capacity: a Date value, but the entity stores shelters.capacity as Integer"
            ),
            "{message}"
        );
    }
}
