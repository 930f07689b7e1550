//! Tamper tests on real store files: each attack an administrator with root could make, and the exact
//! failure `verify` must report.

use super::*;
use crate::disk::head_path;
use crate::{AuditStore, NewEvent, Outcome};
use sqlx::Connection;

fn ev(i: usize) -> NewEvent {
    NewEvent::new(
        chrono::Utc::now(),
        if i.is_multiple_of(2) { "door.enter" } else { "login.success" },
        Outcome::Granted,
        "GRANT_VALID",
    )
    .actor(format!("p{i}"))
    .subject(format!("p{i}"))
    .place("server-door")
    .article("003 §13")
    .score(0.5)
    .details(serde_json::json!({"i": i}))
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    key: std::path::PathBuf,
    pk: Vec<u8>,
}

/// A store with `n` events, a checkpoint every `every` events, closed (final checkpoint written).
async fn fixture(n: usize, every: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let key = dir.path().join("audit-signing.key");
    let s = AuditStore::create_with(&db, "node-1", &key, every).await.unwrap();
    let w = s.writer();
    for i in 0..n {
        let r = w.append(ev(i)).await.unwrap();
        assert_eq!(r.seq, i as i64 + 1);
    }
    let pk = s.public_key();
    s.close().await;
    Fixture { _dir: dir, db, key, pk }
}

/// A raw connection, as an attacker with root would open it, with the guard triggers dropped.
async fn attacker(db: &Path) -> sqlx::SqliteConnection {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    for t in ["events_no_update", "events_keep_seven_years", "checkpoints_no_update"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {t}"))).execute(&mut c).await.unwrap();
    }
    c
}

#[tokio::test]
async fn intact_store_verifies() {
    let f = fixture(25, 10).await;
    let r = verify(&f.db, &f.pk).await.unwrap();
    assert_eq!(r.events, 25);
    assert_eq!(r.checkpoints, 3, "at 10, 20 and the final one at 25");
}

#[tokio::test]
async fn triggers_refuse_edits_and_young_deletes() {
    let f = fixture(3, 10).await;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", f.db.display())).await.unwrap();
    assert!(sqlx::query("UPDATE events SET actor = 'x' WHERE seq = 1").execute(&mut c).await.is_err());
    assert!(sqlx::query("DELETE FROM events WHERE seq = 1").execute(&mut c).await.is_err());
}

#[tokio::test]
async fn altered_field_is_named() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("UPDATE events SET subject = 'someone-else' WHERE seq = 4").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::Altered { seq: 4 }));
}

#[tokio::test]
async fn deleted_middle_event_is_missing() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("DELETE FROM events WHERE seq = 6").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::Missing { after_seq: 5, expected: 6 }));
}

#[tokio::test]
async fn swapped_events_are_reordered() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("UPDATE events SET seq = -1 WHERE seq = 3").execute(&mut c).await.unwrap();
    sqlx::query("UPDATE events SET seq = 3 WHERE seq = 4").execute(&mut c).await.unwrap();
    sqlx::query("UPDATE events SET seq = 4 WHERE seq = -1").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::Reordered { seq: 3 }));
}

#[tokio::test]
async fn deleted_tail_is_truncation() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("DELETE FROM events WHERE seq > 7").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::Truncated { have: 7, checkpoint_seq: 10 }));
}

#[tokio::test]
async fn deleted_tail_and_checkpoints_caught_by_the_sidecar() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("DELETE FROM events WHERE seq > 7").execute(&mut c).await.unwrap();
    sqlx::query("DELETE FROM checkpoints").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::Truncated { have: 7, checkpoint_seq: 10 }));
}

#[tokio::test]
async fn forged_checkpoint_is_refused() {
    let f = fixture(10, 100).await;
    let mut c = attacker(&f.db).await;
    sqlx::query("UPDATE checkpoints SET signature = zeroblob(64)").execute(&mut c).await.unwrap();
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::BadCheckpointSignature { seq: 10 }));
}

