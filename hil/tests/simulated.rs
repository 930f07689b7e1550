//! The runner against the simulators, through the same code a hardware run uses: every scenario passes and
//! the JSON report says so.

#[test]
fn the_simulated_bench_passes_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tobira-hil"))
        .args(["--simulate", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["mode"], "simulated");
    assert_eq!(report["failed"], 0, "{report}");
    let scenarios: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    for want in
        ["capture 1", "capture 2", "online, Secure Channel", "strike pulse 2 s", "door contact opens", "exit button"]
    {
        assert!(scenarios.contains(&want), "{want} missing: {scenarios:?}");
    }
}

#[test]
fn a_bad_config_is_refused_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hil.toml");
    std::fs::write(&cfg, "[[reader]]\nid = \"x\"\nkind = \"r30x\"\nbaud = 9\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tobira-hil")).arg("--config").arg(&cfg).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hil.toml") && err.contains("baud"), "{err}");
}
