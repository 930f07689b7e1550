//! The README is executable (issue 22 §6): the command blocks marked `<!-- readme-test -->` ("New site in
//! 15 minutes") are run in order, as written, against a simulated site in a temporary directory — only the
//! system paths are moved there — so an example that stops working fails here.

use crate::common::{TOBIRAD, text};
use std::process::Command;

/// The marked ```sh blocks of `readme`, in order.
pub fn runnable_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(l) = lines.next() {
        if l.trim() != "<!-- readme-test -->" {
            continue;
        }
        let Some(open) = lines.next() else { break };
        assert_eq!(open.trim(), "```sh", "a readme-test marker must be followed by a ```sh block");
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

#[test]
fn the_readme_marks_its_runnable_blocks() {
    let md = "x\n<!-- readme-test -->\n```sh\necho a\necho b\n```\n```sh\nnot run\n```\n<!-- readme-test -->\n```sh\necho c\n```\n";
    assert_eq!(runnable_blocks(md), vec!["echo a\necho b".to_string(), "echo c".to_string()]);
}

#[test]
fn the_new_site_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 6, "the quick start's blocks are marked: {}", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let bins = TOBIRAD.path().parent().unwrap().to_str().unwrap().to_string();
    let pam_service = format!("tobira-readme-{}", std::process::id());
    let mut script = String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    script.push_str(&format!("export PATH={bins}:$PATH\n"));
    for (i, b) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '### README block {}'\n{b}\n", i + 1));
    }
    // Only where things live moves; every command stays as the README writes it.
    let script = script
        .replace("/etc/pam.d/tobira-try", &format!("/etc/pam.d/{pam_service}"))
        .replace("pamtester tobira-try", &format!("pamtester {pam_service}"))
        .replace("/etc/tobira", &tmp.join("etc").display().to_string())
        .replace("/var/lib/tobira", &tmp.join("data").display().to_string())
        .replace("$PWD/target/release/", &format!("{bins}/"));
    let o = Command::new("bash").arg("-c").arg(&script).current_dir(tmp).output().unwrap();
    let _ = std::fs::remove_file(format!("/etc/pam.d/{pam_service}"));
    let said = text(&o);
    let log = std::fs::read_to_string(tmp.join("data.log")).unwrap_or_default();
    assert!(o.status.success(), "the README's quick start failed:\n{said}\n--- tobirad's log ---\n{log}");
    // What the person following it sees at each step.
    assert!(said.contains("fingerprint") && said.contains("next:"), "--init says what to do next: {said}");
    // The quick start's site file names no enrollment_samples: the default, five.
    assert!(said.contains("tanaka: place your finger 2 on t01-reader (1/5 … 5/5)"), "{said}");
    assert!(said.contains("successfully authenticated"), "pamtester logged tanaka in: {said}");
    assert!(said.contains("(times in JST (UTC+09:00))"), "local times: {said}");
    assert!(tmp.join("入退室管理簿.html").exists() && tmp.join("操作者管理簿.csv").exists(), "{said}");
    assert!(said.contains("intact"), "the record verifies: {said}");
    // `audit show` is a table people read: no hashes, stored texts or nanosecond UTC (issue 22 §3).
    assert!(!said.contains("prev_hash") && !said.contains("time_text"), "{said}");
    assert!(said.contains("(hashes and details: --json)"), "{said}");
    // Short grant ids (issue 22 "Readable output"): printed short, revoked as typed.
    assert!(said.contains("grant: G-0001") && said.contains("revoked: G-0002"), "short grant ids: {said}");
    // Nothing the quick start shows a person is a UTC text, on the terminal or on paper (issue 22 "Times").
    let utc = tobira_cli::local_time::machine_times;
    assert_eq!(utc(&said), Vec::<String>::new(), "UTC text shown to a person: {said}");
    let html = std::fs::read_to_string(tmp.join("入退室管理簿.html")).unwrap();
    assert!(html.contains("時刻: JST (UTC+09:00)"), "the printed ledger names its zone once: {html}");
    assert_eq!(utc(&html), Vec::<String>::new(), "UTC text on the printed ledger");
    let csv = String::from_utf8_lossy(&std::fs::read(tmp.join("操作者管理簿.csv")).unwrap()).to_string();
    // The anchor line keeps the signed text, for machines; every line a person reads is local.
    let read: String = csv.lines().filter(|l| !l.starts_with("#署名付きツリーヘッド")).collect::<Vec<_>>().join("\n");
    assert!(read.contains("#時刻 (times in),JST (UTC+09:00)"), "{read}");
    assert_eq!(utc(&read), Vec::<String>::new(), "UTC text in the CSV's rows or heading: {read}");
}