#[tokio::test]
async fn rewritten_history_with_recomputed_hashes_fails_the_signature() {
    // The attacker recomputes the whole chain after an edit but cannot re-sign without the key.
    let f = fixture(5, 100).await;
    let mut c = attacker(&f.db).await;
    let rows: Vec<crate::EventRow> =
        sqlx::query_as("SELECT * FROM events ORDER BY seq").fetch_all(&mut c).await.unwrap();
    let mut prev = [0u8; 32];
    for r in rows {
        let mut e = r.into_event();
        if e.seq == 2 {
            e.subject = Some("forged".into());
        }
        e.prev_hash = prev;
        let h = e.recompute();
        sqlx::query("UPDATE events SET subject = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&e.subject)
            .bind(&prev[..])
            .bind(&h[..])
            .bind(e.seq)
            .execute(&mut c)
            .await
            .unwrap();
        prev = h;
    }
    assert_eq!(verify(&f.db, &f.pk).await, Err(VerifyFailure::CheckpointMismatch { seq: 5 }));
}

#[tokio::test]
async fn unwritable_store_refuses_appends_stores_nothing_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let s = AuditStore::create(&db, "n", &dir.path().join("k")).await.unwrap();
    let w = s.writer();
    w.append(ev(0)).await.unwrap();
    w.set_unwritable(true).await.unwrap();
    assert!(w.append(ev(1)).await.is_err(), "append must fail while unwritable");
    assert_eq!(s.query(&crate::Filter::default()).await.unwrap().len(), 1, "nothing partial stored");
    w.set_unwritable(false).await.unwrap();
    assert_eq!(w.append(ev(2)).await.unwrap().seq, 2, "the chain continues without a gap");
    let pk = s.public_key();
    s.close().await;
    assert_eq!(verify(&db, &pk).await.unwrap().events, 2);
}

#[tokio::test]
async fn reopen_continues_the_chain_and_foreign_files_are_refused() {
    let f = fixture(3, 100).await;
    let s = AuditStore::open(&f.db, &f.key).await.unwrap();
    assert_eq!(s.writer().append(ev(9)).await.unwrap().seq, 4);
    s.close().await;
    assert_eq!(verify(&f.db, &f.pk).await.unwrap().events, 4);

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text".repeat(50)).unwrap();
    let before = std::fs::read(&junk).unwrap();
    assert!(AuditStore::open(&junk, &f.key).await.is_err());
    assert_eq!(std::fs::read(&junk).unwrap(), before, "a foreign file is left untouched");
    assert!(matches!(
        AuditStore::open(&dir.path().join("none.db"), &f.key).await,
        Err(crate::AuditError::Missing { .. })
    ));
}

#[tokio::test]
async fn group_readable_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture(1, 100).await;
    std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = AuditStore::open(&f.db, &f.key).await.err().unwrap();
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

#[tokio::test]
async fn query_filters_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let s = AuditStore::create(&dir.path().join("a.db"), "n", &dir.path().join("k")).await.unwrap();
    for i in 0..6 {
        s.writer().append(ev(i)).await.unwrap();
    }
    let f = |person: Option<&str>, kind: Option<&str>| crate::Filter {
        person: person.map(Into::into),
        kind: kind.map(Into::into),
        ..Default::default()
    };
    assert_eq!(s.query(&f(Some("p2"), None)).await.unwrap().len(), 1);
    assert_eq!(s.query(&f(None, Some("door."))).await.unwrap().len(), 3);
    assert_eq!(s.query(&f(None, Some("login"))).await.unwrap().len(), 3);
    let now = chrono::Utc::now();
    assert!(matches!(
        s.purge_before(now - chrono::Duration::days(365), now).await,
        Err(crate::AuditError::RetentionViolation)
    ));
    s.close().await;
}

#[tokio::test]
async fn person_and_place_postings_cover_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = AuditStore::create(&dir.path().join("a.db"), "n", &dir.path().join("k")).await.unwrap();
    let w = s.writer();
    for i in 0..1000 {
        let mut e = ev(i);
        e.actor = Some(format!("p{}", i % 7));
        e.subject = Some(format!("p{}", i % 7));
        e.place = Some(if i % 2 == 0 { "a".into() } else { "b".into() });
        w.append(e).await.unwrap();
    }
    // Part of it was indexed by the idle writer, the rest by the query's catch-up: together, everything.
    let q = |p: &str| crate::Filter { person: Some(p.into()), ..Default::default() };
    assert_eq!(s.query(&q("p3")).await.unwrap().len(), (0..1000).filter(|i| i % 7 == 3).count());
    let by_place = crate::Filter { place: Some("a".into()), person: Some("p0".into()), ..Default::default() };
    assert_eq!(s.query(&by_place).await.unwrap().len(), (0..1000).filter(|i| i % 7 == 0 && i % 2 == 0).count());
    s.writer().append(ev(1)).await.unwrap();
    assert_eq!(
        s.query(&q("p1")).await.unwrap().len(),
        (0..1000).filter(|i| i % 7 == 1).count() + 1,
        "new events are found at once"
    );
    s.close().await;
}

