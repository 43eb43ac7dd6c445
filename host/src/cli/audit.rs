//! `palisade audit`: verify, replay, export, retain.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use palisade::config::LoadedConfig;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The subcommands of `palisade audit`.
#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Check the whole hash chain; name the first record edited, deleted,
    /// reordered or truncated. Exit 1 if broken.
    Verify {
        /// Exported files to verify instead of the store.
        files: Vec<PathBuf>,
    },
    /// Print what happened, in order, with timestamps: one session or one
    /// agent, optionally within a time window (RFC 3339, e.g.
    /// 2026-11-23T14:00:00Z).
    Replay {
        /// The session.
        #[arg(long, required_unless_present = "agent")]
        session: Option<String>,
        /// The agent.
        #[arg(long)]
        agent: Option<String>,
        /// From this time (inclusive).
        #[arg(long)]
        from: Option<String>,
        /// To this time (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Only this project's records.
        #[arg(long)]
        project: Option<String>,
        /// Print each record as its JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Export complete periods as JSON lines files, each verifiable on its own,
    /// to a directory or an S3-compatible bucket: one trail (`--project`), or
    /// every trail (each project's in a folder named after it, when the
    /// store holds more than one trail).
    Export {
        /// Only this project's trail, into the destination itself.
        #[arg(long)]
        project: Option<String>,
        /// A directory, or `s3://BUCKET/PREFIX/` (credentials, region and
        /// endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        /// AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL).
        #[arg(long)]
        to: String,
        /// One file per hour or per day.
        #[arg(long, value_enum, default_value = "daily")]
        period: ExportPeriod,
        /// Also export the period still open (as a stopping server does).
        #[arg(long)]
        include_open_period: bool,
        /// A server configuration to take `audit.s3` (endpoint, region,
        /// path_style) and, unless `--data-dir` is given, `data_dir` from.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Remove the records older than a duration (e.g. 365d, 12h) that were
    /// exported, leaving a checkpoint so the chain still verifies. Records
    /// not exported yet are kept: exit 1 if any of them is older.
    Retain {
        /// Keep records younger than this: `30s`, `60m`, `12h`, `365d`, `1y`.
        #[arg(long)]
        older_than: String,
        /// Only this project's trail (default: every trail).
        #[arg(long)]
        project: Option<String>,
    },
}

/// `--period` of `palisade audit export`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ExportPeriod {
    Hourly,
    Daily,
}

