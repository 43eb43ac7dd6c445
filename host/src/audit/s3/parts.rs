//! How [`S3Sink`](super::S3Sink) cuts a file into the parts of a multipart
//! upload, and the MD5 of each part (its `Content-MD5`), computed while the
//! file is spooled so that a part is read once, to be sent.

use md5::{Digest as _, Md5};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// The smallest part S3 accepts, except for the last one: 5 MiB.
pub(super) const MIN_PART: u64 = 5 << 20;
/// The largest part, and the largest object one `PUT` may create: 5 GiB.
pub(super) const MAX_PART: u64 = 5 << 30;
/// The most parts one upload may have.
pub(super) const MAX_PARTS: u64 = 10_000;
/// The largest object S3 stores: 5 TiB.
pub(super) const MAX_OBJECT: u64 = 5 << 40;
/// The part size unless configured: 64 MiB. An hourly file of 30 GB (10,000
/// decisions a second) is ~450 parts; files up to 625 GiB keep this size.
pub(super) const DEFAULT_PART: u64 = 64 << 20;

/// How a file goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// In one `PUT`: the file fits in one part.
    Single,
    /// In `count` parts of `size` bytes (the last one possibly shorter).
    Parts {
        /// Bytes per part.
        size: u64,
        /// How many parts (at most [`MAX_PARTS`]).
        count: u64,
    },
}

/// How a file of `len` bytes goes up, with parts of `part` bytes: in one
/// `PUT` if it fits in one part; else in parts of `part` bytes, doubled as
/// often as needed for at most 10,000 parts to hold the file (never above
/// 5 GiB). A file over 5 TiB, the largest S3 object, is refused.
pub(super) fn plan(len: u64, part: u64) -> Result<Plan, String> {
    if len > MAX_OBJECT {
        return Err(format!(
            "the file is {len} bytes, more than an S3 object can hold (5 TiB)"
        ));
    }
    let mut size = part.clamp(1, MAX_PART);
    if len <= size {
        return Ok(Plan::Single);
    }
    while size.saturating_mul(MAX_PARTS) < len && size < MAX_PART {
        size = size.saturating_mul(2).min(MAX_PART);
    }
    let count = len.div_ceil(size);
    if count > MAX_PARTS {
        return Err(format!(
            "the file is {len} bytes, more than {MAX_PARTS} parts of {size} bytes can hold"
        ));
    }
    Ok(Plan::Parts { size, count })
}

/// The MD5 of each consecutive `size`-byte part of what is written.
pub(super) struct PartHashes {
    size: u64,
    done: Vec<[u8; 16]>,
    current: Md5,
    filled: u64,
    /// More than [`MAX_PARTS`] parts: the upload will use larger parts
    /// ([`plan`]), whose hashes are computed then.
    overflow: bool,
}

impl PartHashes {
    /// Hashes parts of `size` bytes (at least 1).
    pub(super) fn new(size: u64) -> Self {
        Self {
            size: size.max(1),
            done: Vec::new(),
            current: Md5::new(),
            filled: 0,
            overflow: false,
        }
    }

    /// The part size.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the file.
    pub(super) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.overflow {
            let room = self.size - self.filled;
            let n = usize::try_from(room).map_or(data.len(), |room| room.min(data.len()));
            let (head, tail) = data.split_at(n);
            self.current.update(head);
            self.filled += n as u64;
            if self.filled == self.size {
                self.done
                    .push(std::mem::take(&mut self.current).finalize().into());
                self.filled = 0;
                if self.done.len() as u64 > MAX_PARTS {
                    self.overflow = true;
                    self.done = Vec::new();
                }
            }
            data = tail;
        }
    }

    /// The MD5 of each part, the last one possibly shorter (one part, of
    /// nothing, for an empty file); `None` if there were too many parts to
    /// keep them.
    pub(super) fn finish(mut self) -> Option<Vec<[u8; 16]>> {
        if self.overflow {
            return None;
        }
        if self.filled > 0 || self.done.is_empty() {
            self.done.push(self.current.finalize().into());
        }
        Some(self.done)
    }
}

