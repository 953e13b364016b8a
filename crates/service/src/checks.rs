//! Upgrade checks (`oxistack manage status upgrade-check`), as `nova-status upgrade
//! check` and oslo.upgradecheck do them: each check is Success, Warning or Failure with
//! details saying what to do; the report is a table, and the exit code is the worst
//! result (0 success, 1 warning, 2 failure; 255 when the checks could not run).

use std::fmt;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckResult {
    Success,
    Warning,
    Failure,
}

impl CheckResult {
    /// oslo.upgradecheck's exit codes.
    pub fn exit_code(self) -> u8 {
        match self {
            CheckResult::Success => 0,
            CheckResult::Warning => 1,
            CheckResult::Failure => 2,
        }
    }
}

/// The exit code when the checks themselves could not run.
pub const ERROR_EXIT_CODE: u8 = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub result: CheckResult,
    /// What was found and, when it is not a success, what to do about it.
    pub details: Option<String>,
}

impl Check {
    pub fn success(name: impl Into<String>, details: Option<String>) -> Check {
        Check {
            name: name.into(),
            result: CheckResult::Success,
            details,
        }
    }
    pub fn warning(name: impl Into<String>, details: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            result: CheckResult::Warning,
            details: Some(details.into()),
        }
    }
    pub fn failure(name: impl Into<String>, details: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            result: CheckResult::Failure,
            details: Some(details.into()),
        }
    }
}

/// Every check of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst result (Success for no checks).
    pub fn worst(&self) -> CheckResult {
        self.checks
            .iter()
            .map(|c| c.result)
            .max()
            .unwrap_or(CheckResult::Success)
    }
    pub fn exit_code(&self) -> u8 {
        self.worst().exit_code()
    }
}

const WIDTH: usize = 60;

/// Break `text` into lines of at most `width` characters, at spaces where possible.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split(' ') {
            let mut word = word;
            while word.chars().count() > width {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let cut = word
                    .char_indices()
                    .nth(width)
                    .map_or(word.len(), |(i, _)| i);
                lines.push(word[..cut].to_owned());
                word = &word[cut..];
            }
            let need = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if need > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// The table, as oslo.upgradecheck prints it.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<Vec<String>> = vec![vec!["Upgrade Check Results".into()]];
        for c in &self.checks {
            let mut row = vec![
                format!("Check: {}", c.name),
                format!("Result: {:?}", c.result),
            ];
            let details = format!("Details: {}", c.details.as_deref().unwrap_or("None"));
            row.extend(wrap(&details, WIDTH));
            rows.push(row);
        }
        let width = rows
            .iter()
            .flatten()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let rule = format!("+{}+", "-".repeat(width + 2));
        writeln!(f, "{rule}")?;
        for row in rows {
            for line in row {
                let pad = width - line.chars().count();
                writeln!(f, "| {line}{} |", " ".repeat(pad))?;
            }
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_table_and_exit_codes() {
        let cases: &[(&[CheckResult], u8)] = &[
            (&[], 0),
            (&[CheckResult::Success], 0),
            (&[CheckResult::Success, CheckResult::Warning], 1),
            (&[CheckResult::Failure, CheckResult::Warning], 2),
        ];
        for (results, code) in cases {
            let r = Report {
                checks: results
                    .iter()
                    .map(|&result| Check {
                        name: "x".into(),
                        result,
                        details: None,
                    })
                    .collect(),
            };
            assert_eq!(r.exit_code(), *code, "{results:?}");
        }
        let r = Report {
            checks: vec![
                Check::success("Database", None),
                Check::failure(
                    "Schema",
                    "identity is at version 0 of 1: run `oxistack manage db sync`.",
                ),
            ],
        };
        let text = r.to_string();
        let expect = "\
+--------------------------------------------------------------+
| Upgrade Check Results                                        |
+--------------------------------------------------------------+
| Check: Database                                              |
| Result: Success                                              |
| Details: None                                                |
+--------------------------------------------------------------+
| Check: Schema                                                |
| Result: Failure                                              |
| Details: identity is at version 0 of 1: run `oxistack manage |
| db sync`.                                                    |
+--------------------------------------------------------------+
";
        assert_eq!(text, expect, "\n{text}");
    }

    #[test]
    fn wrap_breaks_long_words() {
        assert_eq!(wrap("abcdef gh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("a b c", 3), vec!["a b", "c"]);
    }
}
