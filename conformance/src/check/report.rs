//! The outcome of a run: one [`CheckResult`] per check, printed as a table, as JSON (`--json`) or
//! as JUnit XML (`--junit FILE`). The process exit code is 0 only when no check failed
//! ([`Report::exit_code`]).

use std::fmt::Write as _;

use serde_json::{Value, json};

/// A check's identity: the ID of our spec notes (`AS-05`, `RS-12`, `CC-07`, `EMA-05`, …), the ID
/// of the official `@modelcontextprotocol/conformance` suite when it has the same check, and a
/// one-line title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckId {
    /// Our spec-notes ID (`/work/shared/spec/mcp-auth-2025-11-25.md`, the delta's `-R2-` IDs).
    pub id: &'static str,
    /// The official conformance suite's ID, when there is one.
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
    /// A SHOULD is not met, or something is unusual but allowed.
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
}

/// Every result of a run, in the order the checks ran.
#[derive(Debug, Clone, Default)]
pub struct Report {
    results: Vec<CheckResult>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a result.
    pub fn add(
        &mut self,
        check: CheckId,
        outcome: Outcome,
        reason: impl Into<String>,
        request: Option<String>,
    ) {
        self.results.push(CheckResult {
            check,
            outcome,
            reason: reason.into(),
            request,
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

    /// Append every result of `other`.
    pub fn extend(&mut self, other: Report) {
        self.results.extend(other.results);
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

    /// 0 when nothing failed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Outcome::Fail) > 0)
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

    /// `{"summary":{pass,fail,warn,skip},"results":[{id,official,title,outcome,reason,request}]}`.
    pub fn json(&self) -> Value {
        json!({
            "summary": {
                "pass": self.count(Outcome::Pass),
                "fail": self.count(Outcome::Fail),
                "warn": self.count(Outcome::Warn),
                "skip": self.count(Outcome::Skip),
            },
            "results": self.results.iter().map(|r| json!({
                "id": r.check.id,
                "official": r.check.official,
                "title": r.check.title,
                "outcome": r.outcome.as_str(),
                "reason": r.reason,
                "request": r.request,
            })).collect::<Vec<_>>(),
        })
    }

    /// JUnit XML: one `<testcase>` per result (`classname` = our ID, `name` = the title), a
    /// `<failure>` for a fail, `<skipped>` for a skip, and warnings as passing cases with
    /// `<system-out>`.
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"mcp-auth-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            self.results.len(),
            self.count(Outcome::Fail),
            self.count(Outcome::Skip)
        );
        for r in &self.results {
            let name = match r.check.official {
                Some(o) => format!("{} [{o}]", r.check.title),
                None => r.check.title.to_owned(),
            };
            let _ = write!(
                out,
                "  <testcase classname=\"{}\" name=\"{}\">",
                xml(r.check.id),
                xml(&name)
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
                    let _ = write!(out, "<system-out>WARN: {}</system-out>", xml(&detail));
                }
            }
            out.push_str("</testcase>\n");
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
            "<testsuite name=\"mcp-auth-conformance\" tests=\"2\" failures=\"1\" skipped=\"0\">"
        ));
        assert!(x.contains("<failure message=\"accepted &lt;plain&gt;\">"));
        assert!(x.contains("GET /authorize?x=1&amp;y=2"));
        let t = r.table();
        assert!(t.contains("FAIL  AS-05"));
        assert!(t.contains("        | GET /authorize?x=1&y=2"));
        assert!(t.ends_with("2 checks: 1 passed, 1 failed, 0 warnings, 0 skipped\n"));
    }
}