/// Issue 15 item 7: once a head has been written, `audit.db.head` is never optional. Each damage the
/// attacker (or a bad restore) can do to it is a failure, and the writer leaves the damaged file as it is.
#[tokio::test]
async fn a_missing_truncated_garbled_or_older_head_file_fails_and_is_not_overwritten() {
    let head = |f: &Fixture| head_path(&f.db);
    // Missing after checkpoints were signed.
    let f = fixture(12, 5).await;
    std::fs::remove_file(head(&f)).unwrap();
    let e = verify(&f.db, &f.pk).await.unwrap_err();
    assert!(matches!(&e, VerifyFailure::HeadFile(d) if d.contains("missing")), "{e}");
    // The next run of the daemon does not silently write a fresh one.
    let s = AuditStore::open_with(&f.db, &f.key, 2).await.unwrap();
    for i in 0..5 {
        s.writer().append(ev(i)).await.unwrap();
    }
    s.close().await;
    assert!(!head(&f).exists(), "a missing head file stays missing: verify keeps reporting it");
    assert!(matches!(verify(&f.db, &f.pk).await, Err(VerifyFailure::HeadFile(_))));

    // Truncated, and not UTF-8.
    let original = {
        let f = fixture(12, 5).await;
        std::fs::read(head(&f)).unwrap()
    };
    for (damage, bytes) in
        [("truncated", original[..original.len() / 2].to_vec()), ("not UTF-8", b"{\"seq\":\xff\xfe}".to_vec())]
    {
        let f = fixture(12, 5).await;
        std::fs::write(head(&f), &bytes).unwrap();
        let e = verify(&f.db, &f.pk).await.unwrap_err();
        assert!(matches!(&e, VerifyFailure::HeadFile(d) if d.contains("garbled")), "{damage}: {e}");
        let s = AuditStore::open_with(&f.db, &f.key, 2).await.unwrap();
        for i in 0..5 {
            s.writer().append(ev(i)).await.unwrap();
        }
        s.close().await;
        assert_eq!(std::fs::read(head(&f)).unwrap(), bytes, "{damage}: the damaged head is kept as evidence");
    }

    // Older: an earlier copy put back after later checkpoints.
    let f = fixture(10, 100).await;
    let old = std::fs::read(head(&f)).unwrap();
    let s = AuditStore::open_with(&f.db, &f.key, 100).await.unwrap();
    for i in 0..5 {
        s.writer().append(ev(i)).await.unwrap();
    }
    s.close().await;
    assert_eq!(verify(&f.db, &f.pk).await.unwrap().events, 15);
    std::fs::write(head(&f), &old).unwrap();
    let e = verify(&f.db, &f.pk).await.unwrap_err();
    assert!(matches!(&e, VerifyFailure::HeadFile(d) if d.contains("older")), "{e}");
}

/// Checkpoints are mirrored into the high-water file beside the pinned key; deleting the newest events with
/// their checkpoints and the head file is then caught by it (issue 16 §1(c)).
#[tokio::test]
async fn checkpoints_are_remembered_beside_the_pinned_key() {
    let f = fixture(0, 5).await;
    let hw = f._dir.path().join("pin").join(crate::anchors::HIGH_WATER_FILE);
    std::fs::create_dir_all(hw.parent().unwrap()).unwrap();
    let s = AuditStore::open_with(&f.db, &f.key, 5).await.unwrap();
    s.writer().remember_checkpoints_in(hw.clone()).await;
    for i in 0..12 {
        s.writer().append(ev(i)).await.unwrap();
    }
    s.close().await;
    let rec = crate::anchors::load(&hw).unwrap().unwrap();
    assert_eq!(rec.checkpoint.as_ref().unwrap().seq, 12, "the final checkpoint is remembered");
    let mut c = attacker(&f.db).await;
    sqlx::query("DELETE FROM events WHERE seq > 7").execute(&mut c).await.unwrap();
    sqlx::query("DELETE FROM checkpoints WHERE seq > 7").execute(&mut c).await.unwrap();
    drop(c);
    std::fs::remove_file(head_path(&f.db)).unwrap();
    let (_, chain) = crate::log::leaves(&f.db).await.unwrap();
    let hashes: Vec<_> = chain.iter().map(|(_, h)| *h).collect();
    let e = rec.check(&crate::anchors::Log::new(&hashes), &f.pk).unwrap_err();
    assert!(matches!(e, crate::anchors::AnchorFailure::RolledBack { size: 12, have: 7, .. }), "{e}");
}
