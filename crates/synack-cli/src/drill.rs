//! `synack drill`: runs packetdrill scripts against the synack stack.
//!
//! ```text
//! synack drill [--profile linux|freebsd|auto] [--relax window,options-order,psh,timing]
//!              [--define NAME]... [--sysctl NAME=VALUE]... [--strict-segments]
//!              [--tolerance_usecs N] [--verbose] [--report-md FILE] [--write-passing FILE] PATHS...
//! synack drill --check-passing FILE [--relax ...]
//! ```
//!
//! Prints one line per script (`PASS`, `FAIL` with the first mismatch, `UNSUPPORTED` with
//! the missing feature), a per-directory table, and `N passed, N failed, N skipped`. Exits
//! 0 when nothing failed (unsupported scripts do not fail the run). `--check-passing`
//! re-runs the scripts a list names (`PROFILE PATH` lines, paths relative to the list's
//! directory's parent... or absolute) and exits 1 if any no longer passes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synack_drill::run::{
    Profile, Relax, RunConfig, StackTarget, Suite, SuiteReport, Target, Verdict, check_passing,
    read_passing, result_line,
};

const USAGE: &str = "\
usage: synack drill [options] PATHS...
       synack drill --check-passing FILE [options]

options:
  --profile linux|freebsd|auto  stack profile (default linux; auto: freebsd for paths
                                containing a `freebsd` directory)
  --relax LIST                  relax comparisons: window,options-order,psh,timing
  --define NAME                 define NAME for #ifdef (FreeBSD is defined by the profile)
  --sysctl NAME=VALUE           configure the simulated host before each script (repeatable;
                                the script's own sysctl lines still apply after it)
  --strict-segments             never aggregate segments into one expected line (no TSO)
  --tolerance_usecs N           override the scripts' timing tolerance
  --verbose                     print the trace of every script
  --report-md FILE              write a Markdown report (table and every non-passing script)
  --report-append               append the report to FILE instead of replacing it
  --title TEXT                  the report's section title
  --relax-matrix                also run under each relaxation alone and all together, and
                                add their counts to the report
  --write-passing FILE          write the passing scripts as `PROFILE PATH` lines
  --check-passing FILE          run the scripts FILE lists; fail if any no longer passes
";

struct Args {
    cfg: RunConfig,
    auto: bool,
    paths: Vec<PathBuf>,
    report_md: Option<PathBuf>,
    append: bool,
    title: Option<String>,
    matrix: bool,
    write_passing: Option<PathBuf>,
    check_passing: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        cfg: RunConfig::default(),
        auto: false,
        paths: Vec::new(),
        report_md: None,
        append: false,
        title: None,
        matrix: false,
        write_passing: None,
        check_passing: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--profile" => {
                let v = value(flag)?;
                if v == "auto" {
                    a.auto = true;
                } else {
                    a.cfg.profile =
                        Profile::parse(&v).ok_or_else(|| format!("unknown profile {v:?}"))?;
                }
            }
            "--relax" => a.cfg.relax = Relax::parse(&value(flag)?)?,
            "--define" => a.cfg.defines.push(value(flag)?),
            "--sysctl" => {
                let v = value(flag)?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--sysctl needs NAME=VALUE, got {v:?}"))?;
                a.cfg.host_sysctls.push((
                    k.trim().to_string(),
                    val.trim().trim_matches('"').to_string(),
                ));
            }
            "--strict-segments" => a.cfg.strict_segments = true,
            "--tolerance_usecs" | "--tolerance-usecs" => {
                let v = value(flag)?;
                a.cfg.tolerance_usecs =
                    Some(v.parse().map_err(|_| format!("bad tolerance {v:?}"))?);
            }
            "--verbose" | "-v" => a.cfg.verbose = true,
            "--report-md" => a.report_md = Some(value(flag)?.into()),
            "--report-append" => a.append = true,
            "--title" => a.title = Some(value(flag)?),
            "--relax-matrix" => a.matrix = true,
            "--write-passing" => a.write_passing = Some(value(flag)?.into()),
            "--check-passing" => a.check_passing = Some(value(flag)?.into()),
            "-h" | "--help" => return Err(String::new()),
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            _ => a.paths.push(arg.into()),
        }
    }
    if a.paths.is_empty() && a.check_passing.is_none() {
        return Err("no scripts given".into());
    }
    Ok(a)
}

/// The profile `auto` picks for a script.
fn auto_profile(path: &Path) -> Profile {
    if path.components().any(|c| c.as_os_str() == "freebsd") {
        Profile::FreeBsd
    } else {
        Profile::Linux
    }
}

fn print_result(r: &synack_drill::run::ScriptResult, verbose: bool) {
    println!("{}", result_line(r));
    if verbose {
        for l in &r.outcome.log {
            println!("    {l}");
        }
        for n in &r.outcome.notes {
            println!("    note: {n}");
        }
    }
}

