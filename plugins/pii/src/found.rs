//! What the scan finds: the kinds of value, a found value, and how
//! overlapping values resolve into one finding.

/// The kinds of value found, strongest first: when findings overlap, the
/// strongest kind names the merged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Email,
    Iban,
    CreditCard,
    Ssn,
    Phone,
    IpAddress,
    /// Not reported: an IBAN of a known country's exact length whose check
    /// failed. What lies wholly inside it is not reported either.
    IbanShaped,
}

impl Kind {
    /// The kind's name in findings.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Iban => "iban",
            Self::CreditCard => "credit_card",
            Self::Ssn => "ssn",
            Self::Phone => "phone",
            Self::IpAddress => "ip_address",
            Self::IbanShaped => "iban_shaped",
        }
    }
}

/// A value found in the folded bytes (offsets fit in `u32`, like the
/// offsets the host receives; a smaller candidate keeps memory low when a
/// text is dense with values).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) kind: Kind,
}

/// Drops the candidates wholly inside an IBAN-shaped value (and those
/// values), then merges overlapping candidates into one, named after the
/// strongest kind, in place.
pub(crate) fn resolve(found: &mut Vec<Found>) {
    found.sort_unstable_by_key(|f| (f.start, f.end, f.kind));
    if found.iter().any(|f| f.kind == Kind::IbanShaped) {
        // The shapes are sorted by start, like the candidates: one pointer
        // into them follows the candidates.
        let shapes: Vec<(u32, u32)> = found
            .iter()
            .filter(|f| f.kind == Kind::IbanShaped)
            .map(|f| (f.start, f.end))
            .collect();
        let mut next = 0;
        // The furthest end of the shapes starting at or before the candidate.
        let mut cover = (0, 0);
        found.retain(|f| {
            while let Some(&(start, end)) = shapes.get(next).filter(|s| s.0 <= f.start) {
                if end > cover.1 {
                    cover = (start, end);
                }
                next += 1;
            }
            f.kind != Kind::IbanShaped && !(cover.0 <= f.start && f.end <= cover.1)
        });
    }
    let mut kept: usize = 0;
    for k in 0..found.len() {
        let f = found[k];
        match kept.checked_sub(1).map(|last| &mut found[last]) {
            Some(last) if f.start < last.end => {
                last.end = last.end.max(f.end);
                last.kind = last.kind.min(f.kind);
            }
            _ => {
                found[kept] = f;
                kept += 1;
            }
        }
    }
    found.truncate(kept);
}
