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
    for f in &files {
        match parse_file(f) {
            Ok(s) => {
                census.add_script(&s);
                parsed += 1;
            }
            Err(e) => eprintln!("{e}"),
        }
    }
    print!(
        "{}",
        census.to_markdown(
            "Features used by the public packetdrill scripts",
            parsed,
            files.len()
        )
    );
    ExitCode::SUCCESS
}
