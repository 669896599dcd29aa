//! The outcome of a run: one [`CheckResult`] per check, printed as a table, as JSON (`--json`) or
//! as JUnit XML (`--junit FILE`). The process exit code ([`Report::exit_code`]) is 2 when the
//! checker could not run as asked (a setup error: a port it could not bind, a client that may not
//! use the flow under test), else 1 when a check failed, else 0; a warning never changes it.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A check's identity: its ID, unique among all checks of every suite (the ID of our spec notes,
/// `AS-05`, `RS-12`, `CC-07`, `EMA-05`, …, followed by a `-WORD` suffix when one rule has several
/// checks: `AS-05-MISSING`, `RS-12-RETRY`), the scenario ID of the official
/// `@modelcontextprotocol/conformance` suite when it checks the same rule, and a one-line title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckId {
    /// The check's unique ID; its part before any `-WORD` suffix is the spec-notes ID
    /// (`/work/shared/spec/mcp-auth-2025-11-25.md`, the delta's `-R2-` IDs) it checks.
    pub id: &'static str,
    /// The official conformance suite's scenario ID, when it checks the same rule.
    pub official: Option<&'static str>,
    /// What is checked, in a few words.
    pub title: &'static str,
}

impl CheckId {
    /// A check with no official counterpart.
    pub const fn ours(id: &'static str, title: &'static str) -> Self {
        Self {
            id,
            official: None,
            title,
        }
    }

    /// A check the official suite also has, as `official`.
    pub const fn official(id: &'static str, official: &'static str, title: &'static str) -> Self {
        Self {
            id,
            official: Some(official),
            title,
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The server behaved as the spec requires.
    Pass,
    /// The server broke a MUST (or the check could not get what it needed from a server that
    /// claims the feature).
    Fail,
    /// Not checked: the reason says what is missing (a client, a user, a key the server trusts).
    Skip,
    /// A SHOULD is not met, or the server made an allowed policy choice (e.g. it accepts any
    /// `resource`); never changes the exit code.
    Warn,
}

impl Outcome {
    /// `pass`, `fail`, `skip` or `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::Warn => "warn",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckId,
    /// Its verdict.
    pub outcome: Outcome,
    /// Why (what was seen, what was expected, or why it was skipped).
    pub reason: String,
    /// The request (and response summary) that failed, secrets redacted
    /// ([`crate::check::http::Exchange::summary`]).
    pub request: Option<String>,
    /// How long the check took: the time since the previous result of the same run.
    pub elapsed: Duration,
}

/// Every result of a run, in the order the checks ran, and the setup errors that kept the
/// checker from running as asked.
#[derive(Debug, Clone)]
pub struct Report {
    results: Vec<CheckResult>,
    setup_errors: Vec<String>,
    mark: Instant,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            results: Vec::new(),
            setup_errors: Vec::new(),
            mark: Instant::now(),
        }
    }
}

impl Report {
    /// An empty report; the first result's time counts from now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that the checker could not run as asked (a port it could not bind, a client
    /// that may not use the flow under test): the exit code becomes 2 whatever the checks say.
    pub fn setup_error(&mut self, reason: impl Into<String>) {
        self.setup_errors.push(reason.into());
    }

    /// The setup errors, in order.
    pub fn setup_errors(&self) -> &[String] {
        &self.setup_errors
    }

