//! The two databases behind one type. The SQL is written once, in the subset SQLite and
//! PostgreSQL share (`$1` placeholders, `ON CONFLICT … DO UPDATE`, `BIGINT`, `DOUBLE
//! PRECISION`, explicit `CAST`s where PostgreSQL would answer `numeric`); [`Db`] runs it on
//! either: rusqlite for the store's SQLite file, the synchronous `postgres` client for a
//! team's server. Values cross the boundary as [`Value`], so callers never see either
//! driver's types.

use std::error::Error as StdError;
use std::fmt;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// One SQL value, as both databases store it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `[Value]` from a list of expressions of any convertible types.
macro_rules! values {
    ($($v:expr),* $(,)?) => { [$($crate::db::Value::from($v)),*] };
}
pub(crate) use values;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT8 => v.to_sql(ty, out),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Value::Real(v) if *ty == Type::FLOAT8 => v.to_sql(ty, out),
            Value::Text(v) if *ty == Type::TEXT || *ty == Type::VARCHAR => v.to_sql(ty, out),
            other => Err(format!("cannot store {other:?} in a column of type {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
        }))
    }
}

/// A driver's error, or a value of a type cairn does not read.
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    Type(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "{e}"),
            // The server's own message says what went wrong; the driver's Display says only
            // "db error".
            DbError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                None => {
                    write!(f, "{e}")?;
                    let mut source = e.source();
                    while let Some(s) = source {
                        write!(f, ": {s}")?;
                        source = s.source();
                    }
                    Ok(())
                }
            },
            DbError::Type(message) => f.write_str(message),
        }
    }
}

impl StdError for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Postgres(e)
    }
}

pub(crate) type DbResult<T> = Result<T, DbError>;

/// An open connection to either database.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// SQLite numbers `?N`; PostgreSQL and the shared SQL use `$N`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sqlite_value(v: rusqlite::types::Value) -> DbResult<Value> {
    use rusqlite::types::Value as V;
    Ok(match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::Int(i),
        V::Real(r) => Value::Real(r),
        V::Text(t) => Value::Text(t),
        V::Blob(_) => return Err(DbError::Type("a blob column: cairn stores none".into())),
    })
}

fn postgres_value(row: &postgres::Row, i: usize) -> DbResult<Value> {
    let ty = row.columns()[i].type_();
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.into()
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?.map(i64::from).into()
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)?.into()
    } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
        row.try_get::<_, Option<String>>(i)?.into()
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?.into()
    } else {
        return Err(DbError::Type(format!(
            "column `{}` has type {ty}, which cairn does not read",
            row.columns()[i].name()
        )));
    };
    Ok(value)
}

impl Db {
    /// Runs one statement; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(&sqlite_sql(sql))?;
                Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
            }
            Db::Postgres(client) => Ok(client.execute(sql, &pg_params(params))?),
        }
    }

    /// Runs one query; its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Vec<Value>>> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(&sqlite_sql(sql))?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut cells = Vec::with_capacity(columns);
                    for i in 0..columns {
                        cells.push(sqlite_value(row.get(i)?)?);
                    }
                    out.push(cells);
                }
                Ok(out)
            }
            Db::Postgres(client) => {
                let rows = client.query(sql, &pg_params(params))?;
                rows.iter()
                    .map(|row| (0..row.len()).map(|i| postgres_value(row, i)).collect())
                    .collect()
            }
        }
    }

    /// Runs statements separated by `;`, without parameters.
    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        match self {
            Db::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Db::Postgres(client) => Ok(client.batch_execute(sql)?),
        }
    }

    /// Begins a transaction that holds the database's write lock from its first statement
    /// (SQLite's `BEGIN IMMEDIATE`; an advisory lock on PostgreSQL), for migrations.
    pub fn begin_exclusive(&mut self) -> DbResult<()> {
        match self {
            Db::Sqlite(_) => self.batch("BEGIN IMMEDIATE"),
            // Any fixed key: every cairn migrating this database takes the same one.
            Db::Postgres(_) => self.batch("BEGIN; SELECT pg_advisory_xact_lock(4717283906)"),
        }
    }

    /// Runs `f` in a transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn transaction<T>(
        &mut self,
        exclusive: bool,
        f: impl FnOnce(&mut Db) -> DbResult<T>,
    ) -> DbResult<T> {
        if exclusive {
            self.begin_exclusive()?;
        } else {
            self.batch("BEGIN")?;
        }
        match f(self) {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                // The error that stopped the work is the one to report.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The text type of a schema's columns: PostgreSQL compares bytes (`C` collation), as
    /// SQLite does, so both order names and hashes alike whatever the server's locale.
    pub fn text_type(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "TEXT",
            Db::Postgres(_) => "TEXT COLLATE \"C\"",
        }
    }
}

