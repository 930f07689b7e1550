//! Terminal login through a peer we did not write: Debian's `pamtester` drives the built `pam_tobira.so`
//! in a throwaway `/etc/pam.d` service, against the real daemon on simulated devices (004 §2(9), 002 §5-2,
//! NIST SP 800-63B). Needs root (PAM services live in /etc/pam.d) and pamtester: `.ci/run` installs it.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The throwaway PAM service; removed when dropped, whatever happens.
struct Service {
    name: String,
    path: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn module() -> PathBuf {
    let dir = TOBIRAD.path().parent().unwrap();
    let m = dir.join("libpam_tobira.so");
    assert!(m.exists(), "{} missing: build it first with `cargo build -p pam_tobira` (scripts/test does)", m.display());
    m
}

fn service(data: &Path) -> Service {
    assert!(
        Command::new("pamtester").arg("--version").output().is_ok(),
        "pamtester is not installed: apt-get install pamtester (.ci/run does)"
    );
    let name = format!("tobira-test-{}", std::process::id());
    let path = PathBuf::from("/etc/pam.d").join(&name);
    let args = format!("{} socket={} terminal=t-01 timeout=10", module().display(), data.join("login.sock").display());
    std::fs::write(&path, format!("auth required {args}\naccount required {args}\nsession required {args}\n"))
        .expect("writing /etc/pam.d needs root");
    Service { name, path }
}

fn pamtester(s: &Service, user: &str, ops: &[&str], items: &[&str]) -> Output {
    let mut c = Command::new("pamtester");
    for i in items {
        c.args(["-I", i]);
    }
    c.arg("-v").arg(&s.name).arg(user).args(ops).output().unwrap()
}

fn ok(d: &Running, args: &[&str]) {
    let o = d.tobira(args);
    assert!(o.status.success(), "tobira {args:?}: {}", text(&o));
}

fn present(d: &Running, body: &str) {
    ok(d, &["sim", "present", "t01-reader", body]);
}

fn setup(d: &Running) {
    ok(d, &["sim", "clock", "2026-11-20T09:00:00+09:00"]);
    ok(
        d,
        &[
            "person",
            "add",
            "takahashi",
            "--name",
            "高橋",
            "--roles",
            "system-administrator",
            "--appointment-end",
            "2027-03-31",
            "--actor",
            "takahashi",
        ],
    );
    for who in ["tanaka", "sato"] {
        ok(
            d,
            &[
                "person",
                "add",
                who,
                "--name",
                who,
                "--roles",
                "operator",
                "--appointment-end",
                "2027-03-31",
                "--actor",
                "takahashi",
            ],
        );
        for _ in 0..3 {
            present(d, who);
        }
        ok(d, &["--actor", "takahashi", "enroll", who, "--reader", "t01-reader"]);
    }
    ok(d, &["grant", "add", "tanaka", "--place", "terminal:t-01", "--actor", "takahashi"]);
    ok(d, &["grant", "add", "sato", "--place", "terminal:t-02", "--actor", "takahashi"]);
    ok(d, &["sim", "clock", "2026-11-24T10:00:00+09:00"]);
}

#[test]
fn pamtester_drives_two_factor_login() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    setup(&d);
    let s = service(&d.data);

    // The right person, user ID + finger.
    present(&d, "tanaka");
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    let prompt = "tanaka: place your finger on t01-reader (1/1), 15 s";
    assert_eq!(said.matches(prompt).count(), 1, "the prompt names who, where, how many, how long, once: {said}");

    // Someone else's finger under tanaka's ID.
    present(&d, "sato");
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert_eq!(text(&o).matches("tries left").count(), 1, "{}", text(&o));
    assert!(!text(&o).contains("place your finger (or hold your palm) again"), "said once, not twice: {}", text(&o));

