//! Every public packetdrill script under `../shared/conformance` must parse (issue 9: parse
//! errors are bugs), and printing a parsed script must give text that parses back to the
//! same events.

use std::path::PathBuf;

use synack_drill::{find_scripts, parse_file, parse_named};

fn conformance_root() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if root.is_dir() {
        Some(root)
    } else {
        println!(
            "SKIP: {} is absent; the public packetdrill scripts are not available",
            root.display()
        );
        None
    }
}

#[test]
fn every_public_script_parses() {
    let Some(root) = conformance_root() else {
        return;
    };
    let files = find_scripts(&root).expect("walk the conformance folder");
    assert!(
        files.len() > 100,
        "expected the public suites, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut events = 0usize;
    for f in &files {
        match parse_file(f) {
            Ok(s) => {
                assert!(!s.events.is_empty(), "{}: no events", f.display());
                events += s.events.len();
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    println!(
        "parsed {} / {} scripts ({events} events)",
        files.len() - failures.len(),
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} scripts do not parse:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_public_script_round_trips_through_display() {
    let Some(root) = conformance_root() else {
        return;
    };
    let mut checked = 0;
    for f in find_scripts(&root).expect("walk the conformance folder") {
        let Ok(script) = parse_file(&f) else {
            continue; // reported by every_public_script_parses
        };
        let printed = script.to_string();
        let name = format!("{} (reprinted)", f.display());
        let again = parse_named(&name, &printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(script.options.len(), again.options.len(), "{name}");
        for (a, b) in script.options.iter().zip(&again.options) {
            assert_eq!((&a.name, &a.value), (&b.name, &b.value), "{name}");
        }
        assert_eq!(script.events.len(), again.events.len(), "{name}");
        for (a, b) in script.events.iter().zip(&again.events) {
            assert_eq!(
                (&a.time, &a.end, &a.guards, &a.kind),
                (&b.time, &b.end, &b.guards, &b.kind),
                "{name}: line {} `{a}` reprinted as `{b}`",
                a.line
            );
        }
        checked += 1;
    }
    println!("{checked} scripts round-trip");
}