fn pg_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// A database URL or connection string with every password replaced by `***`, for
/// messages: the userinfo's (`postgres://user:secret@host`), a `password=` parameter of a
/// query string (`?password=secret&…`) and of a `key=value` connection string (`host=h
/// password=secret`, quoted or not).
pub(crate) fn redact(url: &str) -> String {
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
                    None => url.to_string(),
                },
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    mask_parameter(&masked, "password")
}

/// Every `key=value` in `text` whose key is `key` (any case, after the start, `?`, `&`,
/// `;` or white space) with its value replaced by `***`.
fn mask_parameter(text: &str, key: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let pattern = format!("{key}=");
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&pattern) {
        let start = at + found;
        let boundary = start == 0
            || matches!(
                text.as_bytes()[start - 1],
                b'?' | b'&' | b';' | b' ' | b'\t'
            );
        let value = start + pattern.len();
        out.push_str(&text[at..value]);
        if !boundary {
            at = value;
            continue;
        }
        let rest = &text[value..];
        let len = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(rest.len(), |end| end + 2),
            None => rest.find(['&', ' ', ';', '\t']).unwrap_or(rest.len()),
        };
        out.push_str("***");
        at = value + len;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://cairn:s3cret@db.example:5432/track"),
            "postgres://cairn:***@db.example:5432/track"
        );
        assert_eq!(
            redact("postgres://cairn@127.0.0.1:5433/t"),
            "postgres://cairn@127.0.0.1:5433/t"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("postgres://cairn@h/db?sslmode=disable&password=s3cret&x=1"),
            "postgres://cairn@h/db?sslmode=disable&password=***&x=1"
        );
        assert_eq!(
            redact("postgres://cairn@h?PASSWORD=s3cret"),
            "postgres://cairn@h?PASSWORD=***"
        );
        assert_eq!(
            redact("host=h user=cairn password=s3cret dbname=track"),
            "host=h user=cairn password=*** dbname=track"
        );
        assert_eq!(
            redact("host=h password='s3 cret' dbname=t"),
            "host=h password=*** dbname=t"
        );
        assert_eq!(redact("host=h mypassword=x"), "host=h mypassword=x");
    }

    #[test]
    fn sqlite_runs_the_shared_sql() {
        let mut db = Db::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.batch("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION)")
            .unwrap();
        let insert = "INSERT INTO t (k, n, x) VALUES ($1, $2, $3)
                      ON CONFLICT (k) DO UPDATE SET n = excluded.n, x = excluded.x";
        db.execute(insert, &values!["a", 1_i64, None::<f64>])
            .unwrap();
        db.execute(insert, &values!["a", 2_i64, 0.5]).unwrap();
        let rows = db
            .query(
                "SELECT k, CAST(SUM(n) AS BIGINT), CAST(AVG(x) AS DOUBLE PRECISION) FROM t WHERE k = $1 GROUP BY k",
                &values!["a"],
            )
            .unwrap();
        assert_eq!(
            rows,
            vec![vec![
                Value::Text("a".into()),
                Value::Int(2),
                Value::Real(0.5)
            ]]
        );
    }
}