    // No grant for this terminal: refused before any capture (nothing presented, no wait).
    let t = Instant::now();
    let o = pamtester(&s, "sato", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert_eq!(text(&o).matches("No grant").count(), 1, "once: {}", text(&o));
    assert!(t.elapsed() < Duration::from_secs(5));

    // Account management: authority now, here.
    assert!(pamtester(&s, "tanaka", &["acct_mgmt"], &[]).status.success());
    assert!(!pamtester(&s, "sato", &["acct_mgmt"], &[]).status.success());

    // After hours without approval, then with one (002 §5-2).
    ok(&d, &["sim", "clock", "2026-11-24T19:30:00+09:00"]);
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Outside office hours"), "{}", text(&o));
    ok(
        &d,
        &[
            "off-hours",
            "tanaka",
            "--terminal",
            "t-01",
            "--from",
            "2026-11-24T19:00:00+09:00",
            "--until",
            "2026-11-24T21:00:00+09:00",
            "--reason",
            "繁忙",
            "--actor",
            "takahashi",
        ],
    );
    present(&d, "tanaka");
    let o = pamtester(&s, "tanaka", &["authenticate", "acct_mgmt"], &[]);
    assert!(o.status.success(), "{}", text(&o));

    // A remote session is refused biometric login.
    let o = pamtester(&s, "tanaka", &["authenticate"], &["rhost=203.0.113.9"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not remotely"), "{}", text(&o));

    // Sessions are the operation history (操作履歴).
    assert!(pamtester(&s, "tanaka", &["open_session", "close_session"], &[]).status.success());
    let h = d.tobira(&["--actor", "takahashi", "--json", "audit", "show", "--kind", "session.", "--person", "tanaka"]);
    assert_eq!(String::from_utf8_lossy(&h.stdout).lines().count(), 2, "{}", text(&h));

    // Five failures lock the person out of this reader.
    ok(&d, &["sim", "clock", "2026-11-24T10:30:00+09:00"]);
    for i in 0..5 {
        present(&d, "stranger");
        let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
        assert!(!o.status.success(), "attempt {i}");
    }
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Too many failed attempts"), "{}", text(&o));
    // The administrator lifts it; the unlock is in the operation history.
    ok(&d, &["unlock", "tanaka", "--reader", "t01-reader", "--actor", "takahashi"]);
    present(&d, "tanaka");
    assert!(pamtester(&s, "tanaka", &["authenticate"], &[]).status.success());
    let h = d.tobira(&["--actor", "takahashi", "--json", "audit", "show", "--kind", "login.", "--person", "tanaka"]);
    let h = String::from_utf8_lossy(&h.stdout).to_string();
    assert!(h.contains("login.lockout") && h.contains("login.unlock"), "{h}");

    // Daemon down: "authentication information unavailable", quickly.
    drop(d);
    let t = Instant::now();
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unavailable") || text(&o).contains("cannot be recovered"), "{}", text(&o));
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn login_socket_refuses_garbage_and_silence_and_keeps_serving() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    let sock = d.data.join("login.sock");
    // Garbage: a clear refusal, not a hang.
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    c.write_all(&[0, 0, 0, 5, b'{', b'x', 0xff, b'}', b'!']).unwrap();
    let mut out = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).contains("malformed"), "{}", String::from_utf8_lossy(&out));
    // A lying length is refused before buffering.
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    c.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut out = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.read_to_end(&mut out);
    assert!(!out.is_empty());
    // Many silent clients: the daemon still answers its control socket and the login socket after them.
    let silent: Vec<_> = (0..40).map(|_| std::os::unix::net::UnixStream::connect(&sock).unwrap()).collect();
    assert!(d.tobira(&["status"]).status.success());
    std::thread::sleep(Duration::from_secs(6));
    drop(silent);
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let req = tobira_proto::LoginRequest::Account(tobira_proto::LoginContext {
        user: "x".repeat(200),
        service: "s".into(),
        tty: None,
        rhost: None,
        terminal: "t-01".into(),
    });
    tobira_proto::write_frame(&mut c, &req).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let m: tobira_proto::LoginMessage = tobira_proto::read_frame(&mut c).unwrap().unwrap();
    assert!(
        matches!(m, tobira_proto::LoginMessage::Result { outcome: tobira_proto::LoginOutcome::UserUnknown, .. }),
        "{m:?}"
    );
}

#[test]
fn operation_history_exports_as_csv_with_japanese_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    setup(&d);
    present(&d, "tanaka");
    ok(&d, &["login", "t-01", "tanaka"]);
    let csv = dir.path().join("history.csv");
    let o = d.tobira(&["--actor", "takahashi", "audit", "show", "--person", "tanaka", "--csv", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 BOM for Excel");
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert_eq!(
        lines.next().unwrap(),
        "日時,種別,操作者,対象者,場所・端末,結果,理由,根拠条項,照合スコア,詳細,連番,ハッシュ"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.contains(",admin.person.add,") && r.contains("tanaka")), "{text}");
    assert!(rows.iter().any(|r| r.contains(",login.") && r.contains(",t-01,")), "{text}");
    // 日時 in the site's local time to the second (setup's clock: 2026-11-24 10:00 JST), never UTC.
    assert!(rows.iter().all(|r| r.starts_with("2026-11-2") && r.as_bytes().get(10) == Some(&b' ')), "{text}");
    assert!(rows.iter().any(|r| r.starts_with("2026-11-24 10:00:")), "{text}");
}

/// Nobody places a finger (issue 22 §4): its own reason `NO_SAMPLE`, said once, audited as such, and never
/// counted toward the lockout (NIST SP 800-63B §5.2.2 limits failed *attempts*; a timeout is none).
#[test]
fn a_capture_timeout_is_no_sample_said_once_and_never_locks_out() {
    let dir = tempfile::tempdir().unwrap();
    let site = demo_site().replacen("capture_timeout_s = 15", "capture_timeout_s = 1", 1);
    assert_ne!(site, demo_site(), "the demo site's capture timeout changed; update this test");
    let d = Running::start_with(dir.path(), &site, &[]);
    setup(&d);
    let s = service(&d.data);
    // More timeouts than the lockout allows failures (5).
    for i in 0..7 {
        let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
        let said = text(&o);
        assert!(!o.status.success(), "{said}");
        assert_eq!(said.matches("tanaka: place your finger on t01-reader (1/1), 1 s").count(), 1, "{said}");
        assert_eq!(said.matches("No finger or palm was placed in time").count(), 1, "said once ({i}): {said}");
        assert!(!said.contains("Not recognised") && !said.contains("Too many"), "not a failed match ({i}): {said}");
    }
    let h = d.tobira(&["--actor", "takahashi", "--json", "audit", "show", "--kind", "login.", "--person", "tanaka"]);
    let h = String::from_utf8_lossy(&h.stdout).to_string();
    assert_eq!(h.matches("\"NO_SAMPLE\"").count(), 7, "audited as NO_SAMPLE: {h}");
    assert!(!h.contains("NOT_IDENTIFIED") && !h.contains("login.lockout"), "{h}");
    // Still not locked out: the person's finger is accepted at once.
    present(&d, "tanaka");
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_silent_daemon_never_hangs_the_password_path() {
    // A daemon that accepts and never answers: the stack (pam_permit standing in for pam_unix) still ends
    // within the module's timeout, with "authentication information unavailable".
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("login.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let hold = std::thread::spawn(move || {
        let conns: Vec<_> = (0..1).filter_map(|_| l.accept().ok()).collect();
        std::thread::sleep(Duration::from_secs(5));
        drop(conns);
    });
    let name = format!("tobira-silent-{}", std::process::id());
    let s = Service { name: name.clone(), path: PathBuf::from("/etc/pam.d").join(&name) };
    std::fs::write(
        &s.path,
        format!(
            "auth required pam_permit.so\nauth required {} socket={} terminal=t-01 timeout=2\n",
            module().display(),
            sock.display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let o = pamtester(&s, "tanaka", &["authenticate"], &[]);
    assert!(!o.status.success());
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
    assert!(text(&o).contains("unavailable") || text(&o).contains("cannot be recovered"), "{}", text(&o));
    hold.join().unwrap();
}

#[test]
fn a_lockout_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    setup(&d);
    for _ in 0..5 {
        present(&d, "stranger");
        let _ = d.tobira(&["login", "t-01", "tanaka"]);
    }
    assert!(d.stop().success());
    let d = Running::start(dir.path());
    ok(&d, &["sim", "clock", "2026-11-24T10:00:30+09:00"]);
    let o = d.tobira(&["--json", "login", "t-01", "tanaka"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("LOCKED_OUT"),
        "restarting must not lift a lockout: {}",
        text(&o)
    );
}

/// The ledgers (台帳) come out of the audit log with the forms' Japanese columns, as CSV that Excel in Japan
/// opens (UTF-8 with BOM); parsed back here.
#[test]
fn ledgers_export_with_the_forms_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    setup(&d);
    present(&d, "tanaka");
    ok(&d, &["login", "t-01", "tanaka"]);
    let read = |kind: &str| -> (String, Vec<String>) {
        let csv = dir.path().join(format!("{kind}.csv"));
        let o = d.tobira(&["--actor", "takahashi", "ledger", kind, "--csv", csv.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let bytes = std::fs::read(&csv).unwrap();
        assert!(bytes.starts_with("\u{feff}".as_bytes()), "{kind}: UTF-8 BOM");
        let t = String::from_utf8(bytes).unwrap();
        let mut lines = t.trim_start_matches('\u{feff}').lines().map(str::to_string);
        let header = lines.next().unwrap();
        (header, lines.collect())
    };
    let (h, rows) = read("operators");
    assert_eq!(h, "年月日,区分,氏名,所属,操作者ID,内容,実施者");
    assert!(rows.iter().any(|r| r.contains(",指定,") && r.contains(",tanaka,")), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(",登録,") && r.contains(",tanaka,")), "{rows:?}");
    let (h, rows) = read("matching");
    assert_eq!(h, "年月日時,区分,氏名,利用者ID,場所,結果,照合スコア,内容");
    assert!(rows.iter().any(|r| r.contains(",利用,") && r.contains(",tanaka,") && r.contains(",許可,")), "{rows:?}");
    let (h, rows) = read("user-ids");
    assert_eq!(h, "年月日,区分,ユーザID,氏名,所属,権限・内容,実施者");
    assert!(rows.iter().any(|r| r.contains(",発行,tanaka,")), "{rows:?}");
    // Places by their names (issue 21 §4): terminal:t-01 is 住基端末 1.
    assert!(rows.iter().any(|r| r.contains(",権限付与,tanaka,") && r.contains("住基端末 1")), "{rows:?}");
    let (h, _) = read("entry-exit");
    assert_eq!(
        h,
        "日付,氏名,所属,名札,用務,入室場所,入室時刻,退室時刻,持込機器・媒体,持出機器・媒体,立会者,承認者,備考"
    );
    // Each export is itself in the record (002 §7(11)).
    let v = d.tobira(&["--actor", "takahashi", "--json", "audit", "show", "--kind", "audit.ledger"]);
    assert!(String::from_utf8_lossy(&v.stdout).lines().count() >= 4, "{}", text(&v));
}
