//! Helpers shared by the end-to-end tests: the real binaries, a daemon on the demo site in a temp dir.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A program of the workspace, found where this test binary was built: cargo names `CARGO_BIN_EXE_*` only
/// for a package's own programs, and these tests drive other packages' (`tobirad`, `tobira`,
/// `tobira-central`). As assert_cmd's `cargo_bin` does, they are looked for beside the test binary's own
/// directory: it lives in `<target>/<profile>/deps/`, they in `<target>/<profile>/`. `scripts/test` builds
/// them first. Usable wherever a program name is (`Command::new(TOBIRAD)`, `.arg(TOBIRAD)`).
#[derive(Clone, Copy)]
pub struct Bin(pub &'static str);

/// The daemon (package `tobira`, daemon/).
pub const TOBIRAD: Bin = Bin("tobirad");
/// The CLI and the demo (package `tobira-cli`, cli/).
pub const TOBIRA: Bin = Bin("tobira");
/// The centre's command (package `tobira-central`, central/).
pub const TOBIRA_CENTRAL: Bin = Bin("tobira-central");
/// The web console (package `tobira-console`, console/).
pub const TOBIRA_CONSOLE: Bin = Bin("tobira-console");

impl Bin {
    pub fn path(self) -> &'static Path {
        static FOUND: OnceLock<Mutex<HashMap<&'static str, &'static Path>>> = OnceLock::new();
        let mut found = FOUND.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        found.entry(self.0).or_insert_with(|| {
            let exe = std::env::current_exe().expect("the test binary's own path");
            let dir = exe.parent().and_then(Path::parent).expect("the test binary lives in <target>/<profile>/deps");
            let p = dir.join(self.0);
            assert!(
                p.exists(),
                "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
                p.display()
            );
            Box::leak(p.into_boxed_path())
        })
    }

    pub fn as_str(self) -> &'static str {
        self.path().to_str().expect("the target directory's path is UTF-8")
    }
}

impl AsRef<OsStr> for Bin {
    fn as_ref(&self) -> &OsStr {
        self.path().as_os_str()
    }
}

impl AsRef<Path> for Bin {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl std::fmt::Display for Bin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

/// Where administrators prove who they are in the tests.
pub const ADMIN_READER: &str = "t02-reader";

/// A node's two SQLite stores with their WAL and shared-memory files, and the audit head: what a restore or an
/// upgrade replaces and what must be 0600 (issue 15 "Files").
pub const STORE_FILES: [&str; 7] =
    ["registry.db", "registry.db-wal", "registry.db-shm", "audit.db", "audit.db-wal", "audit.db-shm", "audit.db.head"];

pub fn demo_site() -> &'static str {
    tobira_cli::demo::DEMO_SITE
}

pub struct Running {
    pub child: Child,
    pub sock: PathBuf,
    pub data: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How an administrative command names its actor: proved by their finger at the admin reader (`Running::act`),
/// or only claimed with `--actor`, as a new site's system administrator acts before their finger is enrolled.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Proved(&'a str),
    Claimed(&'a str),
}

impl Running {
    pub fn start(dir: &Path) -> Running {
        Running::start_with(dir, demo_site(), &[])
    }

    /// Starts (or restarts, on the same data directory) a simulated daemon on `site` with extra environment.
    pub fn start_with(dir: &Path, site_text: &str, env: &[(&str, &str)]) -> Running {
        let site = dir.join("site.toml");
        std::fs::write(&site, site_text).unwrap();
        let data = dir.join("data");
        let _ = std::fs::remove_file(data.join("control.sock"));
        init_site(&site, &data, &[]);
        let child = Command::new(TOBIRAD)
            .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"])
            .envs(env.iter().copied())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Running::once_up(child, data)
    }