/// Runs one `palisade audit` subcommand on the store in `data_dir`.
pub(super) fn audit(command: AuditCommand, data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use palisade::audit::{self, Timestamp};
    use palisade::store::{AuditStore, Cursor, Filter, SqliteStore};
    // `export --config` takes the data directory from the configuration
    // unless one is given; everything else defaults to `serve`'s.
    let loaded = match &command {
        AuditCommand::Export {
            config: Some(path), ..
        } => Some(LoadedConfig::from_file(path)?),
        _ => None,
    };
    let data_dir = data_dir
        .or_else(|| loaded.as_ref().map(|l| l.config.data_dir.clone()))
        .unwrap_or_else(palisade::config::default_data_dir);
    let data_dir = data_dir.as_path();
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Verify { files } if !files.is_empty() => {
            match audit::verify_export_files(&files)? {
                Ok(reports) => {
                    for r in reports {
                        writeln!(out, "ok: {}", serde_json::to_string(&r)?)?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    writeln!(out, "BROKEN: {broken}")?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Verify { .. } => match audit::verify_dir(data_dir)? {
            Ok(report) => {
                writeln!(
                    out,
                    "ok: {} records, chain intact through record {} (hash {})",
                    report.records, report.last_seq, report.last_hash
                )?;
                if let [only] = report.trails.as_slice() {
                    if let Some(c) = &only.checkpoint {
                        writeln!(
                            out,
                            "starts after the retention checkpoint at record {}",
                            c.seq
                        )?;
                    }
                } else {
                    for t in &report.trails {
                        let after = t.checkpoint.as_ref().map_or(String::new(), |c| {
                            format!(", after the retention checkpoint at record {}", c.seq)
                        });
                        writeln!(
                            out,
                            "  {}: {} records through record {} (hash {}){after}",
                            palisade::store::trail_name(t.project.as_deref()),
                            t.records,
                            t.last_seq,
                            t.last_hash
                        )?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(broken) => {
                writeln!(out, "BROKEN: {broken}")?;
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCommand::Replay {
            session,
            agent,
            from,
            to,
            project,
            json,
        } => {
            let time = |v: Option<String>| -> anyhow::Result<Option<Timestamp>> {
                v.map(|v| {
                    v.parse::<Timestamp>().with_context(|| {
                        format!("`{v}` is not an RFC 3339 time, e.g. 2026-11-23T14:00:00Z")
                    })
                })
                .transpose()
            };
            let filter = Filter {
                session,
                agent,
                project,
                from_ts: time(from)?,
                to_ts: time(to)?,
                ..Filter::default()
            };
            let mut store = SqliteStore::open_existing(data_dir)?;
            let mut cursor = Cursor::OLDEST;
            let mut n = 0u64;
            loop {
                let page = store.query(&filter, cursor, 1000)?;
                let Some(last) = page.last().map(|r| r.seq) else {
                    break;
                };
                for r in &page {
                    n += 1;
                    if json {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    } else {
                        writeln!(out, "{}", replay_line(r))?;
                    }
                }
                cursor = Cursor::After(last);
            }
            if n == 0 {
                eprintln!("no records match");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            project,
            to,
            period,
            include_open_period,
            config: _,
        } => {
            let destination = audit::Destination::parse_cli(&to).map_err(anyhow::Error::msg)?;
            let s3 = loaded.map(|l| l.config.audit.s3).unwrap_or_default();
            let mut store = SqliteStore::open_existing(data_dir)?;
            let _lock = lock_for_writing(data_dir)?;
            let period = match period {
                ExportPeriod::Hourly => audit::Period::Hourly,
                ExportPeriod::Daily => audit::Period::Daily,
            };
            let horizon = match include_open_period {
                true => audit::Horizon::Everything,
                false => audit::Horizon::Complete(Timestamp::now()),
            };
            // One trail into the destination; every trail, each project's
            // into its own folder when there are several.
            let trails = chosen_trails(&mut store, project)?;
            let folders = trails.len() > 1;
            let mut files = Vec::new();
            for trail in &trails {
                let destination = match trail {
                    Some(p) if folders => destination.within(p).map_err(anyhow::Error::msg)?,
                    _ => destination.clone(),
                };
                // The operator's own directory: any path, relative to here.
                let mut sink: Box<dyn audit::ExportSink> = match &destination {
                    audit::Destination::Dir(dir) => Box::new(audit::DirSink::new(dir)?),
                    s3_bucket => s3_bucket.open(data_dir, data_dir, &s3)?,
                };
                let written =
                    audit::export(&mut store, sink.as_mut(), trail.as_deref(), period, horizon)?;
                for f in &written {
                    writeln!(out, "{}", serde_json::to_string(f)?)?;
                }
                files.extend(written);
            }
            if files.is_empty() {
                if include_open_period {
                    eprintln!("nothing new to export");
                } else {
                    eprintln!("nothing new to export (only complete periods are exported)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Retain {
            older_than,
            project,
        } => retain(data_dir, &older_than, project, &mut out),
    }
}

/// The data directory's audit lock, for a command that moves the export
/// mark or the retention checkpoint: refused while a server runs on it (two
/// exporters would advance one mark, and an export made to look at records
/// would hide them from the server's own export).
fn lock_for_writing(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    palisade::audit::lock_data_dir(data_dir).with_context(|| {
        format!(
            "`{}` is in use by a running palisade: its own schedule exports and applies \
             retention (the policy's `audit:` block); stop it to run this by hand",
            data_dir.display()
        )
    })
}

/// `palisade audit retain`: removes what is exported and older, from one
/// trail or every trail; says what it kept because it was not exported.
fn retain(
    data_dir: &std::path::Path,
    older_than: &str,
    project: Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    use palisade::audit::{self, Timestamp};
    use palisade::store::{AuditStore, SqliteStore, trail_name};
    let keep = palisade::policy::units::Duration::parse(older_than).map_err(anyhow::Error::msg)?;
    let keep = audit::cutoff(Timestamp::now(), std::time::Duration::from_secs(keep.0))
        .with_context(|| format!("`{older_than}` reaches before any possible record"))?;
    let mut store = SqliteStore::open_existing(data_dir)?;
    let trails = chosen_trails(&mut store, project)?;
    // The run is recorded in the chain, so the log's own writer is opened
    // (it takes the lock; asked first for the clearer message).
    drop(lock_for_writing(data_dir)?);
    let log = audit::AuditLog::open(data_dir)?;
    let details = std::collections::BTreeMap::from([
        ("trigger".to_owned(), "cli".into()),
        ("retention".to_owned(), older_than.into()),
    ]);
    let mut removed = Vec::new();
    for trail in &trails {
        removed.push(audit::retain(&log, trail.as_deref(), keep, &details)?);
    }
    log.close()?;
    let mut all_exported = true;
    for (trail, removed) in trails.iter().zip(removed) {
        let trail = trail.as_deref();
        let name = trail_name(trail);
        match removed.through_seq {
            Some(seq) => writeln!(
                out,
                "{name}: removed {} records older than {}; the chain now starts after record {seq} (checkpoint)",
                removed.records,
                audit::format_ts(keep)
            )?,
            None => writeln!(out, "{name}: nothing to remove")?,
        }
        // Older records of the trail after its export mark.
        let exported = store.export_mark(trail)?.map_or(0, |m| m.seq);
        let last = store
            .last_seq_before(trail, &audit::format_ts(keep), u64::MAX)?
            .unwrap_or(0);
        let (mut kept, mut first) = (0u64, None);
        if last > exported {
            store.scan_trail(trail, exported, last, &mut |row| {
                kept += 1;
                first.get_or_insert(row.seq);
                Ok(true)
            })?;
        }
        if let Some(first) = first {
            all_exported = false;
            writeln!(
                out,
                "{name}: kept {kept} older records that are not exported yet (records \
                 {first}..={last}); export them first (`palisade audit export`)"
            )?;
        }
    }
    Ok(if all_exported {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line of `audit replay`: when, who, what, and the answer.
/// One record as a line for a person: every value that an agent, a plugin
/// or an administrator wrote is escaped, so that none can clear the screen,
/// recolour it or print a line of its own.
fn replay_line(r: &palisade::audit::Record) -> String {
    let or = |v: &Option<String>| {
        palisade::display::escape(v.as_deref().unwrap_or_default()).into_owned()
    };
    match r.event.as_deref() {
        Some(event) => format!(
            "{}  #{}  admin  {}  {}",
            r.ts,
            r.seq,
            palisade::display::escape(event),
            palisade::display::escape(
                &r.details
                    .as_ref()
                    .map(|d| serde_json::Value::Object(d.clone().into_iter().collect()).to_string())
                    .unwrap_or_default()
            )
        ),
        None => format!(
            "{}  #{}  {} (session {})  {}:{} on {}  ->  {}  ({})",
            r.ts,
            r.seq,
            or(&r.agent),
            or(&r.session),
            or(&r.service),
            or(&r.action),
            or(&r.resource),
            r.decision
                .map(|d| serde_json::to_value(d)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default())
                .unwrap_or_default(),
            or(&r.reason),
        ),
    }
}

/// The trails `--project` names: that project's (a plain project name whose
/// trail the store holds, else an error naming the trails there are), or
/// every trail.
fn chosen_trails(
    store: &mut palisade::store::SqliteStore,
    project: Option<String>,
) -> anyhow::Result<Vec<Option<String>>> {
    use palisade::store::AuditStore;
    let all: Vec<Option<String>> = store.trails()?.into_iter().map(|t| t.project).collect();
    let Some(p) = project else {
        return Ok(all);
    };
    palisade::identity::check_project_name(&p).map_err(anyhow::Error::msg)?;
    if !all.iter().any(|t| t.as_deref() == Some(p.as_str())) {
        let known: Vec<&str> = all.iter().flatten().map(String::as_str).collect();
        anyhow::bail!(
            "the store holds no trail of project `{p}`; its projects' trails are: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(vec![Some(p)])
}
