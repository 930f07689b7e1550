//! Helpers shared by the end-to-end tests: the real binaries, a daemon on the demo site in a temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const TOBIRAD: &str = env!("CARGO_BIN_EXE_tobirad");
pub const TOBIRA: &str = env!("CARGO_BIN_EXE_tobira");

pub fn demo_site() -> &'static str {
    tobira::demo::DEMO_SITE
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

impl Running {
    pub fn start(dir: &Path) -> Running {
        let site = dir.join("site.toml");
        std::fs::write(&site, demo_site()).unwrap();
        let data = dir.join("data");
        let child = Command::new(TOBIRAD)
            .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--init", "--simulation"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sock = data.join("control.sock");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(sock.exists() && cli(&sock, &["status"]).status.success()) {
            assert!(Instant::now() < deadline, "daemon did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Running { child, sock, data }
    }

    pub fn tobira(&self, args: &[&str]) -> Output {
        cli(&self.sock, args)
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

pub fn cli(sock: &Path, args: &[&str]) -> Output {
    Command::new(TOBIRA).arg("--socket").arg(sock).args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