    /// A daemon started by `child` (itself, or a program that runs it) on `data`, once its control socket
    /// answers `status`.
    pub fn once_up(mut child: Child, data: PathBuf) -> Running {
        let sock = data.join("control.sock");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(sock.exists() && cli(&sock, &["status"]).status.success()) {
            assert!(child.try_wait().unwrap().is_none(), "daemon exited at start-up");
            assert!(Instant::now() < deadline, "daemon did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Running { child, sock, data }
    }

    pub fn tobira(&self, args: &[&str]) -> Output {
        cli(&self.sock, args)
    }

    /// A new site's first act: the system administrator registers themselves (bootstrap, no biometric yet).
    pub fn bootstrap(&self) {
        let o = self.tobira(&[
            "--actor",
            "takahashi",
            "person",
            "add",
            "takahashi",
            "--name",
            "高橋 一郎",
            "--affiliation",
            "情報政策課",
            "--roles",
            "system-administrator",
            "--appointment-end",
            "2027-03-31",
        ]);
        assert!(o.status.success(), "bootstrap: {}", text(&o));
    }

    /// A staffed site: the system administrator bootstraps and enrols themselves, then registers and enrols each
    /// `(id, role)` (named `id`, appointed until 2027-03-31), each with three captures of finger 2 at t01-reader.
    pub fn staff(&self, people: &[(&str, &str)]) {
        self.bootstrap();
        for _ in 0..3 {
            self.present("t01-reader", "takahashi");
        }
        let o = self.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
        assert!(o.status.success(), "{}", text(&o));
        for (id, role) in people {
            let o = self.act(
                "takahashi",
                &["person", "add", id, "--name", id, "--roles", role, "--appointment-end", "2027-03-31"],
            );
            assert!(o.status.success(), "{}", text(&o));
            for _ in 0..3 {
                self.present("t01-reader", id);
            }
            let o = self.act("takahashi", &["enroll", id, "--reader", "t01-reader"]);
            assert!(o.status.success(), "{}", text(&o));
        }
    }

    /// Places `body`'s finger 2 on a simulated reader.
    pub fn present(&self, reader: &str, body: &str) {
        let o = self.tobira(&["sim", "present", reader, body]);
        assert!(o.status.success(), "present: {}", text(&o));
    }

    /// An administrative act by `actor`, who first places their own finger on the admin reader (t02-reader).
    pub fn act(&self, actor: &str, args: &[&str]) -> Output {
        self.present(ADMIN_READER, actor);
        let mut all = vec!["--actor", actor, "--at", ADMIN_READER];
        all.extend_from_slice(args);
        let o = self.tobira(&all);
        // Whatever the command read or left, nobody is still standing at the readers.
        for r in [ADMIN_READER, "t01-reader"] {
            let _ = self.tobira(&["sim", "clear", r]);
        }
        o
    }

    /// The vendor visit the scenarios share: abe of 保守株式会社 (サーバ保守, name tag V-017) at the server door
    /// from `from` until `until`, escorted by `escorts` (comma-separated), with `extra` arguments after it
    /// (`--media …`, `--json`), filed by `by`.
    pub fn visit(&self, by: As, from: &str, until: &str, escorts: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "visit",
            "abe",
            "--company",
            "保守株式会社",
            "--purpose",
            "サーバ保守",
            "--name-tag",
            "V-017",
            "--doors",
            "server-door",
            "--from",
            from,
            "--until",
            until,
            "--escorts",
            escorts,
        ];
        args.extend_from_slice(extra);
        match by {
            As::Proved(actor) => self.act(actor, &args),
            As::Claimed(actor) => {
                let mut all = vec!["--actor", actor];
                all.extend(args);
                self.tobira(&all)
            }
        }
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `tobirad --init --simulation` on `site` and `data` unless a site is already there (`--init` creates and
/// exits, and refuses an existing store: issue 22 §2). Returns what it printed (empty when skipped).
pub fn init_site(site: &Path, data: &Path, extra: &[&str]) -> String {
    if data.join("registry.db").exists() {
        return String::new();
    }
    let o = Command::new(TOBIRAD)
        .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--init", "--simulation"])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "tobirad --init: {}", text(&o));
    text(&o)
}

/// The node's `tobira status` as JSON.
pub fn status(d: &Running) -> serde_json::Value {
    let o = d.tobira(&["--json", "status"]);
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
}

/// The site file beside a data directory: `tobirad --init` pins the audit key beside it, and `tobira audit
/// verify --config` finds the pinned key there (issue 16 §1).
pub fn site_of(data: &Path) -> PathBuf {
    data.parent().unwrap().join("site.toml")
}

/// `tobira audit verify` of a stopped node's store against its pinned key.
pub fn verify(data: &Path, extra: &[&str]) -> Output {
    Command::new(TOBIRA)
        .args(["audit", "verify", "--data-dir", data.to_str().unwrap(), "--config", site_of(data).to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

pub fn cli(sock: &Path, args: &[&str]) -> Output {
    Command::new(TOBIRA).arg("--socket").arg(sock).args(args).output().unwrap()
}

/// The `--json` lines of a successful command: one value, or an array of them. (Modules whose commands answer
/// otherwise keep a `json` of their own, which shadows this one.)
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "expected success: {}", text(o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> =
        out.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    if lines.len() == 1 { lines.into_iter().next().unwrap() } else { serde_json::Value::Array(lines) }
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A command that must have been refused, saying `want`.
pub fn refused(o: &Output, want: &str) {
    assert!(!o.status.success(), "expected a refusal containing {want:?}, got success: {}", text(o));
    assert!(text(o).contains(want), "refusal should say {want:?}: {}", text(o));
}

/// Someone with root rewrites event `seq` of a node's local store and recomputes every hash after it, so the
/// local chain is consistent again (only the centre's copy and its witness can tell).
pub async fn rewrite_event(db: &Path, seq: i64) {
    let mut c = attacker(db).await;
    sqlx::query("UPDATE events SET subject = 'someone-else' WHERE seq = ?").bind(seq).execute(&mut c).await.unwrap();
    rechain(&mut c, seq).await;
}

/// A connection to a node's audit store as someone with root has it: the append-only triggers dropped.
pub async fn attacker(db: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let triggers: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetch_all(&mut c).await.unwrap();
    for t in triggers {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER \"{t}\""))).execute(&mut c).await.unwrap();
    }
    c
}

/// Recomputes every event's chain hash from `from` on, as an insider with the store in hand would: the
/// local chain is consistent again, whatever was changed in it.
pub async fn rechain(c: &mut sqlx::SqliteConnection, from: i64) {
    use sqlx::Row;
    let rows = sqlx::query("SELECT seq, node, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash FROM events WHERE seq >= ? ORDER BY seq").bind(from)
            .fetch_all(&mut *c)
            .await
            .unwrap();
    let mut prev: [u8; 32] = rows[0].get::<Vec<u8>, _>(12).try_into().unwrap();
    for r in rows {
        let g = |i: usize| r.get::<Option<String>, _>(i);
        let h = tobira_audit::canonical_hash(
            &r.get::<String, _>(1),
            &r.get::<String, _>(2),
            &r.get::<String, _>(3),
            g(4).as_deref(),
            g(5).as_deref(),
            g(6).as_deref(),
            &r.get::<String, _>(7),
            &r.get::<String, _>(8),
            g(9).as_deref(),
            r.get::<Option<f64>, _>(10),
            &r.get::<String, _>(11),
            &prev,
        );
        sqlx::query("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&prev[..])
            .bind(&h[..])
            .bind(r.get::<i64, _>(0))
            .execute(&mut *c)
            .await
            .unwrap();
        prev = h;
    }
}

/// The system administrator registers `id` (named `id`) in `affiliation` with `roles` until `end`; the act must
/// succeed and answer in JSON.
pub fn add_person(d: &Running, id: &str, affiliation: &str, roles: &str, end: &str) {
    let o = d.act(
        "takahashi",
        &[
            "--json",
            "person",
            "add",
            id,
            "--name",
            id,
            "--affiliation",
            affiliation,
            "--roles",
            roles,
            "--appointment-end",
            end,
        ],
    );
    assert!(o.status.success(), "expected success: {}", text(&o));
    for l in String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "not JSON: {l}");
    }
}
