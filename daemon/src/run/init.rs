//! `tobirad --init`: a new site's stores and keys, created once, and then the process exits (issue 22 §2).
//!
//! Everything that can refuse is checked before anything is written, so a refusal leaves nothing behind: the
//! site file, the door authentication modes, simulated devices without `--simulation`, an existing store,
//! and the service user. Then the data directory (0700), the pinned audit key (beside the site file), the
//! registry and audit stores and the template key (0600) are created; run as root, the data directory and
//! everything in it are given to the service user (`--user`, default `tobira`, the `User=` of
//! `config/tobirad.service`), so the unit can open what root created. It prints the pinned key's fingerprint
//! (for the paper record) and what to do next.

use crate::node::options::Options;
use crate::run::StartError;
use crate::secrets::keys::{KEK_LEN, create_key};
use crate::store::RegistryStore;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use tobira_audit::{AuditStore, NewEvent, Outcome};
use tobira_core::site::Site;

/// The user the systemd unit runs tobirad as (`config/tobirad.service`, `User=tobira`).
pub const DEFAULT_SERVICE_USER: &str = "tobira";

/// A user's uid and gid from the password database.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwnam_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given; `found` is set to `&pw` or null.
    let r = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    (r == 0 && !found.is_null()).then_some((pw.pw_uid, pw.pw_gid))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Which user will own the stores. As root: `--user`, else `tobira` (the unit's `User=`) when that user
/// exists, else root with a printed note (a test machine without the service user). Not root: the caller,
/// and a `--user` naming someone else is refused (only root can give files away).
fn service_owner(opts: &Options) -> Result<Option<(String, u32, u32)>, StartError> {
    let dir_err = |detail: String| StartError::DataDir { path: opts.data_dir.clone(), detail };
    if euid() == 0 {
        let name = opts.user.clone().unwrap_or_else(|| DEFAULT_SERVICE_USER.to_string());
        match lookup_user(&name) {
            Some((uid, gid)) => Ok(Some((name, uid, gid))),
            None if opts.user.is_none() => Ok(None),
            None => Err(dir_err(format!(
                "--user {name}: no such user — create it first (`useradd --system --home-dir {} --shell \
                 /usr/sbin/nologin {name}`)",
                opts.data_dir.display()
            ))),
        }
    } else {
        if let Some(name) = &opts.user
            && lookup_user(name).map(|(uid, _)| uid) != Some(euid())
        {
            return Err(dir_err(format!(
                "--user {name}: only root can create stores owned by another user; run `sudo tobirad --init …`, \
                 or leave --user out to own them yourself"
            )));
        }
        Ok(None)
    }
}

/// Refuses a data directory that already holds any part of a site (or is not a directory).
fn check_empty(dir: &Path) -> Result<(), StartError> {
    let err = |detail: String| StartError::DataDir { path: dir.into(), detail };
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(err("is not a directory: check --data-dir".into()));
    }
    for name in ["registry.db", "audit.db", "template.key", "audit-signing.key"] {
        if dir.join(name).exists() {
            return Err(err(format!(
                "already holds a site ({name}): --init creates a new site only in an empty data directory. To \
                 run this site, start tobirad without --init (`systemctl start tobirad`); to replace it, move \
                 the directory away first — its audit record must be kept (000 §9(3))"
            )));
        }
    }
    Ok(())
}

