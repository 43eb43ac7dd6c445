//! The policy's `audit:` block, compiled into what the server's export
//! schedule runs: an [`audit::Plan`](crate::audit::Plan).

use super::Warning;
use super::model::Audit;
use crate::audit::{Destination, ExportPlan, Plan};
use crate::error::{Error, Result};

/// Compiles `block`; `at` turns a JSON pointer into `file:line:col`.
pub(super) fn compile(block: &Audit, at: &dyn Fn(&str) -> String) -> Result<(Plan, Vec<Warning>)> {
    let export = block
        .export
        .as_ref()
        .map(|e| {
            let destination =
                Destination::parse_policy(&e.destination).map_err(|message| Error::Config {
                    path: at("/audit/export/destination"),
                    message,
                })?;
            Ok::<_, Error>(ExportPlan {
                destination,
                period: e.frequency,
            })
        })
        .transpose()?;
    // Zero would delete every record the moment it is exported, leaving the
    // archive as the only copy: almost certainly a slip, so it is refused.
    if block.retention.is_some_and(|r| r.0 == 0) {
        return Err(Error::Config {
            path: at("/audit/retention"),
            message: "`audit.retention` must be longer than 0s (e.g. 365d): records are \
                      kept in the store at least that long after they are exported"
                .into(),
        });
    }
    let mut warnings = Vec::new();
    if block.retention.is_some() && export.is_none() {
        warnings.push(Warning {
            at: at("/audit/retention"),
            message: "`audit.retention` without `audit.export` removes nothing: only exported \
                      records are removed; add `export: {destination: s3://BUCKET/PREFIX/}`"
                .into(),
        });
    }
    Ok((
        Plan {
            export,
            retention: block.retention.map(|r| std::time::Duration::from_secs(r.0)),
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use crate::audit::{Destination, Period};
    use crate::policy::{PolicySet, Root, Source};
    use std::time::Duration;

    /// Compiles `sources` as one project.
    fn compile(sources: &[Source]) -> crate::Result<PolicySet> {
        crate::policy::compile(&Root::project(sources.to_vec()))
    }

    fn src(name: &str, text: &str) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_seeds_audit_block_becomes_a_plan() {
        let text = "audit:\n  retention: 365d\n  export:\n    destination: s3://your-audit-bucket/\n    format: json\n    frequency: hourly\n";
        let p = compile(&[src("p.yaml", text)]).unwrap();
        let export = p.server.audit.export.unwrap();
        assert_eq!(
            export.destination,
            Destination::parse_policy("s3://your-audit-bucket/").unwrap()
        );
        assert_eq!(export.period, Period::Hourly);
        assert_eq!(
            p.server.audit.retention,
            Some(Duration::from_secs(365 * 86_400))
        );
        assert!(p.server.warnings.is_empty(), "{:?}", p.server.warnings);
        // No block: no plan.
        let p = compile(&[src("p.yaml", "project: x\n")]).unwrap();
        assert_eq!(p.server.audit, crate::audit::Plan::default());
    }

    #[test]
    fn a_bad_destination_names_its_line() {
        let text = "project: x\naudit:\n  export:\n    destination: ftp://x\n";
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:"), "{e}");
        assert!(e.contains("`ftp://` is not supported"), "{e}");
        let text = "audit:\n  export:\n    destination: /var/archive\n";
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(e.contains("leaves the data directory"), "{e}");
    }

    #[test]
    fn one_audit_block_per_policy_and_retention_needs_export() {
        let a = src("a.yaml", "audit:\n  retention: 30d\n");
        let p = compile(std::slice::from_ref(&a)).unwrap();
        assert!(
            p.server.warnings[0].message.contains("removes nothing"),
            "{:?}",
            p.server.warnings
        );
        assert!(
            p.server.warnings[0].at.starts_with("a.yaml:2:"),
            "{:?}",
            p.server.warnings
        );
        let b = src("b.yaml", "audit:\n  export: {destination: exports/}\n");
        let e = compile(&[a, b]).unwrap_err().to_string();
        assert!(e.contains("configured in a.yaml already"), "{e}");
    }

    #[test]
    fn a_zero_retention_is_refused_at_its_line() {
        let text = "audit:\n  export: {destination: exports/}\n  retention: 0s\n";
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(
            e.starts_with("p.yaml:3:") && e.contains("longer than 0s"),
            "{e}"
        );
    }
}
