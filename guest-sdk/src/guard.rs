//! Guards against resources that mean different things to different readers.

/// Why a resource should be refused before any rule is read, if it should:
/// control characters, percent-encoding, backslashes, `//`, `.` or `..` path
/// segments, and (unless `allow_unicode`) non-ASCII characters, which include
/// look-alikes of ASCII letters. A plugin that denies these cannot be talked
/// past a rule by a spelling its service would read differently.
///
/// ```
/// use palisade_guest::guard::ambiguity;
/// assert_eq!(ambiguity("acme/api", false), None);
/// assert!(ambiguity("acme/../secrets", false).is_some());
/// assert!(ambiguity("acme/%2e%2e/secrets", false).is_some());
/// ```
pub fn ambiguity(resource: &str, allow_unicode: bool) -> Option<&'static str> {
    if resource.chars().any(char::is_control) {
        return Some("control characters");
    }
    if resource.contains('%') {
        return Some("percent-encoding");
    }
    if resource.contains('\\') {
        return Some("a backslash");
    }
    if !allow_unicode && !resource.is_ascii() {
        return Some("non-ASCII characters");
    }
    if resource.contains("//") {
        return Some("an empty path segment");
    }
    if resource.split('/').any(|s| s == "." || s == "..") {
        return Some("a `.` or `..` path segment");
    }
    None
}

/// True when the plugin configuration says `{"allow_unicode": true}`.
pub fn allow_unicode_configured() -> bool {
    flag_configured("allow_unicode")
}

/// True when the plugin configuration sets the flag `name` to `true`
/// (`{"name": true}`).
pub fn flag_configured(name: &str) -> bool {
    crate::config()
        .replace([' ', '\n', '\t', '\r'], "")
        .contains(&format!("\"{name}\":true"))
}
