//! `tobira audit verify` against the pinned key and paper anchors, and the signed tree head printed on every
//! exported ledger (issue 16 §1). The daemon's side is tobirad's `node::trust`; the trust itself is `tobira_audit::trust`.

use std::path::Path;
use tobira_audit::anchors::Anchor;
use tobira_audit::trust::{TrustError, VerifyError, resolve, verify_store};

/// Exit status when no key can be trusted (no pinned key, no `--node-key`): not "intact", not "tampered".
pub const EXIT_NO_TRUST: i32 = 5;

/// `tobira audit verify --data-dir D [--node-key HEX|FILE] [--anchor SIZE:ROOT]…`: reads the store files
/// directly (works with the daemon stopped, does not take a running daemon's word). Exit 0 intact, 4 with
/// the first failure named, 5 when trust cannot be established, 1 when the store cannot be read, 2 on bad
/// arguments.
pub fn verify_cli(data_dir: &Path, config: &Path, node_key: Option<&str>, anchors: &[String], json: bool) -> i32 {
    let db = data_dir.join("audit.db");
    let mut parsed = Vec::with_capacity(anchors.len());
    for a in anchors {
        match a.parse::<Anchor>() {
            Ok(x) => parsed.push(x),
            Err(e) => {
                eprintln!("error: --anchor: {e}");
                return 2;
            }
        }
    }
    let trusted = match resolve(node_key, &tobira_audit::trust::default_pin(config)) {
        Ok(t) => t,
        Err(e @ TrustError::NoPin(_)) => {
            if json {
                println!("{}", serde_json::json!({"ok": false, "trusted": false, "failure": e.to_string()}));
            }
            eprintln!("AUDIT RECORD NOT VERIFIED (信頼の根拠なし): {e}");
            return EXIT_NO_TRUST;
        }
        Err(TrustError::Bad(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let key = trusted.describe();
    // What the audit library says carries instants as stored: people read them in the site's zone.
    let off = crate::local_time::offset_of_site_file(config);
    let local = |s: &str| match off {
        Some(off) => crate::local_time::localise_text(s, off),
        None => s.to_string(),
    };
    match rt.block_on(verify_store(&db, &trusted, &parsed)) {
        Ok(v) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "events": v.events, "checkpoints": v.checkpoints, "key": key,
                        "size": v.size, "root": v.root, "held": v.held, "acknowledged_losses": v.acknowledged,
                        "notes": v.notes})
                );
            } else {
                println!(
                    "audit store {} is intact: {} events, {} signed checkpoints, checked with {key}",
                    db.display(),
                    v.events,
                    v.checkpoints
                );
                for h in &v.held {
                    println!("  extends {}", local(h));
                }
                for a in &v.acknowledged {
                    println!("  ACKNOWLEDGED LOSS (確認済みの記録喪失): {}", local(a));
                }
                println!("  today's head: --anchor {}:{}", v.size, v.root);
                for n in &v.notes {
                    println!("  note: {}", local(n));
                }
            }
            0
        }
        Err(VerifyError::Failed(failure)) => {
            if json {
                println!("{}", serde_json::json!({"ok": false, "failure": failure, "key": key}));
            }
            eprintln!(
                "AUDIT VERIFICATION FAILED for {} (checked with {key}): {}",
                db.display(),
                local(&failure.to_string())
            );
            4
        }
        Err(VerifyError::Unreadable(e)) => {
            eprintln!("error: cannot read audit store {}: {e}", db.display());
            1
        }
    }
}

/// The signed tree head as the last lines of a ledger CSV: `#` lines (a CSV reader with `#` comments skips
/// them; a person reading the sheet sees them under the rows).
pub fn csv_anchor(anchor: &serde_json::Value) -> String {
    if anchor.is_null() {
        return "#署名付きツリーヘッドなし (no signed tree head: see the daemon's log)\r\n".into();
    }
    let s = |k: &str| anchor[k].as_str().unwrap_or("").to_string();
    format!(
        "#署名付きツリーヘッド (signed tree head),node={},size={},root={},time={},signature={},key={}\r\n#照合 (check),{}\r\n",
        s("node"),
        anchor["size"],
        s("root"),
        s("time"),
        s("signature"),
        s("fingerprint"),
        s("verify")
    )
}

