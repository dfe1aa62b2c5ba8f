//! Several statements of one transaction sent together. On SQLite every statement is a round
//! trip to the connection's worker thread (two thread switches), and a chat turn's writes all
//! hold the one writer connection: a [`Batch`] sends them as one multi-statement execution,
//! so the write lock is held for one round trip instead of one per statement. PostgreSQL's
//! protocol takes one statement with parameters at a time, so there the statements run one
//! after another in the same transaction.
//!
//! On SQLite a batch can also carry its own transaction ([`Batch::run_as_transaction`]):
//! `begin immediate`, the statements and `commit` in one execution, with checks
//! ([`Batch::check_previous_changed_one_row`]) that stop it (and roll it back) when a
//! conditional write found nothing to change. That makes a chat turn's writes one round trip
//! instead of three.
//!
//! On PostgreSQL a batch can run as one statement instead ([`Batch::run_as_single_statement`]):
//! every write a common table expression of one `with` query, which PostgreSQL applies
//! atomically without a `begin` and `commit` of its own, so a continuing chat turn's writes
//! are one round trip instead of five.
//!
//! Each statement is written with its own `$1, $2, ...` placeholders and a binder that binds
//! exactly that many values, in order; the batch renumbers the placeholders when it joins the
//! statements (sqlx's SQLite driver numbers `$N` across the whole execution). Binders bind
//! owned values: the joined statement text only exists while the batch runs.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Connection, Executor, Transaction};

use crate::error::{Error, Result};

/// A query with its values bound so far.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// Binds one statement's values onto a query, in placeholder order.
type Binder<'q> = Box<dyn for<'s> FnOnce(AnyQuery<'s>) -> AnyQuery<'s> + Send + 'q>;

/// Statements to run in order inside one transaction.
pub(crate) struct Batch<'q> {
    statements: Vec<(String, Binder<'q>)>,
    /// Keep SQLite's prepared statement for the next batch of the same text.
    cached: bool,
    /// The statement that must return exactly one row for the batch to apply
    /// ([`Batch::guard_last`]).
    guarded: Option<usize>,
}

impl<'q> Batch<'q> {
    /// A batch whose joined text SQLite prepares afresh each time (safe to stop half-way).
    pub(crate) fn new() -> Self {
        Self {
            statements: Vec::new(),
            cached: false,
            guarded: None,
        }
    }

    /// A batch whose prepared statement SQLite keeps for the next batch of the same text
    /// (about a third faster for the chat turn's writes). SQLite runs a multi-statement text
    /// one part after the other, and a cached copy stopped half-way would resume mid-way on
    /// its next use: only for callers whose future is never dropped while it runs (the chat
    /// turn is written by its own task). After an error the connection's statement cache is
    /// emptied.
    pub(crate) fn cached() -> Self {
        Self {
            statements: Vec::new(),
            cached: true,
            guarded: None,
        }
    }

    /// Appends `sql` (placeholders from `$1`) whose values `bind` adds.
    pub(crate) fn push(
        &mut self,
        sql: impl Into<String>,
        bind: impl for<'s> FnOnce(AnyQuery<'s>) -> AnyQuery<'s> + Send + 'q,
    ) {
        self.statements.push((sql.into(), Box::new(bind)));
    }

    /// Marks the statement just pushed, which must have a `returning` clause, as the guard of
    /// [`Batch::run_as_single_statement`]: the batch applies only when it returns one row.
    pub(crate) fn guard_last(&mut self) {
        self.guarded = self.statements.len().checked_sub(1);
    }

    /// Runs every statement in `tx` and returns the rows they return (a `returning` clause),
    /// in statement order.
    pub(crate) async fn run(self, tx: &mut Transaction<'static, Any>) -> Result<Vec<AnyRow>> {
        if !tx.backend_name().eq_ignore_ascii_case("sqlite") {
            let mut rows = Vec::new();
            for (sql, bind) in self.statements {
                rows.extend(bind(sqlx::query(&sql)).fetch_all(&mut **tx).await?);
            }
            return Ok(rows);
        }
        let cached = self.cached;
        let joined = self.joined_text("", "");
        let query = self.bind_all(&joined);
        match query.fetch_all(&mut **tx).await {
            Ok(rows) => Ok(rows),
            Err(err) => {
                forget_statements(tx, cached).await;
                Err(err.into())
            }
        }
    }

    /// Every statement as one text, placeholders renumbered, between `before` and `after`.
    fn joined_text(&self, before: &str, after: &str) -> String {
        let statements = self.join_statements(|_, sql| format!("{sql};\n"), "");
        format!("{before}{statements}{after}")
    }

    /// Every statement with its placeholders renumbered for the joined text, passed with its
    /// index through `wrap`, and joined with `separator`.
    fn join_statements(&self, wrap: impl Fn(usize, &str) -> String, separator: &str) -> String {
        let mut offset = 0;
        let mut pieces = Vec::with_capacity(self.statements.len());
        for (index, (sql, _)) in self.statements.iter().enumerate() {
            let (shifted, count) = shift_placeholders(sql, offset);
            pieces.push(wrap(index, &shifted));
            offset += count;
        }
        pieces.join(separator)
    }

    /// `joined` (from [`Batch::joined_text`]) with every statement's values bound, in order.
    fn bind_all(self, joined: &str) -> AnyQuery<'_> {
        self.statements.into_iter().fold(
            sqlx::query(joined).persistent(self.cached),
            |query, (_, bind)| bind(query),
        )
    }
}

