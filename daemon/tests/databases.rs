//! `Databases` against real servers: a PostgreSQL primary with a streaming replica and
//! Redis with Sentinels (see `firedrill_tests::servers`), including failovers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use firedrill::adapters::databases::{Databases, Timeouts};
use firedrill_core::config::Connection;
use firedrill_core::config::{ConnectionKind, Sentinel};
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::postgres::{Postgres, Value};
use firedrill_host::capabilities::redis::{Redis, Reply, ReplyItem};
use firedrill_tests::servers::{PostgresPair, RedisSentinel, Replication};

/// The WIT types have no `PartialEq`: compare their debug forms.
macro_rules! assert_debug_eq {
    ($left:expr, $right:expr $(, $($arg:tt)+)?) => {
        assert_eq!(format!("{:?}", $left), format!("{:?}", $right) $(, $($arg)+)?)
    };
}

fn connection(kind: ConnectionKind, url: String, sentinel: Option<Sentinel>) -> Connection {
    Connection {
        kind,
        url,
        password: None,
        sentinel,
    }
}

fn databases(connections: Vec<(&str, Connection)>) -> Databases {
    let connections: BTreeMap<String, Connection> = connections
        .into_iter()
        .map(|(name, connection)| (name.to_string(), connection))
        .collect();
    Databases::new(&connections, Timeouts::default()).unwrap()
}

fn postgres_databases(pair: &PostgresPair) -> Databases {
    databases(vec![
        (
            "primary",
            connection(ConnectionKind::Postgres, pair.primary_url(), None),
        ),
        (
            "replica",
            connection(ConnectionKind::Postgres, pair.replica_url(), None),
        ),
    ])
}

/// The single value of a one-row, one-column query.
async fn scalar(db: &Databases, connection: &str, sql: &str) -> Value {
    let rows = db.query(connection, sql, &[]).await.unwrap();
    assert_debug_eq!(rows.rows.len(), 1, "{sql}: {rows:?}");
    rows.rows[0][0].clone()
}

