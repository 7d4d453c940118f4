//! Writes the feature census of the public packetdrill scripts as Markdown.
//!
//! `cargo run -p synack-drill --example features [ROOT] > crates/synack-drill/FEATURES.md`
//! (ROOT defaults to `../shared/conformance` next to the repository). Scripts that fail to
//! parse are listed on stderr and left out of the counts.

use std::path::PathBuf;
use std::process::ExitCode;

use synack_drill::features::Census;
use synack_drill::{find_scripts, parse_file};

fn main() -> ExitCode {
    let root = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
        PathBuf::from,
    );
    let files = match find_scripts(&root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", root.display());
            return ExitCode::FAILURE;
        }
    };
    let mut census = Census::new();
    let mut parsed = 0;
    let mut suites: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &files {
        let suite = f
            .strip_prefix(&root)
            .ok()
            .and_then(|p| p.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        *suites.entry(suite).or_default() += 1;
        match parse_file(f) {
            Ok(s) => {
                census.add_script(&s);
                parsed += 1;
            }
            Err(e) => eprintln!("{e}"),
        }
    }
    let md = census.to_markdown(
        "Features used by the public packetdrill scripts",
        parsed,
        files.len(),
    );
    let suites: Vec<String> = suites.iter().map(|(k, v)| format!("`{k}/` {v}")).collect();
    // Insert the per-suite counts after the summary paragraph.
    match md.split_once("\n## ") {
        Some((head, rest)) => {
            print!(
                "{head}\nScripts per suite: {}.\n\n## {rest}",
                suites.join(", ")
            )
        }
        None => print!("{md}"),
    }
    ExitCode::SUCCESS
}