/// The head's time as people read it: the daemon's `local_time` (the site's zone, to the second); from a
/// daemon that does not send it, nothing rather than a UTC text.
pub fn anchor_local_time(anchor: &serde_json::Value) -> String {
    anchor["local_time"].as_str().unwrap_or("").to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The signed tree head printed at the foot of the A4 page, above nothing the signers could miss. Its time is
/// the site's, as every time on the sheet (the heading names the zone); the signed RFC 3339 text stays in the
/// CSV's anchor line and `--json`, for machines (issue 22 "Times").
pub fn html_with_anchor(page: &str, anchor: &serde_json::Value) -> String {
    let block = if anchor.is_null() {
        "<p class=\"sth\">署名付きツリーヘッドなし (no signed tree head)</p>\n".to_string()
    } else {
        let s = |k: &str| esc(anchor[k].as_str().unwrap_or(""));
        format!(
            "<table class=\"sth\" style=\"clear: both; margin-top: 4mm; font-size: 7.5pt; font-family: monospace;\"><tr><th colspan=\"2\">署名付きツリーヘッド (signed tree head) — この帳票の作成時点の監査記録</th></tr>\
<tr><th>ノード</th><td>{}</td></tr><tr><th>件数 (size)</th><td>{}</td></tr><tr><th>根ハッシュ (root)</th><td>{}</td></tr>\
<tr><th>時刻 (time)</th><td>{}</td></tr><tr><th>署名 (signature)</th><td style=\"word-break: break-all;\">{}</td></tr>\
<tr><th>鍵指紋 (key)</th><td>{}</td></tr><tr><th>照合 (check)</th><td>{}</td></tr></table>\n",
            s("node"),
            anchor["size"],
            s("root"),
            esc(&anchor_local_time(anchor)),
            s("signature"),
            s("fingerprint"),
            s("verify")
        )
    };
    match page.rfind("</body>") {
        Some(i) => format!("{}{block}{}", &page[..i], &page[i..]),
        None => format!("{page}{block}"),
    }
}

/// Reads the paper anchor back from a ledger CSV (what an auditor types from the printed sheet).
pub fn anchor_from_csv(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("#署名付きツリーヘッド"))?;
    let field = |k: &str| line.split(',').find_map(|f| f.strip_prefix(&format!("{k}=")).map(String::from));
    Some(format!("{}:{}", field("size")?, field("root")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> serde_json::Value {
        serde_json::json!({"node": "t01", "size": 42, "root": "ab".repeat(32), "time": "2026-11-24T01:00:00.123456789Z",
            "local_time": "2026-11-24 10:00:00", "signature": "cd".repeat(64), "fingerprint": "SHA256:0000", "verify": format!("tobira audit verify --anchor 42:{}", "ab".repeat(32))})
    }

    #[test]
    fn the_csv_footer_reads_back_as_the_anchor_and_is_skipped_as_a_comment() {
        let mut csv = String::from("\u{feff}日付,氏名\r\n2026-11-24,田中\r\n");
        csv.push_str(&csv_anchor(&anchor()));
        assert_eq!(anchor_from_csv(&csv).unwrap(), format!("42:{}", "ab".repeat(32)));
        assert!(anchor_from_csv(&csv).unwrap().parse::<Anchor>().is_ok());
        let data: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(data.len(), 2, "header and one row; the head is in comment lines");
    }

    #[test]
    fn the_html_footer_sits_inside_the_page_and_is_escaped() {
        let mut a = anchor();
        a["node"] = "<t01>".into();
        let page = html_with_anchor("<html><body><h1>x</h1></body></html>", &a);
        assert!(page.contains("&lt;t01&gt;") && !page.contains("<t01>"));
        assert!(page.find("署名付きツリーヘッド").unwrap() < page.find("</body>").unwrap());
        assert!(page.contains(&format!("42:{}", "ab".repeat(32))));
    }

    #[test]
    fn the_printed_head_shows_the_sites_time_and_the_csv_keeps_the_signed_text() {
        let page = html_with_anchor("<html><body><h1>x</h1></body></html>", &anchor());
        assert!(page.contains("<td>2026-11-24 10:00:00</td>"), "{page}");
        assert_eq!(crate::local_time::machine_times(&page), Vec::<String>::new(), "no UTC text on paper");
        // The CSV's anchor line is for machines: the exact text the signature covers.
        assert!(csv_anchor(&anchor()).contains("time=2026-11-24T01:00:00.123456789Z"));
        // A daemon that sends no local time: nothing, rather than the UTC text.
        let mut old = anchor();
        old.as_object_mut().unwrap().remove("local_time");
        let page = html_with_anchor("<html><body></body></html>", &old);
        assert!(crate::local_time::machine_times(&page).is_empty(), "{page}");
    }
}
