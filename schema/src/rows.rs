//! Row conditions: the SQL that decides which rows of a type a session may see.
//!
//! The policy gives one row rule per (role, type) (`rules::Rule`); `Conditions::rows` renders
//! it over the row's alias, with the session's values bound as parameters. Every query on that
//! type, nested relations, counts and statistics included, carries it: nothing is filtered
//! after fetching. The same renderer serves SQLite and PostgreSQL.

use chrono::Utc;

use crate::catalogue::{CATALOGUE, Join};
use crate::policy::RoleView;
use crate::rules::{Rule, operand_value};
use crate::session::Session;
use crate::sql::{Aliases, Sql};

/// Builds row conditions for one session.
pub struct Conditions<'a> {
    pub role: &'a RoleView,
    pub session: &'a Session,
    pub aliases: Aliases,
    /// The query visits every row (a count, statistics) rather than a page or a lookup: some
    /// filters then take a form that PostgreSQL evaluates once for the whole set.
    pub whole_set: bool,
}

impl<'a> Conditions<'a> {
    pub fn new(role: &'a RoleView, session: &'a Session) -> Self {
        Conditions {
            role,
            session,
            aliases: Aliases::default(),
            whole_set: false,
        }
    }

    /// These conditions, for a query that visits every row.
    pub fn for_whole_set(mut self) -> Self {
        self.whole_set = true;
        self
    }

    /// The condition on rows of `type_name` (aliased `alias`) that the session may see.
    /// A type the role does not have yields a condition that is always false.
    pub fn rows(&self, type_name: &str, alias: &str) -> Sql {
        match self.role.types.get(type_name) {
            Some(view) => self.rule(&view.rows, alias),
            None => Sql::new("1=0"),
        }
    }

    /// `rows`, for rows whose `column` references a row of `parent` known to be visible
    /// (`Rule::given_visible`): a folded relation joined to its parent's row.
    pub fn rows_under(&self, type_name: &str, alias: &str, column: &str, parent: &str) -> Sql {
        match self.role.types.get(type_name) {
            Some(view) => self.rule(&view.rows.given_visible(column, parent), alias),
            None => Sql::new("1=0"),
        }
    }

    /// `rule` over the row aliased `alias`.
    fn rule(&self, rule: &Rule, alias: &str) -> Sql {
        match rule {
            Rule::True => Sql::new("1=1"),
            Rule::False => Sql::new("1=0"),
            Rule::And(rules) => Sql::and(rules.iter().map(|r| self.rule(r, alias)).collect()),
            Rule::Or(rules) if !self.whole_set && rules.iter().any(Rule::reads_relation) => {
                // A page or a lookup: one EXISTS over a UNION ALL of the branches stays a probe
                // per row, where `a OR EXISTS (…)` lets PostgreSQL hash the whole related table
                // first (57 ms against 1 ms for a page of IOM's at 100,000 persons).
                let mut sql = Sql::new("EXISTS (");
                for (i, branch) in rules.iter().enumerate() {
                    if i > 0 {
                        sql.push(" UNION ALL ");
                    }
                    sql.append(self.branch(branch, alias));
                }
                sql.push(")");
                sql
            }
            // Visiting every row (a count, statistics): `OR` of EXISTS, which PostgreSQL turns
            // into hashed sets built once.
            Rule::Or(rules) => Sql::or(rules.iter().map(|r| self.rule(r, alias)).collect()),
            Rule::Not(rule) => {
                let mut sql = Sql::new("NOT (");
                sql.append(self.rule(rule, alias)).push(")");
                sql
            }
            Rule::Column {
                column, kind, ops, ..
            } => {
                let mut object = async_graphql::indexmap::IndexMap::new();
                for (op, operand) in ops {
                    object.insert(
                        async_graphql::Name::new(*op),
                        operand_value(operand, self.session),
                    );
                }
                // Checked when the policy compiled; should it fail, no row rather than all.
                crate::condition::column_condition(
                    &format!("{alias}.{column}"),
                    *kind,
                    &async_graphql::Value::Object(object),
                )
                .unwrap_or_else(|_| Sql::new("1=0"))
            }
            Rule::Related { .. } => {
                let mut sql = Sql::new("EXISTS (");
                sql.append(self.branch(rule, alias)).push(")");
                sql
            }
            Rule::Visible { type_name } => self.rows(type_name, alias),
        }
    }

    /// `SELECT 1 …` that yields a row when `rule` holds: over the related table for a
    /// relation, over no table otherwise.
    fn branch(&self, rule: &Rule, alias: &str) -> Sql {
        let Rule::Related {
            target, join, rule, ..
        } = rule
        else {
            let mut sql = Sql::new("SELECT 1 WHERE ");
            sql.append(self.rule(rule, alias));
            return sql;
        };
        let table = CATALOGUE.type_def(target).table;
        let x = self.aliases.next("r");
        let (from, on) = match (join, rule.as_ref()) {
            // Only that a link exists: the link table alone answers.
            (
                Join::Through {
                    table,
                    parent_column,
                    ..
                },
                Rule::True,
            ) => (
                format!("{table} {x}"),
                format!("{x}.{parent_column} = {alias}.id"),
            ),
            _ => {
                let link = self.aliases.next("l");
                crate::rules::join_sql(*join, table, alias, &x, &link)
            }
        };
        let mut sql = Sql::new(format!("SELECT 1 FROM {from} WHERE {on}"));
        if !matches!(rule.as_ref(), Rule::True) {
            sql.push(" AND ").append(self.rule(rule, &x));
        }
        sql
    }

    /// `column` holds a region code within the session's jurisdiction.
    pub fn in_jurisdiction(&self, column: &str) -> Sql {
        let mut sql = Sql::new(format!("({column} = "));
        sql.bind(self.session.jurisdiction.clone())
            .push(&format!(" OR {column} LIKE "))
            .bind(format!("{}.%", self.session.jurisdiction))
            .push(")");
        sql
    }

    /// `person_id` (an SQL expression) has an accepted, unexpired referral to the caller's agency.
    pub fn referred(&self, person_id: &str) -> Sql {
        let mut sql = Sql::new("EXISTS (");
        sql.append(self.referral_rows(person_id)).push(")");
        sql
    }

    /// `SELECT 1` for each accepted, unexpired referral of `person_id` to the caller's agency.
    fn referral_rows(&self, person_id: &str) -> Sql {
        let rf = self.aliases.next("rf");
        let mut sql = Sql::new(format!(
            "SELECT 1 FROM referrals {rf} WHERE {rf}.person_id = {person_id} \
             AND {rf}.status = 'ACCEPTED' AND ({rf}.expires_at IS NULL OR {rf}.expires_at > "
        ));
        sql.bind(Utc::now())
            .push(") AND ")
            .append(self.own_agency(&format!("{rf}.to_agency_id")));
        sql
    }

    /// `agency_id` (an SQL expression) is the caller's agency.
    pub fn own_agency(&self, agency_id: &str) -> Sql {
        let ag = self.aliases.next("ag");
        let mut sql = Sql::new(format!(
            "{agency_id} IN (SELECT {ag}.id FROM agencies {ag} WHERE {ag}.code = "
        ));
        sql.bind(self.session.agency.clone()).push(")");
        sql
    }

    /// `person_id` (an SQL expression) names a person the role may see.
    pub fn visible_persons(&self, person_id: &str) -> Sql {
        let p = self.aliases.next("p");
        let mut sql = Sql::new(format!(
            "{person_id} IN (SELECT {p}.id FROM persons {p} WHERE "
        ));
        sql.append(self.rows("Person", &p)).push(")");
        sql
    }
}
