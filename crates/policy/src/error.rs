//! Error types: [`PolicyError`] for loading rules, [`Denied`] for [`authorize`](crate::Policy::authorize).

use std::path::PathBuf;

/// An error raised while parsing rules or building a [`Policy`](crate::Policy).
///
/// All of these are load-time errors: once a `Policy` is built, evaluation cannot fail.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule string is not valid policy language.
    #[error("invalid policy rule {rule:?}: {message} at position {position} in {text:?}")]
    Parse {
        /// The name of the rule whose text failed to parse.
        rule: String,
        /// The rule text itself.
        text: String,
        /// 0-based character offset in `text` where the problem was found.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A `rule:<name>` check names a rule that is not defined.
    #[error("policy rule {rule:?} references undefined rule {missing:?}")]
    UndefinedRule {
        /// The rule containing the reference.
        rule: String,
        /// The referenced rule name that does not exist.
        missing: String,
    },
    /// Rules reference each other in a cycle (`a -> b -> a`).
    #[error("policy rules form a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The rule names along the cycle; the first name is repeated at the end.
        cycle: Vec<String>,
    },
    /// The same rule name appears twice in the code defaults.
    #[error("policy rule {0:?} is defined twice in the defaults")]
    DuplicateDefault(String),
    /// The policy file could not be read.
    #[error("cannot read policy file {}: {source}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policy file (or override text) is not a YAML/JSON mapping of rule name to rule string.
    #[error("invalid policy file {source_name}: {message}")]
    File {
        /// Where the overrides came from (a path, or a caller-supplied label).
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// Why [`Policy::authorize`](crate::Policy::authorize) refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The rule exists and evaluated to false for these credentials and target.
    #[error("{rule} is disallowed by policy")]
    Forbidden {
        /// The rule that was enforced.
        rule: String,
    },
    /// No rule with this name is defined: a programming error in the calling service.
    #[error("policy rule {rule:?} is not defined")]
    UnknownRule {
        /// The rule name that was asked for.
        rule: String,
    },
}