/// The MD5 of the `len` bytes of `file` from `offset`.
pub(super) fn md5_of_range(file: &File, offset: u64, len: u64) -> std::io::Result<[u8; 16]> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(offset))?;
    let mut reader = reader.take(len);
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut read = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        match buf.get(..n) {
            Some(chunk) if n > 0 => md5.update(chunk),
            _ => break,
        }
        read += n as u64;
    }
    if read != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{read} bytes from offset {offset}, {len} expected"),
        ));
    }
    Ok(md5.finalize().into())
}

/// The MD5 of each of the `count` parts of `size` bytes of `file` (`len`
/// bytes, the last part shorter): `kept` if it holds the hashes of parts of
/// that size (those [`PartHashes`] computed while spooling), else read
/// again from the file.
pub(super) fn part_md5s(
    file: &File,
    len: u64,
    size: u64,
    count: u64,
    kept: Option<(u64, Vec<[u8; 16]>)>,
) -> std::io::Result<Vec<[u8; 16]>> {
    if let Some((kept_size, hashes)) = kept
        && kept_size == size
        && hashes.len() as u64 == count
    {
        return Ok(hashes);
    }
    (0..count)
        .map(|i| {
            let offset = i.saturating_mul(size);
            md5_of_range(file, offset, size.min(len.saturating_sub(offset)))
        })
        .collect()
}

/// The part count an ETag states: `"…-9"` is the ETag of an object uploaded
/// in 9 parts. `None` for an ETag without one (a single `PUT`, or a server
/// that does not say).
pub(super) fn etag_parts(etag: &str) -> Option<u64> {
    let (_, count) = unquote(etag).rsplit_once('-')?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    count.parse().ok()
}

