//! A small SQL fragment builder: text plus bound values, rendered for the connected backend.
//!
//! Identifiers in fragments come only from the compiled catalogue (static strings); every value
//! that a caller or a token supplies is bound as a parameter, never spliced into the text.

use sea_orm::{DbBackend, Statement, Value};

/// SQL text with `?` placeholders and the values bound to them, in order.
#[derive(Clone, Debug, Default)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(text: impl AsRef<str>) -> Self {
        Sql {
            text: text.as_ref().to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends literal SQL text (never caller input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.values.push(value.into());
        self
    }

    /// Appends another fragment, with its values.
    pub fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.values.extend(other.values);
        self
    }

    /// `(a) AND (b) AND …`; an empty list is `1=1`.
    pub fn and(parts: Vec<Sql>) -> Sql {
        Self::join(parts, " AND ", "1=1")
    }

    /// `(a) OR (b) OR …`; an empty list is `1=0`.
    pub fn or(parts: Vec<Sql>) -> Sql {
        Self::join(parts, " OR ", "1=0")
    }

    fn join(parts: Vec<Sql>, separator: &str, empty: &str) -> Sql {
        if parts.is_empty() {
            return Sql::new(empty);
        }
        // The whole is parenthesised too, so it composes safely inside any other condition.
        let mut out = Sql::new("(");
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                out.push(separator);
            }
            out.push("(").append(part).push(")");
        }
        out.push(")");
        out
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The statement for `backend`: PostgreSQL numbers its placeholders (`$1`, `$2`, …).
    /// Why the database could not take these values, if it could not: a NUL in a text (which
    /// PostgreSQL refuses, failing the statement) or more values than a statement may bind.
    pub fn unstorable(&self) -> Option<&'static str> {
        /// Below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
        const MAX_VALUES: usize = 30_000;
        if self.values.len() > MAX_VALUES {
            return Some("the request binds too many values into one statement");
        }
        self.values
            .iter()
            .any(|v| matches!(v, Value::String(Some(s)) if s.contains('\0')))
            .then_some("a text value holds a NUL character, which cannot be stored or compared")
    }

    /// The statement, unless its values are `unstorable` (then the caller's `BAD_USER_INPUT`).
    pub fn checked_statement(
        self,
        backend: DbBackend,
    ) -> Result<Statement, crate::error::QueryError> {
        match self.unstorable() {
            Some(reason) => Err(crate::error::QueryError::BadInput(reason.to_owned())),
            None => Ok(self.statement(backend)),
        }
    }

    pub fn statement(self, backend: DbBackend) -> Statement {
        let text = match backend {
            DbBackend::Postgres => {
                let mut out = String::with_capacity(self.text.len() + 8);
                let mut n = 0;
                for ch in self.text.chars() {
                    if ch == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
            _ => self.text,
        };
        Statement::from_sql_and_values(backend, text, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn combined_conditions_keep_their_meaning_inside_others() {
        let mut outer = Sql::new("a AND ");
        outer.append(Sql::or(vec![Sql::new("b"), Sql::new("c")]));
        assert_eq!(outer.text(), "a AND ((b) OR (c))");
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let mut sql = Sql::new("x = ");
        sql.bind(1).push(" AND y = ").bind("s");
        let stmt = sql.statement(sea_orm::DbBackend::Postgres);
        assert_eq!(stmt.sql, "x = $1 AND y = $2");
    }
}

/// Hands out table aliases that are unique within one statement, so nested subqueries never
/// shadow the alias an outer condition refers to.
#[derive(Debug, Default)]
pub struct Aliases(std::cell::Cell<u32>);

impl Aliases {
    pub fn next(&self, stem: &str) -> String {
        let n = self.0.get() + 1;
        self.0.set(n);
        format!("{stem}{n}")
    }
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads before it writes cannot upgrade its
/// lock while another writer holds it and fails at once ("database is locked"), where an
/// immediate one waits its turn (the busy timeout). PostgreSQL begins as usual.
pub async fn begin_write<C: sea_orm::TransactionTrait>(
    db: &C,
) -> Result<C::Transaction, sea_orm::DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