/// `tobirad --init`: reads the site file, creates the site's stores and keys, prints the fingerprint and the
/// next steps, and returns (the binary then exits; nothing in the daemon's modules calls this).
pub async fn init(opts: &Options) -> Result<(), StartError> {
    let site = &crate::node::options::load_site(&opts.config)?;
    // 1. Every refusal before anything exists.
    crate::run::check_simulated_devices(site, opts.simulation)?;
    check_empty(&opts.data_dir)?;
    let pin = opts.pinned_key_path();
    if let Ok(pinned) = tobira_audit::anchors::read_key_file(&pin) {
        // A new site has a new key: an existing pin belongs to a store created before.
        return Err(crate::node::trust::PinError {
            path: pin,
            detail: format!(
                "already pins another key ({}): a node whose store was created before. Remove it deliberately, as \
                 root, only when this node is really being replaced — the paper record of the old fingerprint \
                 still stands",
                tobira_audit::anchors::fingerprint(&pinned)
            ),
        }
        .into());
    }
    let owner = service_owner(opts)?;
    if opts.data_dir.exists() {
        // An existing empty directory (systemd's StateDirectory=, or made by hand) must already be the
        // service user's and closed to others: the same rule as every start, checked before writing.
        crate::run::check_data_dir_for(&opts.data_dir, owner.as_ref().map(|o| o.1).unwrap_or_else(euid))?;
    }
    let dir = &opts.data_dir;
    let dir_err = |detail: String| StartError::DataDir { path: dir.clone(), detail };

    // 2. The data directory, 0700 whatever the umask.
    if !dir.exists() {
        if let Some(parent) = dir.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| dir_err(e.to_string()))?;
        }
        std::fs::DirBuilder::new().mode(0o700).create(dir).map_err(|e| dir_err(e.to_string()))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| dir_err(e.to_string()))?;
    if let Some((_, uid, gid)) = &owner {
        // Before the pin: the high-water record beside the pinned key follows the data directory's owner.
        std::os::unix::fs::chown(dir, Some(*uid), Some(*gid)).map_err(|e| dir_err(format!("chown: {e}")))?;
    }

    // 3. The pinned key (prints the fingerprint), then the stores and the template key.
    crate::node::trust::pin_at_init(opts, site.id.as_str())?;
    let store = RegistryStore::open(&opts.registry_path(), true).await?;
    let audit_store =
        AuditStore::create_with(&opts.audit_path(), site.id.as_str(), &opts.signing_key_path(), opts.checkpoint_every)
            .await?;
    create_key(&opts.template_key_path(), KEK_LEN)?;
    crate::secrets::keyring::settle(&opts.template_key_path(), &store).await?;
    let _ = audit_store
        .writer()
        .append(
            NewEvent::new(chrono::Utc::now(), "daemon.init", Outcome::Info, "INITIALISED")
                .place(site.id.as_str())
                .details(
                    serde_json::json!({"version": env!("CARGO_PKG_VERSION"), "owner": owner.as_ref().map(|o| &o.0)}),
                ),
        )
        .await;
    audit_store.close().await;
    store.close().await;

    // 4. Every file 0600 and, as root, the service user's.
    let entries = std::fs::read_dir(dir).map_err(|e| dir_err(e.to_string()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_file() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| dir_err(format!("{}: {e}", p.display())))?;
        }
        if let Some((_, uid, gid)) = &owner {
            std::os::unix::fs::chown(&p, Some(*uid), Some(*gid))
                .map_err(|e| dir_err(format!("chown {}: {e}", p.display())))?;
        }
    }
    print_next_steps(opts, site, owner.as_ref().map(|o| o.0.as_str()));
    Ok(())
}

fn print_next_steps(opts: &Options, site: &Site, owner: Option<&str>) {
    let sim = if opts.simulation { " --simulation" } else { "" };
    println!();
    println!("site {} created in {} (拠点の初期化):", site.id, opts.data_dir.display());
    println!(
        "  registry.db, audit.db, template.key, audit-signing.key: mode 0600, owned by {}",
        owner.map(str::to_string).unwrap_or_else(|| crate::run::user_name(euid()))
    );
    println!("  Back up template.key apart from the databases: a stolen database without it reveals no template.");
    println!();
    println!("next:");
    println!("  1. start the service:   systemctl enable --now tobirad");
    println!(
        "     (or in the foreground: tobirad --config {} --data-dir {}{sim})",
        opts.config.display(),
        opts.data_dir.display()
    );
    println!("  2. register yourself as the system administrator (bootstrap, the one act without a finger):");
    println!(
        "     tobira --socket {} --actor YOU person add YOU --name \"…\" --roles system-administrator",
        opts.socket_path().display()
    );
    println!("  3. enroll your finger:  tobira --actor YOU enroll YOU --reader READER");
    if owner.is_none() && euid() == 0 {
        println!(
            "  note: there is no user {DEFAULT_SERVICE_USER} on this machine, so the stores are root's; the unit \
             (config/tobirad.service) runs as {DEFAULT_SERVICE_USER}: create it and `chown -R \
             {DEFAULT_SERVICE_USER}: {}`, or run --init again with --user",
            opts.data_dir.display()
        );
    }
    println!("  README: \"New site in 15 minutes\".");
}
