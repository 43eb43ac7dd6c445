//! File paths as a policy compares them: absolute, with `.` and `..`
//! resolved and no doubled `/`, so that `src/../../etc/passwd` is
//! `/etc/passwd` and cannot pass for a path under `src/`.
//!
//! Resolution is lexical: the server cannot see the agent's file system,
//! so a symbolic link inside an allowed folder is not followed (see
//! `docs/agents.md`).

/// `path` made absolute against `cwd` and normalised; `None` when it
/// cannot be known here: relative with no absolute working directory, or
/// starting with `~`.
pub fn absolute(path: &str, cwd: Option<&str>) -> Option<String> {
    if path.is_empty() || path.starts_with('~') || path.contains('\0') {
        return None;
    }
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        let cwd = cwd.filter(|c| c.starts_with('/'))?;
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::absolute;

    #[test]
    fn resolves_dots_and_doubled_slashes_against_the_working_directory() {
        let cwd = Some("/work/acme");
        assert_eq!(
            absolute("src/main.rs", cwd).as_deref(),
            Some("/work/acme/src/main.rs")
        );
        assert_eq!(
            absolute("src/../../../etc/passwd", cwd).as_deref(),
            Some("/etc/passwd")
        );
        assert_eq!(absolute("/a//b/./c/", cwd).as_deref(), Some("/a/b/c"));
        assert_eq!(absolute("/../..", cwd).as_deref(), Some("/"));
        assert_eq!(absolute(".", cwd).as_deref(), Some("/work/acme"));
    }

    #[test]
    fn what_cannot_be_known_here_is_none() {
        assert_eq!(absolute("src/a", None), None);
        assert_eq!(absolute("src/a", Some("relative/dir")), None);
        assert_eq!(absolute("~/secrets", Some("/w")), None);
        assert_eq!(absolute("", Some("/w")), None);
    }
}