fn finish(report: &SuiteReport, a: &Args, matrix: &str) -> Result<(), String> {
    println!();
    print!("{}", report.table());
    println!("{}", report.summary_line());
    if !matrix.is_empty() {
        print!("\n{matrix}");
    }
    if let Some(p) = &a.report_md {
        let title = a.title.clone().unwrap_or_else(|| {
            let prof = if a.auto { "auto" } else { a.cfg.profile.name() };
            let mut t = format!("synack drill --profile {prof}");
            if !a.cfg.relax.is_strict() {
                t.push_str(" (relaxed)");
            }
            t
        });
        let mut text = report.markdown(&title);
        if !matrix.is_empty() {
            text.push_str(&format!("\nUnder relaxations:\n\n{matrix}"));
        }
        text.push('\n');
        if a.append {
            let mut old = std::fs::read_to_string(p).unwrap_or_default();
            old.push_str(&text);
            text = old;
        }
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &a.write_passing {
        let mut lines = report.passing_lines();
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The relaxations `--relax-matrix` tries, alone and together.
const RELAXATIONS: &[&str] = &[
    "window",
    "options-order",
    "psh",
    "timing",
    "window,options-order,psh,timing",
];

/// Re-runs the scripts of `report` under each relaxation; a Markdown table of the counts.
fn relax_matrix(report: &SuiteReport, a: &Args) -> String {
    let mut s = String::from("| relaxation | pass | fail | unsupported |\n|---|---:|---:|---:|\n");
    let t = report.totals();
    s.push_str(&format!(
        "| strict | {} | {} | {} |\n",
        t.passed, t.failed, t.skipped
    ));
    for r in RELAXATIONS {
        let mut cfg = a.cfg.clone();
        cfg.relax = Relax::parse(r).unwrap_or_default();
        cfg.verbose = false;
        let mut factory = |p: Profile| -> Box<dyn Target> { Box::new(StackTarget::new(p)) };
        let mut suite = Suite::new(cfg, &mut factory);
        let mut rep = SuiteReport::default();
        for res in &report.results {
            rep.results.push(suite.run_file(&res.path, res.profile));
        }
        let t = rep.totals();
        s.push_str(&format!(
            "| {r} | {} | {} | {} |\n",
            t.passed, t.failed, t.skipped
        ));
    }
    s
}

/// Runs `synack drill` with its arguments (after the subcommand name).
pub fn main(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("synack drill: {e}\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A host setting the stack refuses would turn every script into UNSUPPORTED: refuse
    // it here instead, under each profile it could run with.
    for p in [Profile::Linux, Profile::FreeBsd] {
        let mut t = StackTarget::new(p);
        for (k, v) in &a.cfg.host_sysctls {
            if let Err(e) = t.sysctl(k, v) {
                eprintln!(
                    "synack drill: --sysctl {k}={v}: {e:?} ({} profile)",
                    p.name()
                );
                return ExitCode::from(2);
            }
        }
    }
    let mut factory = |p: Profile| -> Box<dyn Target> { Box::new(StackTarget::new(p)) };
    let mut suite = Suite::new(a.cfg.clone(), &mut factory);
    let report = if let Some(list) = &a.check_passing {
        let text = match std::fs::read_to_string(list) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("synack drill: {}: {e}", list.display());
                return ExitCode::from(2);
            }
        };
        let entries = match read_passing(&text) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("synack drill: {}: {e}", list.display());
                return ExitCode::from(2);
            }
        };
        // Paths in the list are relative to the repository root: the list's directory's
        // parent (the list lives in `conformance/`).
        let base = list
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let report = check_passing(&mut suite, &entries, &base);
        for r in &report.results {
            print_result(r, a.cfg.verbose);
        }
        report
    } else {
        let mut report = SuiteReport::default();
        for p in &a.paths {
            let files = match synack_drill::find_scripts(p) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("synack drill: {}: {e}", p.display());
                    return ExitCode::from(2);
                }
            };
            for f in files {
                let profile = if a.auto {
                    auto_profile(&f)
                } else {
                    a.cfg.profile
                };
                let r = suite.run_file(&f, profile);
                print_result(&r, a.cfg.verbose);
                report.results.push(r);
            }
        }
        report
    };
    let matrix = if a.matrix {
        relax_matrix(&report, &a)
    } else {
        String::new()
    };
    if let Err(e) = finish(&report, &a, &matrix) {
        eprintln!("synack drill: {e}");
        return ExitCode::from(2);
    }
    let failed = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome.verdict, Verdict::Fail(_)))
        .count();
    if a.check_passing.is_some() {
        let regressed = report
            .results
            .iter()
            .filter(|r| r.outcome.verdict != Verdict::Pass)
            .count();
        if regressed > 0 {
            eprintln!("synack drill: {regressed} script(s) listed as passing no longer pass");
            return ExitCode::from(1);
        }
        return ExitCode::SUCCESS;
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
