//! Running many scripts: per-script results, per-directory tables, the closing summary
//! line, a Markdown report, and the list of scripts that must keep passing.

use super::target::Target;
use super::{Failure, Outcome, Profile, RunConfig, Verdict, run_script};
use crate::parser::parse_file;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One script's result.
#[derive(Clone, Debug)]
pub struct ScriptResult {
    /// The script file.
    pub path: PathBuf,
    /// The profile it ran under.
    pub profile: Profile,
    /// What happened.
    pub outcome: Outcome,
}

/// Runs scripts, each against a fresh target made by a factory.
pub struct Suite<'f> {
    cfg: RunConfig,
    factory: &'f mut dyn FnMut(Profile) -> Box<dyn Target>,
}

impl<'f> Suite<'f> {
    /// A suite with `cfg` (its profile is the default) and a target factory.
    pub fn new(
        cfg: RunConfig,
        factory: &'f mut dyn FnMut(Profile) -> Box<dyn Target>,
    ) -> Suite<'f> {
        Suite { cfg, factory }
    }

    /// Runs one file under `profile` (a parse error is a FAIL: parse errors are bugs).
    pub fn run_file(&mut self, path: &Path, profile: Profile) -> ScriptResult {
        let outcome = match parse_file(path) {
            Ok(script) => {
                let mut cfg = self.cfg.clone();
                cfg.profile = profile;
                let mut target = (self.factory)(profile);
                run_script(&script, target.as_mut(), &cfg)
            }
            Err(e) => Outcome {
                verdict: Verdict::Fail(Box::new(Failure {
                    line: e.line,
                    expected: String::new(),
                    message: format!("parse error: {e}"),
                    actual: None,
                    actual_tcpdump: None,
                    time_usecs: 0,
                })),
                notes: Vec::new(),
                log: Vec::new(),
            },
        };
        ScriptResult {
            path: path.to_path_buf(),
            profile,
            outcome,
        }
    }

    /// Runs every `.pkt` file under each path under the configured profile.
    pub fn run_paths(&mut self, paths: &[PathBuf]) -> std::io::Result<SuiteReport> {
        let mut results = Vec::new();
        for p in paths {
            for f in crate::find_scripts(p)? {
                let profile = self.cfg.profile;
                results.push(self.run_file(&f, profile));
            }
        }
        Ok(SuiteReport { results })
    }
}

/// Counts for one directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// The directory.
    pub dir: String,
    /// Scripts that passed.
    pub passed: usize,
    /// Scripts that failed.
    pub failed: usize,
    /// Scripts that need an unsupported feature.
    pub skipped: usize,
}

impl DirStats {
    fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail(_) => self.failed += 1,
            Verdict::Unsupported(_) => self.skipped += 1,
        }
    }

    /// Scripts counted.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

/// The results of a run over many scripts.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// Every script's result, in run order.
    pub results: Vec<ScriptResult>,
}

/// One line of a script's result: `PASS path`, `FAIL path: line N: ...`, `UNSUPPORTED
/// path: feature`.
pub fn result_line(r: &ScriptResult) -> String {
    let p = r.path.display();
    match &r.outcome.verdict {
        Verdict::Pass => format!("PASS        {p}"),
        Verdict::Fail(f) => format!("FAIL        {p}: {f}"),
        Verdict::Unsupported(s) => format!("UNSUPPORTED {p}: {s}"),
    }
}

impl SuiteReport {
    /// All counts together.
    pub fn totals(&self) -> DirStats {
        let mut t = DirStats {
            dir: "total".into(),
            ..DirStats::default()
        };
        for r in &self.results {
            t.add(&r.outcome.verdict);
        }
        t
    }

    /// `N passed, N failed, N skipped` (skipped = unsupported).
    pub fn summary_line(&self) -> String {
        let t = self.totals();
        format!(
            "{} passed, {} failed, {} skipped",
            t.passed, t.failed, t.skipped
        )
    }

    /// Counts per directory, sorted by directory.
    pub fn by_dir(&self) -> Vec<DirStats> {
        let mut m: BTreeMap<String, DirStats> = BTreeMap::new();
        for r in &self.results {
            let dir = r
                .path
                .parent()
                .map_or_else(|| ".".to_string(), |d| d.display().to_string());
            m.entry(dir.clone())
                .or_insert_with(|| DirStats {
                    dir,
                    ..DirStats::default()
                })
                .add(&r.outcome.verdict);
        }
        m.into_values().collect()
    }

    /// The per-directory table, plain text.
    pub fn table(&self) -> String {
        let rows = self.by_dir();
        let width = rows
            .iter()
            .map(|r| r.dir.len())
            .max()
            .unwrap_or(0)
            .max("directory".len());
        let mut s = format!(
            "{:<width$}  {:>6} {:>6} {:>7} {:>6}\n",
            "directory", "pass", "fail", "skip", "total"
        );
        for r in rows.iter().chain(std::iter::once(&self.totals())) {
            s.push_str(&format!(
                "{:<width$}  {:>6} {:>6} {:>7} {:>6}\n",
                r.dir,
                r.passed,
                r.failed,
                r.skipped,
                r.total()
            ));
        }
        s
    }