impl Batch<'_> {
    /// PostgreSQL: runs the whole batch as one statement on `pool`, each write a common table
    /// expression (`with s0 as (...), s1 as (...) select ...`), applied atomically in one
    /// round trip. Returns false, with nothing written, when the guarded statement
    /// ([`Batch::guard_last`]) returned no row: the statement's final `select` divides by that
    /// row count, and the division by zero undoes every write. The writes must not touch one
    /// row twice (PostgreSQL applies all of them to the same snapshot).
    pub(crate) async fn run_as_single_statement(self, pool: &sqlx::AnyPool) -> Result<bool> {
        let guarded = self
            .guarded
            .ok_or_else(|| Error::internal("a single-statement batch needs a guarded statement"))?;
        let writes = self.join_statements(|index, sql| format!("s{index} as ({sql})"), ",\n");
        let joined = format!(
            "with {writes}\nselect 1 / (select count(*)::integer from s{guarded}) as applied"
        );
        let query = self
            .statements
            .into_iter()
            .fold(sqlx::query(&joined), |query, (_, bind)| bind(query));
        match query.execute(pool).await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_database_error()
                    .and_then(|db| db.code())
                    .is_some_and(|code| code == DIVISION_BY_ZERO) =>
            {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// PostgreSQL's SQLSTATE for a division by zero: how [`Batch::run_as_single_statement`]
/// learns that its guard found no row.
const DIVISION_BY_ZERO: &str = "22012";

/// After a failed execution of a cached batch, empties the connection's statement cache: a
/// multi-statement text stopped half-way would resume mid-way on its next use.
async fn forget_statements(connection: &mut sqlx::AnyConnection, cached: bool) {
    if cached {
        if let Err(clear) = connection.clear_cached_statements().await {
            tracing::warn!(error = %clear, "emptying the statement cache failed");
        }
    }
}

/// The per-connection table the checks of [`Batch::check_previous_changed_one_row`] write to;
/// created on every SQLite connection when it opens ([`super::sqlite_pool`]). Its constraint
/// is what fails a batch whose conditional write found nothing.
pub(crate) const CREATE_CHECK_TABLE: &str = "create temp table if not exists batch_check (\
     id integer primary key, \
     changed integer not null constraint previous_statement_changed_one_row check (changed = 1))";

/// The constraint whose failure means a check failed, not the database.
const CHECK_CONSTRAINT: &str = "previous_statement_changed_one_row";

/// Why [`Batch::run_as_transaction`] wrote nothing.
#[derive(Debug)]
pub(crate) enum BatchFailure {
    /// A check found that the statement before it changed no row (or several).
    CheckFailed,
    /// The database failed.
    Error(Error),
}

impl Batch<'_> {
    /// Appends a check that the statement before it changed exactly one row; when it did not,
    /// [`Batch::run_as_transaction`] stops there and rolls everything back. SQLite only.
    pub(crate) fn check_previous_changed_one_row(&mut self) {
        self.push(
            "insert or replace into temp.batch_check (id, changed) values (1, changes())",
            |query| query,
        );
    }

    /// SQLite: runs `begin immediate`, every statement and `commit` as one execution on
    /// `connection` (the writer). On any failure the transaction is rolled back (and a
    /// connection that cannot roll back is closed rather than handed back mid-transaction).
    pub(crate) async fn run_as_transaction(
        self,
        connection: &mut PoolConnection<Any>,
    ) -> std::result::Result<Vec<AnyRow>, BatchFailure> {
        let cached = self.cached;
        let joined = self.joined_text("begin immediate;\n", "commit;\n");
        let query = self.bind_all(&joined);
        let err = match query.fetch_all(&mut **connection).await {
            Ok(rows) => return Ok(rows),
            Err(err) => err,
        };
        // A failure in `begin` leaves no transaction to roll back: that error is ignored.
        if let Err(rollback) = (&mut **connection).execute("rollback").await {
            if !rollback.to_string().contains("no transaction is active") {
                tracing::warn!(error = %rollback, "rolling back a failed batch failed; closing its connection");
                connection.close_on_drop();
            }
        }
        forget_statements(connection, cached).await;
        let check_failed = err
            .as_database_error()
            .is_some_and(|db| db.message().contains(CHECK_CONSTRAINT));
        if check_failed {
            Err(BatchFailure::CheckFailed)
        } else {
            Err(BatchFailure::Error(err.into()))
        }
    }
}

/// `sql` with every `$N` outside quoted text turned into `$N+offset`, and the highest `N`
/// (how many values the statement binds).
fn shift_placeholders(sql: &str, offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0;
    let mut in_quotes = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '\'' {
            in_quotes = !in_quotes;
        }
        if c != '$' || in_quotes {
            out.push(c);
            continue;
        }
        let mut number = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            number.push(*d);
            chars.next();
        }
        match number.parse::<usize>() {
            Ok(n) => {
                highest = highest.max(n);
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push('$'),
        }
    }
    (out, highest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_and_counted_but_quoted_text_is_kept() {
        let (sql, count) = shift_placeholders("update t set a = $2, b = '$1' where c = $10", 5);
        assert_eq!(sql, "update t set a = $7, b = '$1' where c = $15");
        assert_eq!(count, 10);
        let (sql, count) = shift_placeholders("select 1", 3);
        assert_eq!((sql.as_str(), count), ("select 1", 0));
    }

    /// A SQLite store in a temporary folder (keep the folder alive) with an empty table `t`.
    async fn store_with_table() -> (crate::store::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::connect(&format!("sqlite://{}/b.db", dir.path().display()))
                .await
                .unwrap();
        sqlx::query("create table t (id bigint primary key, name text)")
            .execute(store.writer())
            .await
            .unwrap();
        (store, dir)
    }

    #[tokio::test]
    async fn a_batch_runs_its_statements_in_order_with_their_own_values() {
        let (store, _dir) = store_with_table().await;
        let mut tx = store.begin().await.unwrap();
        let mut batch = Batch::new();
        batch.push("insert into t (id, name) values ($1, $2)", |q| {
            q.bind(1_i64).bind("one")
        });
        batch.push("insert into t (id, name) values ($1, $2)", |q| {
            q.bind(2_i64).bind("two")
        });
        batch.push("update t set name = $2 where id = $1 returning id", |q| {
            q.bind(2_i64).bind("deux")
        });
        let rows = batch.run(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows.len(), 1, "only the update returns a row");
        let names: Vec<(i64, String)> = sqlx::query_as("select id, name from t order by id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(names, vec![(1, "one".into()), (2, "deux".into())]);
    }

    #[tokio::test]
    async fn a_batch_with_its_own_transaction_commits_or_leaves_nothing() {
        let (store, _dir) = store_with_table().await;
        sqlx::query("insert into t (id, name) values (1, 'one')")
            .execute(store.writer())
            .await
            .unwrap();
        // Renames row `id` to `name` when it exists, then adds row 10 + id.
        let rename = |id: i64, name: &'static str| {
            let mut batch = Batch::cached();
            batch.push("update t set name = $2 where id = $1", move |q| {
                q.bind(id).bind(name)
            });
            batch.check_previous_changed_one_row();
            batch.push("insert into t (id, name) values ($1, $2)", move |q| {
                q.bind(10 + id).bind(name)
            });
            batch
        };
        let names = || async {
            sqlx::query_as::<_, (i64, String)>("select id, name from t order by id")
                .fetch_all(store.pool())
                .await
                .unwrap()
        };
        let mut connection = store.writer().acquire().await.unwrap();
        assert!(rename(1, "uno")
            .run_as_transaction(&mut connection)
            .await
            .is_ok());
        assert_eq!(names().await, [(1, "uno".into()), (11, "uno".into())]);

        // Row 2 does not exist: the check stops the batch and nothing of it stays.
        let Err(failure) = rename(2, "dos").run_as_transaction(&mut connection).await else {
            panic!("a check that fails must stop the batch");
        };
        assert!(matches!(failure, BatchFailure::CheckFailed), "{failure:?}");
        assert_eq!(names().await.len(), 2);

        // The connection is out of the failed transaction: the same batch runs again.
        // Row 11 exists: a database error, rolled back too.
        let Err(failure) = rename(1, "eins").run_as_transaction(&mut connection).await else {
            panic!("a duplicate key must stop the batch");
        };
        assert!(matches!(failure, BatchFailure::Error(_)), "{failure:?}");
        assert_eq!(names().await, [(1, "uno".into()), (11, "uno".into())]);
        drop(connection);
        sqlx::query("insert into t (id, name) values (3, 'tres')")
            .execute(store.writer())
            .await
            .unwrap();
        assert_eq!(names().await.len(), 3);
    }
}
