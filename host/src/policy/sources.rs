//! Reading a policy root from disk: one project (a file, or a folder of
//! `.yaml` files), or a directory of projects (one folder per project, plus
//! top-level files for the server's administrators and roles).

use crate::error::{Error, Result};
use cap_std::fs::Dir;

/// A policy source text and its name (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name shown in messages and in rule ids (so in the reasons agents
    /// read), relative to the policy root, e.g. `ci.yaml` or
    /// `platform/ci.yaml`: never the server's absolute paths.
    pub name: String,
    /// The text.
    pub text: String,
}

/// How a policy root is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One project: a file, or a folder of `.yaml` files without subfolders.
    #[default]
    Project,
    /// A directory of projects: each subfolder is one project; top-level
    /// files hold only the server's `admins`, `roles` and `audit`.
    Projects,
}

/// The files of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSources {
    /// The project's folder, relative to the policy root (`""` for a root
    /// that is one project).
    pub folder: String,
    /// Its files, in name order.
    pub sources: Vec<Source>,
    /// Why the folder could not be read (a file that is not UTF-8, policy
    /// files one folder too deep, …): the project's failure, not the root's.
    pub unreadable: Option<(String, String)>,
}

impl ProjectSources {
    /// The files, or why the folder could not be read.
    pub fn readable(&self) -> Result<&[Source]> {
        match &self.unreadable {
            None => Ok(&self.sources),
            Some((path, message)) => Err(Error::Config {
                path: path.clone(),
                message: message.clone(),
            }),
        }
    }

    /// A folder that could not be read, and why.
    fn unreadable(folder: String, e: &Error) -> Self {
        let (path, message) = match e {
            Error::Config { path, message } => (path.clone(), message.clone()),
            e => (format!("{folder}/"), e.to_string()),
        };
        Self {
            folder,
            sources: Vec::new(),
            unreadable: Some((path, message)),
        }
    }
}

/// Everything under a policy root, read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Root {
    /// How the root is laid out.
    pub layout: Layout,
    /// The server's own files (top-level files of a directory of projects).
    pub server: Vec<Source>,
    /// The projects' files.
    pub projects: Vec<ProjectSources>,
}

impl Root {
    /// A root that is one project of these sources.
    pub fn project(sources: Vec<Source>) -> Self {
        Self {
            layout: Layout::Project,
            server: Vec::new(),
            projects: vec![ProjectSources {
                folder: String::new(),
                sources,
                unreadable: None,
            }],
        }
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Reads `name` (a file, or a directory) from `dir`. A file is one project;
/// a directory without subfolders of `.yaml` files is one project of its
/// files; a directory with such subfolders is a directory of projects, one
/// per subfolder, its top-level files being the server's. Folders holding
/// no `.yaml` file (plugins, say) are not projects and are passed over.
/// Sources are named relative to `name`; `display` names the root in errors
/// about the root itself.
pub fn read_root(dir: &Dir, name: &str, display: &str) -> Result<Root> {
    let io = |e: std::io::Error| Error::Config {
        path: display.to_owned(),
        message: format!(
            "cannot read the policy (paths cannot leave the configuration's directory): {e}"
        ),
    };
    let meta = dir.metadata(name).map_err(io)?;
    if meta.is_file() {
        let text = dir.read_to_string(name).map_err(io)?;
        let file_name = std::path::Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name);
        return Ok(Root::project(vec![Source {
            name: file_name.to_owned(),
            text,
        }]));
    }
    let sub = dir.open_dir(name).map_err(io)?;
    let (files, folders) = entries(&sub).map_err(io)?;
    let read = |d: &Dir, prefix: &str, names: &[String]| -> Result<Vec<Source>> {
        names
            .iter()
            .map(|n| {
                let name = format!("{prefix}{n}");
                let text = d.read_to_string(n).map_err(|e| Error::Config {
                    path: name.clone(),
                    message: format!("cannot read this policy file: {e}"),
                })?;
                Ok(Source { name, text })
            })
            .collect()
    };
    // A folder is a project when it holds `.yaml` files. What goes wrong
    // reading one folder is that project's failure, not the root's.
    let folder_err = |folder: &str, e: std::io::Error| Error::Config {
        path: format!("{folder}/"),
        message: format!("cannot read the project's folder: {e}"),
    };
    let mut projects = Vec::new();
    for folder in folders {
        let listed = sub
            .open_dir(&folder)
            .and_then(|d| entries(&d).map(|e| (d, e)))
            .map_err(|e| folder_err(&folder, e));
        let (project_dir, (names, nested)) = match listed {
            Ok(listed) => listed,
            Err(e) => {
                projects.push(ProjectSources::unreadable(folder, &e));
                continue;
            }
        };
        if names.is_empty() {
            tracing::debug!(folder, "a folder without `.yaml` files is not a project");
            continue;
        }
        let read_project = || -> Result<Vec<Source>> {
            // A folder inside a project that holds policy files would be
            // passed over: refused instead, so nothing is silently left out.
            for n in &nested {
                let inner = project_dir
                    .open_dir(n)
                    .and_then(|d| entries(&d))
                    .map_err(|e| folder_err(&folder, e))?;
                if !inner.0.is_empty() {
                    return Err(Error::Config {
                        path: format!("{folder}/{n}"),
                        message: "this folder inside a project holds `.yaml` files, which \
                                  would not be read: a project is one folder directly under \
                                  the policy directory"
                            .into(),
                    });
                }
            }
            read(&project_dir, &format!("{folder}/"), &names)
        };
        projects.push(match read_project() {
            Ok(sources) => ProjectSources {
                folder,
                sources,
                unreadable: None,
            },
            Err(e) => ProjectSources::unreadable(folder, &e),
        });
    }
    if projects.is_empty() {
        if files.is_empty() {
            return Err(Error::Config {
                path: display.to_owned(),
                message: "the policy directory holds no `.yaml` or `.yml` files".into(),
            });
        }
        return Ok(Root::project(read(&sub, "", &files)?));
    }
    Ok(Root {
        layout: Layout::Projects,
        server: read(&sub, "", &files)?,
        projects,
    })
}

/// The `.yaml` files and the subfolders of `dir`, each sorted by name
/// (hidden entries, such as an editor's or git's, are skipped).
fn entries(dir: &Dir) -> std::io::Result<(Vec<String>, Vec<String>)> {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for entry in dir.entries()? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Following a symbolic link (within the directory: the capability
        // refuses one that leaves it), so a linked folder is a folder.
        let kind = dir.metadata(&name)?;
        if kind.is_dir() {
            folders.push(name);
        } else if is_yaml(&name) {
            files.push(name);
        }
    }
    files.sort();
    folders.sort();
    Ok((files, folders))
}