    /// Record a result.
    pub fn add(
        &mut self,
        check: CheckId,
        outcome: Outcome,
        reason: impl Into<String>,
        request: Option<String>,
    ) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.mark);
        self.mark = now;
        self.results.push(CheckResult {
            check,
            outcome,
            reason: reason.into(),
            request,
            elapsed,
        });
    }

    /// Record a pass.
    pub fn pass(&mut self, check: CheckId, reason: impl Into<String>) {
        self.add(check, Outcome::Pass, reason, None);
    }

    /// Record a failure with the exchange that shows it.
    pub fn fail(&mut self, check: CheckId, reason: impl Into<String>, request: Option<String>) {
        self.add(check, Outcome::Fail, reason, request);
    }

    /// Record a skip.
    pub fn skip(&mut self, check: CheckId, reason: impl Into<String>) {
        self.add(check, Outcome::Skip, reason, None);
    }

    /// Record a warning with the exchange that shows it.
    pub fn warn(&mut self, check: CheckId, reason: impl Into<String>, request: Option<String>) {
        self.add(check, Outcome::Warn, reason, request);
    }

    /// Pass when `ok`, otherwise fail (or warn, when `level` is [`Outcome::Warn`]) with `reason`.
    pub fn expect(
        &mut self,
        check: CheckId,
        ok: bool,
        level: Outcome,
        reason: impl Into<String>,
        request: Option<String>,
    ) {
        if ok {
            self.add(check, Outcome::Pass, reason, None);
        } else {
            self.add(check, level, reason, request);
        }
    }

    /// Append every result and setup error of `other`.
    pub fn extend(&mut self, other: Report) {
        self.results.extend(other.results);
        self.setup_errors.extend(other.setup_errors);
        self.mark = Instant::now();
    }

    /// The results, in order.
    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    /// The results of check `id` (a check may run more than once, e.g. per auth method).
    pub fn outcomes_of(&self, id: &str) -> Vec<Outcome> {
        self.results
            .iter()
            .filter(|r| r.check.id == id)
            .map(|r| r.outcome)
            .collect()
    }

    /// How many results have `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }

    /// 2 when the checker could not run as asked (a setup error), else 1 when a check failed,
    /// else 0. Warnings and skips never change it.
    pub fn exit_code(&self) -> i32 {
        if !self.setup_errors.is_empty() {
            2
        } else {
            i32::from(self.count(Outcome::Fail) > 0)
        }
    }

    /// A plain-text table: `outcome  ID  official  title  reason`, each failed request indented
    /// below its row, and a summary line.
    pub fn table(&self) -> String {
        let id_w = self
            .results
            .iter()
            .map(|r| r.check.id.len())
            .max()
            .unwrap_or(2)
            .max(2);
        let off_w = self
            .results
            .iter()
            .map(|r| r.check.official.map_or(1, str::len))
            .max()
            .unwrap_or(8)
            .max(8);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<4}  {:<id_w$}  {:<off_w$}  check / reason",
            "", "ID", "official"
        );
        for r in &self.results {
            let _ = writeln!(
                out,
                "{:<4}  {:<id_w$}  {:<off_w$}  {}: {}",
                r.outcome.as_str().to_uppercase(),
                r.check.id,
                r.check.official.unwrap_or("-"),
                r.check.title,
                r.reason
            );
            if let Some(req) = &r.request {
                for line in req.lines() {
                    let _ = writeln!(out, "        | {line}");
                }
            }
        }
        for e in &self.setup_errors {
            let _ = writeln!(out, "ERROR the checker could not run as asked: {e}");
        }
        let _ = writeln!(
            out,
            "\n{} checks: {} passed, {} failed, {} warnings, {} skipped",
            self.results.len(),
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Warn),
            self.count(Outcome::Skip)
        );
        out
    }

    /// `{"summary":{pass,fail,warn,skip},"setup_errors":[…],"results":[{id,official,title,
    /// outcome,reason,request,seconds}]}`.
    pub fn json(&self) -> Value {
        json!({
            "summary": {
                "pass": self.count(Outcome::Pass),
                "fail": self.count(Outcome::Fail),
                "warn": self.count(Outcome::Warn),
                "skip": self.count(Outcome::Skip),
            },
            "setup_errors": self.setup_errors,
            "results": self.results.iter().map(|r| json!({
                "id": r.check.id,
                "official": r.check.official,
                "title": r.check.title,
                "outcome": r.outcome.as_str(),
                "reason": r.reason,
                "request": r.request,
                "seconds": r.elapsed.as_secs_f64(),
            })).collect::<Vec<_>>(),
        })
    }

    /// JUnit XML: one `<testcase>` per result, `classname` = the check ID, `name` = the ID, the
    /// title and the official scenario ID, made unique with ` #2`, ` #3`, … when a check ran
    /// more than once (once per authentication method, per defect, per authorization server),
    /// and `time` = the seconds it took. A fail is a `<failure>`, a skip `<skipped>`, a warning a
    /// passing case with the property `outcome=warn` and `WARN: reason` plus the request in
    /// `<system-out>`. Each setup error is a `setup` case with an `<error>`.
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total: f64 = self.results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "<testsuite name=\"mcp-auth-conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
            self.results.len() + self.setup_errors.len(),
            self.count(Outcome::Fail),
            self.setup_errors.len(),
            self.count(Outcome::Skip)
        );
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for r in &self.results {
            let n = seen.entry(r.check.id).or_insert(0);
            *n += 1;
            let mut name = format!("{} {}", r.check.id, r.check.title);
            if let Some(o) = r.check.official {
                name.push_str(&format!(" [{o}]"));
            }
            if *n > 1 {
                name.push_str(&format!(" #{n}"));
            }
            let _ = write!(
                out,
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(r.check.id),
                xml(&name),
                r.elapsed.as_secs_f64()
            );
            let detail = match &r.request {
                Some(req) => format!("{}\n{req}", r.reason),
                None => r.reason.clone(),
            };
            match r.outcome {
                Outcome::Pass => {}
                Outcome::Fail => {
                    let _ = write!(
                        out,
                        "<failure message=\"{}\">{}</failure>",
                        xml(&r.reason),
                        xml(&detail)
                    );
                }
                Outcome::Skip => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml(&r.reason));
                }
                Outcome::Warn => {
                    let _ = write!(
                        out,
                        "<properties><property name=\"outcome\" value=\"warn\"/></properties><system-out>WARN: {}</system-out>",
                        xml(&detail)
                    );
                }
            }
            out.push_str("</testcase>\n");
        }
        for (i, e) in self.setup_errors.iter().enumerate() {
            let _ = writeln!(
                out,
                "  <testcase classname=\"setup\" name=\"setup #{}\" time=\"0.000\"><error message=\"{}\">{}</error></testcase>",
                i + 1,
                xml(e),
                xml(e)
            );
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: CheckId = CheckId::official("AS-01", "authorization-server-metadata", "issuer");
    const B: CheckId = CheckId::ours("AS-05", "plain refused");

    #[test]
    fn exit_code_is_zero_only_without_failures() {
        let mut r = Report::new();
        r.pass(A, "ok");
        r.skip(B, "no client");
        r.warn(B, "should", None);
        assert_eq!(r.exit_code(), 0);
        r.fail(B, "accepted plain", Some("GET /authorize".into()));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn json_and_junit_carry_outcomes_and_requests() {
        let mut r = Report::new();
        r.pass(A, "ok");
        r.fail(B, "accepted <plain>", Some("GET /authorize?x=1&y=2".into()));
        let j = r.json();
        assert_eq!(j["summary"]["fail"], 1);
        assert_eq!(j["results"][0]["official"], "authorization-server-metadata");
        assert_eq!(j["results"][1]["request"], "GET /authorize?x=1&y=2");
        let x = r.junit();
        assert!(x.contains(
            "<testsuite name=\"mcp-auth-conformance\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\""
        ));
        assert!(x.contains("<failure message=\"accepted &lt;plain&gt;\">"));
        assert!(x.contains("GET /authorize?x=1&amp;y=2"));
        let t = r.table();
        assert!(t.contains("FAIL  AS-05"));
        assert!(t.contains("        | GET /authorize?x=1&y=2"));
        assert!(t.ends_with("2 checks: 1 passed, 1 failed, 0 warnings, 0 skipped\n"));
    }

    /// A setup error (the checker could not run as asked) is exit code 2 whatever the checks
    /// say, and shows in the table, the JSON and the JUnit output.
    #[test]
    fn setup_error_is_exit_code_2() {
        let mut r = Report::new();
        r.pass(A, "ok");
        r.setup_error("--kit-issuer-bind 127.0.0.1:1: address in use");
        assert_eq!(r.exit_code(), 2);
        r.fail(B, "accepted plain", None);
        assert_eq!(r.exit_code(), 2);
        assert!(r.table().contains(
            "ERROR the checker could not run as asked: --kit-issuer-bind 127.0.0.1:1: address in use"
        ));
        assert_eq!(
            r.json()["setup_errors"][0],
            "--kit-issuer-bind 127.0.0.1:1: address in use"
        );
        assert!(r.junit().contains(
            "<testcase classname=\"setup\" name=\"setup #1\" time=\"0.000\"><error message=\"--kit-issuer-bind 127.0.0.1:1: address in use\">"
        ));
    }

    /// A warning (a SHOULD, or a policy choice of the server) is shown as WARN with its
    /// request in the table, marked `outcome=warn` with the request in JUnit, and never changes
    /// the exit code.
    #[test]
    fn warning_shows_in_text_and_junit_and_keeps_exit_code_0() {
        let mut r = Report::new();
        r.warn(
            B,
            "the AS accepts any resource (a policy choice)",
            Some("POST /token\n\nresource=https%3A%2F%2Fx".into()),
        );
        assert_eq!(r.exit_code(), 0);
        let t = r.table();
        assert!(t.contains("WARN  AS-05"), "{t}");
        assert!(t.contains("        | POST /token"), "{t}");
        let x = r.junit();
        assert!(
            x.contains("<property name=\"outcome\" value=\"warn\"/>"),
            "{x}"
        );
        assert!(
            x.contains(
                "<system-out>WARN: the AS accepts any resource (a policy choice)\nPOST /token"
            ),
            "{x}"
        );
        assert!(!x.contains("<failure"), "{x}");
    }

    /// JUnit testcase names are unique even when a check ran several times, and every case
    /// carries a `time`.
    #[test]
    fn junit_names_are_unique_and_timed() {
        let mut r = Report::new();
        r.pass(A, "basic");
        std::thread::sleep(Duration::from_millis(20));
        r.pass(A, "post");
        r.fail(A, "jwt", None);
        r.pass(B, "ok");
        let x = r.junit();
        let names: Vec<&str> = x
            .lines()
            .filter_map(|l| l.split(" name=\"").nth(1))
            .filter_map(|l| l.split('"').next())
            .filter(|n| *n != "mcp-auth-conformance")
            .collect();
        assert_eq!(names.len(), 4, "{x}");
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), 4, "{names:?}");
        assert_eq!(names[1], "AS-01 issuer [authorization-server-metadata] #2");
        assert_eq!(x.matches(" time=\"").count(), 5, "{x}");
        assert!(r.results()[1].elapsed >= Duration::from_millis(20));
        assert!(x.contains("<testcase classname=\"AS-01\" name=\"AS-01 issuer [authorization-server-metadata] #2\" time=\"0.0"), "{x}");
    }
}
