//! Short grant ids end to end (issue 22 "Readable output"): a grant prints as `G-0001`, is revoked by what a
//! person types (`G-1`, `g-4`), numbers are never given twice (not after a restart, not for a request that was
//! filed), an old long id already in a store is still shown and accepted, and a human table shows no UTC
//! text. The multi-node form (`G-<node>-0001`) is in `multinode.rs`.

use crate::common::*;

/// The ids of the live grants, in the daemon's order.
fn live_ids(d: &Running) -> Vec<String> {
    let v = json(&d.tobira(&["--json", "grant", "list"]));
    let all = if v.is_array() { v.as_array().unwrap().clone() } else { vec![v] };
    all.iter().filter_map(|g| g["id"].as_str().map(String::from)).collect()
}

#[test]
fn a_grant_prints_g_0001_is_revoked_by_g_1_and_old_long_ids_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("tanaka", "operator"), ("ito", "site-administrator")]);

    // What the administrator reads after `grant add`: the short id, and the end in the site's time.
    let o = d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01"]);
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(said.contains("grant: G-0001"), "{said}");
    assert!(said.contains("(times in JST (UTC+09:00))"), "{said}");
    assert!(tobira_cli::local_time::machine_times(&said).is_empty(), "no UTC text for people: {said}");
    let o = d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-02"]);
    assert_eq!(json(&o)["grant"], "G-0002");

    // The table people read lists both by their short ids, with local times only.
    let o = d.tobira(&["grant", "list"]);
    let table = text(&o);
    assert!(table.contains("G-0001") && table.contains("G-0002"), "{table}");
    assert!(tobira_cli::local_time::machine_times(&table).is_empty(), "no UTC text for people: {table}");

    // Typed as people type it: no zeros (and in either case, below).
    let o = d.act("takahashi", &["grant", "revoke", "G-1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("revoked: G-0001"), "{}", text(&o));
    assert_eq!(live_ids(&d), vec!["G-0002"]);
    refused(&d.act("takahashi", &["grant", "revoke", "g-1"]), "no live grant \"G-0001\"");
    refused(&d.act("takahashi", &["grant", "revoke", "G-0009"]), "no live grant \"G-0009\"");

    // A site administrator's grant is a request (003 §7(3)): its number is taken when it is filed, and the
    // approval issues exactly that grant.
    let r = json(&d.act("ito", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));
    assert_eq!(r["status"], "pending", "{r}");
    let pending = json(&d.tobira(&["--json", "request", "list", "--status", "pending"]));
    assert_eq!(pending["params"]["grant"], "G-0003", "{pending}");
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    assert_eq!(live_ids(&d), vec!["G-0002", "G-0003"]);

    // A grant from before short ids, as an older tobirad stored it; then a restart.
    let old = "g-1796410296959645";
    drop(d);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let db = dir.path().join("data").join("registry.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query("INSERT INTO grants(id, holder, place_kind, place_id, issued_by, issuer_role, valid_from, valid_until, schedule, created_at) VALUES (?, 'ito', 'terminal', 't-01', 'takahashi', 'system-administrator', '2026-11-01T00:00:00Z', '2027-03-31T15:00:00Z', 'always', '2026-11-01T00:00:00Z')")
            .bind(old)
            .execute(&mut c)
            .await
            .unwrap();
    });
    let d = Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:30:00+09:00"]);
    assert!(live_ids(&d).contains(&old.to_string()), "the old id is shown as it is");
    // Accepted in either case, as typed from a printout.
    let o = d.act("takahashi", &["grant", "revoke", &old.to_uppercase()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("revoked: {old}")), "{}", text(&o));
    assert_eq!(live_ids(&d), vec!["G-0002", "G-0003"]);
    // The counter survived the restart: no number is given twice, not even the revoked G-0001's.
    let o = d.act("takahashi", &["--json", "grant", "add", "ito", "--place", "terminal:t-02"]);
    assert_eq!(json(&o)["grant"], "G-0004");
    // The periodic review names grants the same way (004 §5(10)).
    let o = d.act("takahashi", &["--json", "review", "--complete", "--revoke", "g-4", "--note", "年次点検"]);
    assert_eq!(json(&o)["revoked"][0], "G-0004", "{}", text(&o));
    assert_eq!(live_ids(&d), vec!["G-0002", "G-0003"]);
}