/// An ETag without its quotes (and weakness mark), for comparisons.
pub(super) fn unquote(etag: &str) -> &str {
    let etag = etag.trim();
    etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn small_files_go_in_one_put_larger_ones_in_parts() {
        assert_eq!(plan(0, DEFAULT_PART), Ok(Plan::Single));
        assert_eq!(plan(DEFAULT_PART, DEFAULT_PART), Ok(Plan::Single));
        assert_eq!(
            plan(DEFAULT_PART + 1, DEFAULT_PART),
            Ok(Plan::Parts {
                size: DEFAULT_PART,
                count: 2
            })
        );
        // A 30 GB hourly file (10,000 decisions a second).
        assert_eq!(
            plan(30_000_000_000, DEFAULT_PART),
            Ok(Plan::Parts {
                size: DEFAULT_PART,
                count: 448
            })
        );
        assert_eq!(
            plan(11 * MIB, 5 * MIB),
            Ok(Plan::Parts {
                size: 5 * MIB,
                count: 3
            })
        );
    }

    #[test]
    fn parts_grow_so_that_ten_thousand_hold_the_file() {
        // 64 MiB parts hold 625 GiB; beyond, they double.
        let fits = 64 * MIB * MAX_PARTS;
        assert_eq!(
            plan(fits, DEFAULT_PART),
            Ok(Plan::Parts {
                size: DEFAULT_PART,
                count: MAX_PARTS
            })
        );
        assert_eq!(
            plan(fits + 1, DEFAULT_PART),
            Ok(Plan::Parts {
                size: 128 * MIB,
                count: 5_001
            })
        );
        // The largest object: 5 MiB parts doubled to 640 MiB, 1 GiB from 64.
        for (part, size) in [(5 * MIB, 640 * MIB), (DEFAULT_PART, GIB)] {
            let Ok(Plan::Parts { size: got, count }) = plan(MAX_OBJECT, part) else {
                panic!("no plan for 5 TiB");
            };
            assert_eq!(got, size);
            assert!(count <= MAX_PARTS && got <= MAX_PART, "{count} × {got}");
        }
        // 5 GiB parts never grow, and hold the largest object.
        assert_eq!(
            plan(MAX_OBJECT, MAX_PART),
            Ok(Plan::Parts {
                size: MAX_PART,
                count: 1024
            })
        );
        assert_eq!(plan(MAX_PART, MAX_PART), Ok(Plan::Single));
    }

    #[test]
    fn beyond_five_tib_is_refused() {
        let e = plan(MAX_OBJECT + 1, DEFAULT_PART).unwrap_err();
        assert!(
            e.contains("5497558138881 bytes") && e.contains("5 TiB"),
            "{e}"
        );
        // A zero part size is one byte, not a loop.
        assert_eq!(plan(3, 0), Ok(Plan::Parts { size: 1, count: 3 }));
    }

    fn md5(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[test]
    fn part_hashes_follow_part_boundaries_whatever_the_writes() {
        let data: Vec<u8> = (0..100u8).collect();
        for writes in [1, 3, 7, 10, 100] {
            let mut h = PartHashes::new(10);
            for chunk in data.chunks(writes) {
                h.update(chunk);
            }
            let expected: Vec<_> = data.chunks(10).map(md5).collect();
            assert_eq!(h.finish(), Some(expected), "writes of {writes}");
        }
        let mut h = PartHashes::new(10);
        h.update(&data[..25]);
        assert_eq!(
            h.finish(),
            Some(vec![
                md5(&data[..10]),
                md5(&data[10..20]),
                md5(&data[20..25])
            ])
        );
        assert_eq!(PartHashes::new(10).finish(), Some(vec![md5(b"")]));
        assert_eq!(PartHashes::new(0).size(), 1);
    }

    #[test]
    fn too_many_parts_are_not_kept() {
        let mut h = PartHashes::new(1);
        h.update(&vec![7u8; MAX_PARTS as usize]);
        assert_eq!(h.finish().map(|v| v.len() as u64), Some(MAX_PARTS));
        let mut h = PartHashes::new(1);
        h.update(&vec![7u8; MAX_PARTS as usize + 1]);
        assert_eq!(h.finish(), None);
    }

    #[test]
    fn a_range_of_a_file_is_hashed_and_a_short_file_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        file.write_all(&data).unwrap();
        assert_eq!(md5_of_range(&file, 0, 200_000).unwrap(), md5(&data));
        assert_eq!(
            md5_of_range(&file, 70_000, 100_000).unwrap(),
            md5(&data[70_000..170_000])
        );
        let e = md5_of_range(&file, 150_000, 60_000).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn part_hashes_are_kept_when_the_sizes_match_else_read_again() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(2_500).collect();
        file.write_all(&data).unwrap();
        let by = |size: usize| data.chunks(size).map(md5).collect::<Vec<_>>();
        let mut h = PartHashes::new(1_000);
        h.update(&data);
        let kept = h.finish().map(|v| (1_000, v));
        assert_eq!(kept.as_ref().map(|(_, v)| v.clone()), Some(by(1_000)));
        // Kept: the file is not read (a wrong length would fail otherwise).
        assert_eq!(
            part_md5s(&file, 9_999, 1_000, 3, kept.clone()).unwrap(),
            by(1_000)
        );
        // Parts of another size, or none kept: read again.
        assert_eq!(part_md5s(&file, 2_500, 2_000, 2, kept).unwrap(), by(2_000));
        assert_eq!(part_md5s(&file, 2_500, 1_000, 3, None).unwrap(), by(1_000));
        assert_eq!(part_md5s(&file, 2_500, 2_500, 1, None).unwrap(), by(2_500));
        assert!(part_md5s(&file, 2_600, 1_000, 3, None).is_err());
    }

    #[test]
    fn etags_state_their_part_count() {
        assert_eq!(
            etag_parts("\"3858f62230ac3c915f300c664312c11f-9\""),
            Some(9)
        );
        assert_eq!(
            etag_parts("3858f62230ac3c915f300c664312c11f-10000"),
            Some(10_000)
        );
        assert_eq!(etag_parts("\"3858f62230ac3c915f300c664312c11f\""), None);
        assert_eq!(etag_parts("\"abc-\""), None);
        assert_eq!(etag_parts("\"abc-x1\""), None);
        assert_eq!(unquote(" W/\"abc-2\" "), "abc-2");
    }
}
