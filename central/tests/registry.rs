//! The registry feed as nodes publish to it (issue 7 §1): a node publishes only under its own name, reads
//! everyone's changes, announces only its own transport key; nobody rewrites the feed; the centre's views
//! give the city's registry as the feed leaves it.

use sqlx::postgres::PgPoolOptions;
use tobira_central::{CentralError, NodeChange, changes_after, migrate, publish, publish_from, register_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_publish_under_their_own_name_and_the_feed_is_append_only() {
    let Some(pg) = tobira_central::testing::start(&["node_t01", "node_t02"]).await else { return };
    let owner = pg.admin("tobira").await;
    migrate(&owner).await.unwrap();
    register_node(&owner, "t01", "node_t01", &[1; 32]).await.unwrap();
    register_node(&owner, "t02", "node_t02", &[2; 32]).await.unwrap();
    let t01 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t01", "node_t01")).await.unwrap();
    let t02 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t02", "node_t02")).await.unwrap();

    let person = NodeChange {
        kind: "person.upsert",
        target: "sato",
        reason: "admin.person.add",
        issued_by: "takahashi",
        payload: r#"{"id":"sato","name":"佐藤"}"#,
    };
    let v1 = publish_from(&t01, "t01", &person).await.unwrap();
    // Under another node's name: refused by row-level security.
    assert!(matches!(publish_from(&t01, "t02", &person).await, Err(CentralError::NotYours(_))));
    // An unknown kind: refused by the schema.
    let odd = NodeChange { kind: "person.promote", ..person.clone() };
    assert!(publish_from(&t01, "t01", &odd).await.is_err());
    let v2 = publish_revoke(&owner, "sato@terminal:t-01").await;
    let feed = changes_after(&t02, 0).await.unwrap();
    assert_eq!(feed.iter().map(|c| c.version).collect::<Vec<_>>(), vec![v1, v2]);
    assert_eq!(feed[0].origin.as_deref(), Some("t01"));
    assert_eq!(feed[1].origin, None, "the centre's own change");

    // Nobody rewrites the feed, not even the owner.
    assert!(sqlx::query("UPDATE registry_changes SET target = 'x'").execute(&owner).await.is_err());
    assert!(sqlx::query("DELETE FROM registry_changes").execute(&t01).await.is_err());

    // Transport keys: each node sets its own, everyone reads them.
    tobira_central::set_transport_key(&t01, &[7; 32]).await.unwrap();
    tobira_central::set_transport_key(&t02, &[8; 32]).await.unwrap();
    let keys = tobira_central::transport_keys(&t01).await.unwrap();
    assert_eq!(keys, vec![("t01".to_string(), [7; 32]), ("t02".to_string(), [8; 32])]);
    assert!(
        sqlx::query("UPDATE nodes SET transport_key = $1 WHERE id = 't02'")
            .bind(vec![9u8; 32])
            .execute(&t01)
            .await
            .is_err()
    );

    // The city's registry as the feed leaves it.
    let active: bool =
        sqlx::query_scalar("SELECT active FROM central_people WHERE person = 'sato'").fetch_one(&owner).await.unwrap();
    assert!(active);
    publish(&owner, "person.deactivate", "sato", "退職", "centre-admin").await.unwrap();
    let active: bool =
        sqlx::query_scalar("SELECT active FROM central_people WHERE person = 'sato'").fetch_one(&owner).await.unwrap();
    assert!(!active);
}

async fn publish_revoke(owner: &sqlx::PgPool, target: &str) -> i64 {
    publish(owner, "grant.revoke", target, "transfer", "centre-admin").await.unwrap()
}