    /// A Markdown report: the table, then every script that did not pass, with its reason.
    pub fn markdown(&self, title: &str) -> String {
        let mut s = format!("## {title}\n\n");
        s.push_str(
            "| directory | pass | fail | unsupported | total |\n|---|---:|---:|---:|---:|\n",
        );
        for r in self.by_dir().iter().chain(std::iter::once(&self.totals())) {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                r.dir,
                r.passed,
                r.failed,
                r.skipped,
                r.total()
            ));
        }
        s.push_str(&format!("\n{}\n", self.summary_line()));
        let not_passing: Vec<&ScriptResult> = self
            .results
            .iter()
            .filter(|r| r.outcome.verdict != Verdict::Pass)
            .collect();
        if !not_passing.is_empty() {
            s.push_str("\n| script | result | reason |\n|---|---|---|\n");
            for r in not_passing {
                let (label, reason) = match &r.outcome.verdict {
                    Verdict::Fail(f) => ("FAIL", format!("line {}: {}", f.line, f.message)),
                    Verdict::Unsupported(u) => ("UNSUPPORTED", u.clone()),
                    Verdict::Pass => continue,
                };
                let name = r.path.file_name().map_or_else(
                    || r.path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                s.push_str(&format!(
                    "| `{}` | {label} | {} |\n",
                    name,
                    reason.replace('|', "\\|").replace('\n', " ")
                ));
            }
        }
        s
    }

    /// The passing scripts as `PROFILE PATH` lines (the format of `passing.txt`).
    pub fn passing_lines(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| r.outcome.verdict == Verdict::Pass)
            .map(|r| format!("{} {}", r.profile.name(), r.path.display()))
            .collect()
    }
}

/// Reads a passing list: one `PROFILE PATH` per line; `#` starts a comment.
pub fn read_passing(text: &str) -> Result<Vec<(Profile, PathBuf)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (prof, path) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {}: expected `PROFILE PATH`", i + 1))?;
        let profile = Profile::parse(prof)
            .ok_or_else(|| format!("line {}: unknown profile {prof:?}", i + 1))?;
        out.push((profile, PathBuf::from(path.trim())));
    }
    Ok(out)
}

/// Runs every listed script (paths relative to `base`) and returns the results of those
/// that no longer pass.
pub fn check_passing(
    suite: &mut Suite<'_>,
    list: &[(Profile, PathBuf)],
    base: &Path,
) -> SuiteReport {
    let mut report = SuiteReport::default();
    for (profile, path) in list {
        let full = if path.is_absolute() {
            path.clone()
        } else {
            base.join(path)
        };
        let mut r = suite.run_file(&full, *profile);
        r.path = path.clone();
        report.results.push(r);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(path: &str, verdict: Verdict) -> ScriptResult {
        ScriptResult {
            path: PathBuf::from(path),
            profile: Profile::FreeBsd,
            outcome: Outcome {
                verdict,
                notes: Vec::new(),
                log: Vec::new(),
            },
        }
    }

    #[test]
    fn tables_and_lists() {
        let fail = Verdict::Fail(Box::new(Failure {
            line: 7,
            expected: "+0 > . 1:1(0) ack 2".into(),
            message: "tcp ack: expected 2 vs actual 1".into(),
            actual: None,
            actual_tcpdump: None,
            time_usecs: 0,
        }));
        let report = SuiteReport {
            results: vec![
                result("s/a/x.pkt", Verdict::Pass),
                result("s/a/y.pkt", fail),
                result("s/b/z.pkt", Verdict::Unsupported("sysctl k=v".into())),
            ],
        };
        assert_eq!(report.summary_line(), "1 passed, 1 failed, 1 skipped");
        let dirs = report.by_dir();
        assert_eq!(
            (dirs[0].dir.as_str(), dirs[0].passed, dirs[0].failed),
            ("s/a", 1, 1)
        );
        assert_eq!((dirs[1].dir.as_str(), dirs[1].skipped), ("s/b", 1));
        let md = report.markdown("T");
        assert!(md.contains("| `y.pkt` | FAIL | line 7: tcp ack: expected 2 vs actual 1 |"));
        assert!(md.contains("| `z.pkt` | UNSUPPORTED | sysctl k=v |"));
        assert_eq!(report.passing_lines(), ["freebsd s/a/x.pkt"]);
        let list = read_passing("# c\nfreebsd s/a/x.pkt\n\nlinux   t.pkt # note\n").unwrap();
        assert_eq!(
            list,
            [
                (Profile::FreeBsd, PathBuf::from("s/a/x.pkt")),
                (Profile::Linux, PathBuf::from("t.pkt"))
            ]
        );
        assert!(read_passing("solaris x.pkt").is_err());
        assert!(read_passing("x.pkt").is_err());
    }
}