/// Retries `call` every 200 ms until it succeeds, panicking after `limit`.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BackendError>>,
{
    let start = Instant::now();
    loop {
        match call().await {
            Ok(value) => return value,
            Err(error) if start.elapsed() < limit => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("timed out after {limit:?} waiting for {what}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_statements_bind_parameters_and_return_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let pair = PostgresPair::start(dir.path(), Replication::Async);
    let db = postgres_databases(&pair);

    let created = db
        .execute(
            "primary",
            "CREATE TABLE orders (id int PRIMARY KEY, customer text, total float8, \
             paid bool, receipt bytea, note varchar(20), amount numeric(10,2), \
             ref uuid DEFAULT '6ba7b810-9dad-11d1-80b4-00c04fd430c8', at timestamptz DEFAULT now())",
            &[],
        )
        .await
        .unwrap();
    assert_debug_eq!(created, 0);
    let inserted = db
        .execute(
            "primary",
            "INSERT INTO orders (id, customer, total, paid, receipt, note, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, 12345.6), ($1 + 1, 'bob', 1.5, false, NULL, NULL, -0.05)",
            &[
                Value::Int(1),
                Value::Text("alice".into()),
                Value::Float(9.75),
                Value::Boolean(true),
                Value::Bytes(vec![0, 1, 255]),
                Value::Null,
            ],
        )
        .await
        .unwrap();
    assert_debug_eq!(inserted, 2);

    let rows = db
        .query(
            "primary",
            "SELECT id, customer, total, paid, receipt, note, amount, ref, \
             id::int2 AS small, id::int8 AS big, total::float4 AS single \
             FROM orders WHERE id = $1",
            &[Value::Int(1)],
        )
        .await
        .unwrap();
    assert_debug_eq!(
        rows.columns,
        [
            "id", "customer", "total", "paid", "receipt", "note", "amount", "ref", "small", "big",
            "single"
        ]
    );
    assert_debug_eq!(
        rows.rows,
        vec![vec![
            Value::Int(1),
            Value::Text("alice".into()),
            Value::Float(9.75),
            Value::Boolean(true),
            Value::Bytes(vec![0, 1, 255]),
            Value::Null,
            Value::Text("12345.60".into()),
            Value::Text("6ba7b810-9dad-11d1-80b4-00c04fd430c8".into()),
            Value::Int(1),
            Value::Int(1),
            Value::Float(9.75),
        ]]
    );

    // A text parameter against an int column needs a cast in the statement.
    let by_text = db
        .query(
            "primary",
            "SELECT customer FROM orders WHERE id = $1::int",
            &[Value::Text("2".into())],
        )
        .await
        .unwrap();
    assert_debug_eq!(by_text.rows, vec![vec![Value::Text("bob".into())]]);
    let uncast = db
        .query(
            "primary",
            "SELECT customer FROM orders WHERE id = $1",
            &[Value::Text("2".into())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&uncast, BackendError::Refused(m) if m.contains("SQLSTATE 42883")),
        "{uncast:?}"
    );
    // A null parameter takes the type the statement gives it.
    let null_param = db
        .query(
            "primary",
            "SELECT count(*) FROM orders WHERE note IS NOT DISTINCT FROM $1",
            &[Value::Null],
        )
        .await
        .unwrap();
    assert_debug_eq!(null_param.rows, vec![vec![Value::Int(2)]]);

    // What the drills ask.
    assert_debug_eq!(
        scalar(&db, "primary", "SELECT pg_is_in_recovery()").await,
        Value::Boolean(false)
    );
    assert_debug_eq!(
        scalar(&db, "primary", "SELECT count(*) FROM orders").await,
        Value::Int(2)
    );
    let Value::Int(txid) = scalar(&db, "primary", "SELECT txid_current()").await else {
        panic!("txid_current is not an int");
    };
    assert!(txid > 0);
    let Value::Text(now) = scalar(&db, "primary", "SELECT now()").await else {
        panic!("now() is not text");
    };
    assert!(
        chrono::DateTime::parse_from_rfc3339(&now).is_ok(),
        "now() = {now:?}"
    );
    let Value::Text(at) = scalar(&db, "primary", "SELECT at FROM orders WHERE id = 1").await else {
        panic!("a timestamptz column is not text");
    };
    assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{at:?}");
    assert_debug_eq!(
        scalar(&db, "primary", "SELECT '2026-03-29 02:30:00'::timestamp").await,
        Value::Text("2026-03-29 02:30:00".into())
    );
    assert_debug_eq!(
        scalar(&db, "primary", "SELECT '2026-03-29'::date").await,
        Value::Text("2026-03-29".into())
    );
    let Value::Text(lsn) = scalar(&db, "primary", "SELECT pg_current_wal_lsn()").await else {
        panic!("an LSN is not text");
    };
    assert_debug_eq!(
        pair.psql_ok(pair.primary_port, &format!("SELECT '{lsn}'::pg_lsn::text")),
        lsn
    );
    assert_debug_eq!(
        scalar(&db, "primary", "SELECT amount FROM orders WHERE id = 2").await,
        Value::Text("-0.05".into())
    );
    let empty = db
        .query("primary", "SELECT id FROM orders WHERE id < 0", &[])
        .await
        .unwrap();
    assert_debug_eq!(empty.columns, ["id"]);
    assert!(empty.rows.is_empty());

    // Errors.
    let duplicate = db
        .execute(
            "primary",
            "INSERT INTO orders (id) VALUES ($1)",
            &[Value::Int(1)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&duplicate, BackendError::Refused(m) if m.contains("SQLSTATE 23505")),
        "{duplicate:?}"
    );
    let missing = db.query("nowhere", "SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");
    // The connection is still usable after refused statements.
    assert_debug_eq!(scalar(&db, "primary", "SELECT 1").await, Value::Int(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_refuses_writes_until_promoted_after_the_primary_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = PostgresPair::start(dir.path(), Replication::Sync);
    let db = postgres_databases(&pair);

    db.execute("primary", "CREATE TABLE canary (id int8)", &[])
        .await
        .unwrap();
    db.execute(
        "primary",
        "INSERT INTO canary VALUES ($1)",
        &[Value::Int(42)],
    )
    .await
    .unwrap();
    assert_debug_eq!(
        scalar(&db, "replica", "SELECT pg_is_in_recovery()").await,
        Value::Boolean(true)
    );
    // Synchronous replication: the committed row is on the replica already.
    assert_debug_eq!(
        scalar(&db, "replica", "SELECT count(*) FROM canary").await,
        Value::Int(1)
    );
    let refused = db
        .execute("replica", "INSERT INTO canary VALUES (1)", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, BackendError::Refused(m)
            if m.contains("SQLSTATE 25006") && m.contains("read-only transaction")),
        "{refused:?}"
    );

    pair.stop_primary_immediate();
    let gone = db.query("primary", "SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(gone, BackendError::Unavailable(_)), "{gone:?}");

    let promoted = db
        .query("replica", "SELECT pg_promote(true, 30)", &[])
        .await
        .unwrap();
    assert_debug_eq!(promoted.rows, vec![vec![Value::Boolean(true)]]);
    assert_debug_eq!(
        scalar(&db, "replica", "SELECT pg_is_in_recovery()").await,
        Value::Boolean(false)
    );
    let written = db
        .execute(
            "replica",
            "INSERT INTO canary VALUES ($1)",
            &[Value::Int(43)],
        )
        .await
        .unwrap();
    assert_debug_eq!(written, 1);
    assert_debug_eq!(
        scalar(&db, "replica", "SELECT count(*) FROM canary").await,
        Value::Int(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_is_unavailable_and_the_same_databases_reconnects_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let pair = PostgresPair::start(dir.path(), Replication::Async);
    let db = postgres_databases(&pair);
    assert_debug_eq!(scalar(&db, "primary", "SELECT 1").await, Value::Int(1));

    // A statement slower than the statement timeout: `timeout`, and the next call gets a
    // fresh connection.
    let connections = BTreeMap::from([(
        "impatient".to_string(),
        connection(ConnectionKind::Postgres, pair.primary_url(), None),
    )]);
    let impatient = Databases::new(
        &connections,
        Timeouts {
            connect: Duration::from_secs(5),
            statement: Duration::from_millis(300),
        },
    )
    .unwrap();
    let slow = impatient
        .query("impatient", "SELECT pg_sleep(5)", &[])
        .await
        .unwrap_err();
    assert!(matches!(slow, BackendError::Timeout(_)), "{slow:?}");
    assert_debug_eq!(
        scalar(&impatient, "impatient", "SELECT 3").await,
        Value::Int(3)
    );

    pair.stop_primary_immediate();
    // The broken connection and then the refused reconnection: both unavailable.
    for _ in 0..2 {
        let error = db.query("primary", "SELECT 1", &[]).await.unwrap_err();
        assert!(matches!(error, BackendError::Unavailable(_)), "{error:?}");
    }

    pair.start_primary();
    let rows = eventually(Duration::from_secs(30), "the restarted primary", || {
        db.query("primary", "SELECT 2", &[])
    })
    .await;
    assert_debug_eq!(rows.rows, vec![vec![Value::Int(2)]]);

    // A connection that cannot be reached at all.
    let closed_port = firedrill_tests::free_port();
    let nowhere = databases(vec![(
        "nowhere",
        connection(
            ConnectionKind::Postgres,
            PostgresPair::url(closed_port),
            None,
        ),
    )]);
    let error = nowhere.query("nowhere", "SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_replies_map_to_the_wit_reply_and_sentinel_connections_follow_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisSentinel::start(dir.path());
    let db = databases(vec![
        (
            "cache",
            connection(
                ConnectionKind::Redis,
                format!("redis://127.0.0.1:{}", redis.master_port),
                None,
            ),
        ),
        (
            "ha",
            connection(
                ConnectionKind::Redis,
                "redis://mymaster".to_string(),
                Some(Sentinel {
                    master: RedisSentinel::MASTER_NAME.to_string(),
                    nodes: redis.sentinel_nodes(),
                }),
            ),
        ),
        (
            "pg",
            connection(ConnectionKind::Postgres, PostgresPair::url(1), None),
        ),
    ]);
    let run = |connection: &'static str, args: &'static [&'static str]| {
        let db = db.clone();
        async move {
            let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
            db.command(connection, &args).await
        }
    };

    assert_debug_eq!(
        run("cache", &["SET", "canary", "1"]).await,
        Ok::<_, BackendError>(Reply::Status("OK".into()))
    );
    assert_debug_eq!(
        run("cache", &["GET", "canary"]).await,
        Ok::<_, BackendError>(Reply::Data(b"1".to_vec()))
    );
    assert_debug_eq!(
        run("cache", &["INCR", "canary"]).await,
        Ok::<_, BackendError>(Reply::Int(2))
    );
    assert_debug_eq!(
        run("cache", &["GET", "absent"]).await,
        Ok::<_, BackendError>(Reply::Nil)
    );
    assert_debug_eq!(
        run("cache", &["RPUSH", "events", "a", "b"]).await,
        Ok::<_, BackendError>(Reply::Int(2))
    );
    assert_debug_eq!(
        run("cache", &["LRANGE", "events", "0", "-1"]).await,
        Ok::<_, BackendError>(Reply::Array(vec![
            ReplyItem::Data(b"a".to_vec()),
            ReplyItem::Data(b"b".to_vec())
        ]))
    );
    let wrong_type = run("cache", &["INCR", "events"]).await.unwrap_err();
    assert!(
        matches!(&wrong_type, BackendError::Refused(m) if m.contains("WRONGTYPE")),
        "{wrong_type:?}"
    );
    let empty = db.command("cache", &[]).await.unwrap_err();
    assert!(matches!(empty, BackendError::Refused(_)), "{empty:?}");
    let wrong_kind = run("pg", &["PING"]).await.unwrap_err();
    assert!(
        matches!(&wrong_kind, BackendError::NotFound(m) if m.contains("postgres")),
        "{wrong_kind:?}"
    );
    let wrong_kind = db.query("cache", "SELECT 1", &[]).await.unwrap_err();
    assert!(
        matches!(&wrong_kind, BackendError::NotFound(m) if m.contains("redis")),
        "{wrong_kind:?}"
    );

    // The replica refuses writes with READONLY.
    let replica = databases(vec![(
        "replica",
        connection(
            ConnectionKind::Redis,
            format!("redis://127.0.0.1:{}", redis.replica_port),
            None,
        ),
    )]);
    let read_only = replica
        .command("replica", &["SET".into(), "x".into(), "1".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(&read_only, BackendError::Refused(m) if m.contains("READONLY")),
        "{read_only:?}"
    );

    // Through the Sentinels: the master first, then the promoted replica.
    assert_debug_eq!(
        run("ha", &["SET", "before", "1"]).await,
        Ok::<_, BackendError>(Reply::Status("OK".into()))
    );
    redis.failover();
    let start = Instant::now();
    while redis.current_master_port() != Some(redis.replica_port)
        || !redis
            .redis_cli(redis.master_port, &["INFO", "replication"])
            .is_ok_and(|info| info.contains("role:slave"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the sentinels did not complete the failover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The cached connection still points at the former master, now a replica: its
    // READONLY reply sends the connection back to the Sentinels.
    let written = eventually(
        Duration::from_secs(30),
        "a write after the failover",
        || run("ha", &["SET", "after", "2"]),
    )
    .await;
    assert_debug_eq!(written, Reply::Status("OK".into()));
    // The write reached the new master (the former replica).
    assert_debug_eq!(
        redis
            .redis_cli(redis.replica_port, &["GET", "after"])
            .unwrap(),
        "2"
    );
    assert_debug_eq!(
        run("ha", &["GET", "before"]).await,
        Ok::<_, BackendError>(Reply::Data(b"1".to_vec()))
    );
}
