//! Disk image format inspection, as Glance does it on upload since its 2024 advisory
//! (OSSA-2024-001): while the data streams in, recognise what it really is (qcow2, vhd,
//! vhdx, vmdk, vdi, qed, iso, gpt, luks, or else raw), compute the virtual size, and
//! run the format's safety checks (a qcow2 naming a backing file or an external data
//! file, a vmdk pointing at other files, ...).
//!
//! [`Inspector`] is fed the stream chunk by chunk and keeps only what it needs: the
//! first MiB, a few regions further in that the headers point at, and the last 1536
//! bytes. [`Inspector::finish`] gives a [`Detection`]; [`judge`] applies Glance's rules
//! to it for the image's `disk_format`.

use std::fmt;

/// How much of the head of the stream is kept: enough for every header, the ISO
/// volume descriptor, the VHDX region table and a VMDK descriptor.
const HEAD_MAX: usize = 1 << 20;
/// How much of the end of the stream is kept (a streamOptimized VMDK's footer).
const TAIL_MAX: usize = 1536;

const VHDX_REGION_TABLE: usize = 192 * 1024;
const VHDX_METAREGION: &str = "8B7CA206-4790-4B9A-B8FE-575F050F886E";
const VHDX_VIRTUAL_DISK_SIZE: &str = "2FA54224-CD1B-4876-B211-5DBED83BF4B8";
const ISO_DESCRIPTOR: usize = 32 * 1024;

/// The formats Glance can inspect (its `ALL_FORMATS`). Other disk formats (ami, ari,
/// aki, ploop) pass only when their content looks raw.
pub const INSPECTABLE: &[&str] = &[
    "raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks",
];

/// A region of the stream wanted for a later decision.
#[derive(Debug, Clone)]
struct Region {
    offset: u64,
    len: usize,
    data: Vec<u8>,
}

impl Region {
    fn new(offset: u64, len: usize) -> Region {
        Region {
            offset,
            len,
            data: Vec::new(),
        }
    }
    fn complete(&self) -> bool {
        self.data.len() >= self.len
    }
    /// Take the part of `chunk` (which starts at `start`) that continues the region.
    fn capture(&mut self, chunk: &[u8], start: u64) {
        if self.complete() {
            return;
        }
        let want = self.offset + self.data.len() as u64;
        let end = start + chunk.len() as u64;
        if want < start || want >= end {
            return;
        }
        let Ok(from) = usize::try_from(want - start) else {
            return;
        };
        let take = (self.len - self.data.len()).min(chunk.len() - from);
        self.data.extend_from_slice(&chunk[from..from + take]);
    }
}

/// `len` bytes of `buf` from `off`, if it holds them all.
fn slice_at(buf: &[u8], off: u64, len: usize) -> Option<&[u8]> {
    let from = usize::try_from(off).ok()?;
    buf.get(from..from.checked_add(len)?)
}

/// Streams through every format's detector at once.
#[derive(Debug, Default)]
pub struct Inspector {
    pos: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    vhdx_meta: Option<Region>,
    vhdx_vds: Option<Region>,
    /// Set when the VHDX structures are malformed: it is then not a VHDX.
    vhdx_broken: bool,
}

/// One format the content matched, with what Glance derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub format: &'static str,
    /// 0 when unknown.
    pub virtual_size: u64,
    /// The names of the failed safety checks, with why.
    pub failures: Vec<(&'static str, String)>,
}

/// What the whole stream turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The non-raw formats that matched; empty means raw.
    pub matches: Vec<Match>,
    /// Bytes seen.
    pub actual_size: u64,
}

/// Why content was refused; the text is what Glance tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Inspector {
    pub fn new() -> Inspector {
        Inspector::default()
    }

    /// Present the next chunk of the stream.
    pub fn eat(&mut self, chunk: &[u8]) {
        let start = self.pos;
        self.pos += chunk.len() as u64;
        if self.head.len() < HEAD_MAX && usize::try_from(start).is_ok_and(|s| s == self.head.len())
        {
            let take = (HEAD_MAX - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if chunk.len() >= TAIL_MAX {
            self.tail.clear();
            self.tail
                .extend_from_slice(&chunk[chunk.len() - TAIL_MAX..]);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > TAIL_MAX {
                self.tail.drain(..self.tail.len() - TAIL_MAX);
            }
        }
        if self.head.starts_with(b"vhdxfile") && !self.vhdx_broken {
            self.vhdx_progress(chunk, start);
        }
    }

    /// Follow the VHDX region table to the metadata region and its virtual disk size
    /// item, capturing each as it streams by (they may start in the chunk that revealed
    /// them).
    fn vhdx_progress(&mut self, chunk: &[u8], start: u64) {
        let table_end = VHDX_REGION_TABLE + 64 * 1024;
        if self.vhdx_meta.is_none() && self.head.len() >= table_end {
            match vhdx_meta_offset(&self.head[VHDX_REGION_TABLE..table_end]) {
                Ok(Some(off)) => {
                    let mut r = Region::new(off, 2048 * 32);
                    if let Some(bytes) = slice_at(&self.head, off, r.len) {
                        r.data = bytes.to_vec();
                    }
                    self.vhdx_meta = Some(r);
                }
                Ok(None) => {}
                Err(()) => self.vhdx_broken = true,
            }
        }
        if let Some(meta) = &mut self.vhdx_meta {
            meta.capture(chunk, start);
            if self.vhdx_vds.is_none() {
                match vhdx_vds_offset(&meta.data) {
                    Ok(Some((off, len))) => {
                        let mut r = Region::new(meta.offset + off, len.clamp(1, 8));
                        if let Some(bytes) = slice_at(&meta.data, off, r.len) {
                            r.data = bytes.to_vec();
                        }
                        self.vhdx_vds = Some(r);
                    }
                    Ok(None) => {}
                    Err(()) => self.vhdx_broken = true,
                }
            }
        }
        if let Some(vds) = &mut self.vhdx_vds {
            vds.capture(chunk, start);
        }
    }

    /// The stream has ended: what was it?
    pub fn finish(&self) -> Detection {
        let h = &self.head;
        let mut matches = Vec::new();
        if h.len() >= 512 && h.starts_with(b"QFI\xfb") {
            matches.push(qcow2(h));
        }
        if h.len() >= 512 && h.starts_with(b"QED\0") {
            matches.push(Match {
                format: "qed",
                virtual_size: 0,
                failures: vec![("banned", "This file format is not allowed".into())],
            });
        }
        if h.len() >= 512 && h.starts_with(b"conectix") {
            matches.push(Match {
                format: "vhd",
                virtual_size: be64(h, 40),
                failures: vec![],
            });
        }
        if h.starts_with(b"vhdxfile") && !self.vhdx_broken {
            let size = match &self.vhdx_vds {
                Some(r) if r.complete() && r.data.len() >= 8 => le64(&r.data, 0),
                _ => 0,
            };
            matches.push(Match {
                format: "vhdx",
                virtual_size: size,
                failures: vec![],
            });
        }
        if let Some(m) = vmdk(h, &self.tail) {
            matches.push(m);
        }
        if h.len() >= 512 && le32(h, 0x40) == 0xBEDA_107F {
            matches.push(Match {
                format: "vdi",
                virtual_size: le64(h, 0x170),
                failures: vec![],
            });
        }
        if h.len() >= ISO_DESCRIPTOR + 2048 {
            let d = &h[ISO_DESCRIPTOR..ISO_DESCRIPTOR + 2048];
            if [&b"CD001"[..], b"NSR02", b"NSR03"].contains(&&d[1..6]) {
                let size = if d[0] == 1 {
                    u64::from(le32(d, 80)) * u64::from(le16(d, 128))
                } else {
                    0
                };
                matches.push(Match {
                    format: "iso",
                    virtual_size: size,
                    failures: vec![],
                });
            }
        }
        if h.len() >= 512 && le16(h, 510) == 0xAA55 && !(h[0x10] == 2 && h[0x15] == 0xF8) {
            matches.push(Match {
                format: "gpt",
                virtual_size: self.pos,
                failures: mbr_failures(h),
            });
        }
        if h.starts_with(b"LUKS\xba\xbe") {
            let mut failures = Vec::new();
            let version = if h.len() >= 8 {
                u16::from_be_bytes([h[6], h[7]])
            } else {
                0
            };
            if version != 1 {
                failures.push((
                    "version",
                    format!("LUKS version {version} is not supported"),
                ));
            }
            let payload = if h.len() >= 108 {
                u64::from(be32(h, 104)) * 512
            } else {
                0
            };
            matches.push(Match {
                format: "luks",
                virtual_size: self.pos.saturating_sub(payload),
                failures,
            });
        }
        Detection {
            matches,
            actual_size: self.pos,
        }
    }
}

impl Detection {
    /// The one format the content is, as Glance decides: an ISO that also carries a
    /// GPT/MBR boot record is an ISO; any other ambiguity is an error.
    pub fn format(&self) -> Result<Match, Rejection> {
        match self.matches.as_slice() {
            [] => Ok(Match {
                format: "raw",
                virtual_size: self.actual_size,
                failures: vec![],
            }),
            [one] => Ok(one.clone()),
            [a, b] if (a.format, b.format) == ("iso", "gpt") => Ok(a.clone()),
            many => Err(Rejection(format!(
                "Multiple formats detected: {}",
                many.iter().map(|m| m.format).collect::<Vec<_>>().join(",")
            ))),
        }
    }
}

/// Glance's verdict on content of `detection` uploaded as `disk_format`: the virtual
/// size to record (`None` when unknown), or why it is refused.
///
/// - the detected format is the claimed one: accept, with its virtual size;
/// - the content looks raw and the claimed format can't be inspected (ami, aki, ari,
///   ploop): accept, size unknown;
/// - the claim is `raw`: accept anything (a raw disk may hold anything), sized by bytes;
/// - otherwise refuse. Whatever is accepted must then pass the detected format's safety
///   checks.
pub fn judge(disk_format: &str, detection: &Detection) -> Result<Option<u64>, Rejection> {
    let m = detection.format()?;
    let size = if m.format == disk_format {
        Some(m.virtual_size)
    } else if m.format == "raw" && !INSPECTABLE.contains(&disk_format) {
        None
    } else if disk_format == "raw" {
        Some(detection.actual_size)
    } else {
        return Err(Rejection(format!(
            "Image disk_format {disk_format} does not match stream data {}",
            m.format
        )));
    };
    if !m.failures.is_empty() {
        tracing::warn!(format = m.format, failures = ?m.failures, "image failed safety checks");
        return Err(Rejection("Image failed safety checks".into()));
    }
    Ok(size.filter(|s| *s > 0))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes(s.try_into().unwrap_or_default()))
        .unwrap_or(0)
}
fn be64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map(|s| u64::from_be_bytes(s.try_into().unwrap_or_default()))
        .unwrap_or(0)
}
fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes(s.try_into().unwrap_or_default()))
        .unwrap_or(0)
}
fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap_or_default()))
        .unwrap_or(0)
}
fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
        .unwrap_or(0)
}

/// qcow2: a big-endian header with the backing file offset at 8, the virtual size at
/// 24, and (version 3) the incompatible feature bits at 72.
fn qcow2(h: &[u8]) -> Match {
    let version = be32(h, 4);
    let mut failures = Vec::new();
    if be64(h, 8) != 0 {
        failures.push(("backing_file", "Image has a backing file".to_owned()));
    }
    let features = be64(h, 72);
    // Incompatible feature bit 2: the guest data lives in an external data file.
    if features & 0x4 != 0 {
        failures.push(("data_file", "Image has data_file set".to_owned()));
    }
    match version {
        2 => {}
        // Bits 0-3 (dirty, corrupt, external data file, compression type) are known.
        3 if features & !0xF == 0 => {}
        3 => failures.push((
            "unknown_features",
            "Unknown QCOW2 features found".to_owned(),
        )),
        _ => failures.push(("unknown_features", "Unsupported qcow2 version".to_owned())),
    }
    Match {
        format: "qcow2",
        virtual_size: be64(h, 24),
        failures,
    }
}

/// VMDK: a binary sparse extent (`KDMV`) with a text descriptor at sector 1, or a bare
/// text descriptor. Only single-file monolithicSparse / streamOptimized are safe: any
/// other type, or an extent naming a path, could make a reader open host files.
fn vmdk(h: &[u8], tail: &[u8]) -> Option<Match> {
    let mut failures: Vec<(&'static str, String)> = Vec::new();
    let (desc, sectors, gd_at_end) = if h.starts_with(b"KDMV") {
        if h.len() < 64 {
            return Some(Match {
                format: "vmdk",
                virtual_size: 0,
                failures: vec![("descriptor", "No descriptor found".into())],
            });
        }
        let version = le32(h, 4);
        let desc_off = le64(h, 28).saturating_mul(512);
        let desc_len = le64(h, 36).saturating_mul(512).min((1 << 20) - 1) as usize;
        let sectors = le64(h, 12);
        let gd_at_end = le64(h, 56) == u64::MAX;
        if !(1..=3).contains(&version) || desc_off != 0x200 {
            return Some(Match {
                format: "vmdk",
                virtual_size: 0,
                failures: vec![("descriptor", "Invalid VMDK header".into())],
            });
        }
        let end = (0x200 + desc_len).min(h.len());
        (
            h.get(0x200..end).unwrap_or_default().to_vec(),
            sectors,
            gd_at_end,
        )
    } else {
        let probe = &h[..h.len().min(512)];
        let is_text = !probe.is_empty()
            && probe
                .iter()
                .all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace());
        if !is_text {
            return None;
        }
        (h.to_vec(), 0, false)
    };
    let desc = match desc.iter().position(|&c| c == 0) {
        Some(i) => &desc[..i],
        None => &desc[..],
    };
    let text = String::from_utf8_lossy(desc).to_lowercase();
    let kind = text
        .find("createtype=\"")
        .map(|i| &text[i + 12..])
        .and_then(|rest| {
            rest.find('"')
                .filter(|&e| e < 64)
                .map(|e| rest[..e].to_owned())
        });
    let binary = h.starts_with(b"KDMV");
    let Some(kind) = kind else {
        if !binary {
            return None;
        }
        return Some(Match {
            format: "vmdk",
            virtual_size: 0,
            failures: vec![("descriptor", "No descriptor found".into())],
        });
    };
    let supported = kind == "monolithicsparse" || kind == "streamoptimized";
    if !supported {
        failures.push(("descriptor", "Unsupported subformat".into()));
    } else {
        let mut extents = 0;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with("ddb") {
                continue;
            }
            let first = line.split(' ').next().unwrap_or("");
            if line
                .split('=')
                .next()
                .is_some_and(|k| line.contains('=') && !k.contains(' '))
            {
                continue;
            }
            if ["rw", "rdonly", "noaccess"].contains(&first) {
                extents += 1;
                if line.contains('/') {
                    failures.push(("descriptor", "Invalid extent filenames found".into()));
                }
            } else {
                failures.push(("descriptor", "Invalid VMDK descriptor data".into()));
                break;
            }
        }
        if extents == 0 && failures.is_empty() {
            failures.push(("descriptor", "No extents found".into()));
        }
    }
    if gd_at_end {
        if let Some(f) = vmdk_footer_failure(h, tail) {
            failures.push(("footer", f));
        }
    }
    let virtual_size = if supported && binary {
        sectors * 512
    } else {
        0
    };
    Some(Match {
        format: "vmdk",
        virtual_size,
        failures,
    })
}

/// A streamOptimized VMDK with its grain directory at the end carries a footer (a copy
/// of the header) and an end-of-stream marker in its last 1536 bytes.
fn vmdk_footer_failure(h: &[u8], tail: &[u8]) -> Option<String> {
    if tail.len() < TAIL_MAX {
        return Some("Footer marker is invalid".into());
    }
    let footer = &tail[512..1024];
    let header_fields = |b: &[u8]| (b[..4].to_vec(), le32(b, 4), le64(b, 28), le64(b, 36));
    if header_fields(h) != header_fields(footer) {
        return Some("Footer specifies a different header than the header".into());
    }
    if le64(footer, 56) == u64::MAX {
        return Some("Footer indicates another footer".into());
    }
    let zero = |b: &[u8]| b.iter().all(|&c| c == 0);
    let marker = &tail[..512];
    if le32(marker, 8) != 0 || le32(marker, 12) != 3 || !zero(&marker[16..]) {
        return Some("Footer marker is invalid".into());
    }
    let eos = &tail[1024..];
    if !zero(eos) {
        return Some("End-of-stream marker is invalid".into());
    }
    None
}

/// An MBR (also the protective MBR in front of a GPT) must have sane partition entries.
fn mbr_failures(h: &[u8]) -> Vec<(&'static str, String)> {
    let mut valid = Vec::new();
    let mut found_gpt = false;
    for i in 0..4 {
        let e = &h[446 + 16 * i..446 + 16 * (i + 1)];
        if e[0] != 0x00 && e[0] != 0x80 {
            return vec![("mbr", format!("MBR PTE {i} has invalid boot flag"))];
        }
        let os_type = e[4];
        if os_type != 0 {
            valid.push(i);
        }
        if os_type == 0xEE {
            found_gpt = true;
            if (e[1], e[2], e[3]) != (0x00, 0x02, 0x00) {
                return vec![("mbr", "GPT MBR has invalid start CHS".into())];
            }
            if le32(e, 8) != 1 {
                return vec![("mbr", "GPT MBR has invalid start LBA".into())];
            }
        }
    }
    if found_gpt && valid != [0] {
        return vec![("mbr", "GPT MBR defines invalid extra partitions".into())];
    }
    if valid.is_empty() {
        return vec![("mbr", "GPT MBR has no partitions defined".into())];
    }
    Vec::new()
}

/// A Microsoft GUID in its mixed-endian text form.
fn guid(b: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        le32(b, 0),
        le16(b, 4),
        le16(b, 6),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// The offset of the VHDX metadata region, from the region table.
fn vhdx_meta_offset(table: &[u8]) -> Result<Option<u64>, ()> {
    if le32(table, 0) != 0x6967_6572 {
        return Err(());
    }
    let count = le32(table, 8) as usize;
    if count >= 2048 {
        return Err(());
    }
    for i in 0..count {
        let Some(e) = table.get(16 + i * 32..16 + (i + 1) * 32) else {
            return Err(());
        };
        if guid(&e[..16]) == VHDX_METAREGION {
            return Ok(Some(le64(e, 16)));
        }
    }
    Ok(None)
}

/// The offset (within the metadata region) and length of the virtual disk size item.
fn vhdx_vds_offset(meta: &[u8]) -> Result<Option<(u64, usize)>, ()> {
    if meta.len() < 32 {
        return Ok(None);
    }
    if &meta[..8] != b"metadata" {
        return Err(());
    }
    let count = le16(meta, 10) as usize;
    if count >= 2048 {
        return Err(());
    }
    if meta.len() < 32 + count * 32 {
        return Ok(None);
    }
    for i in 0..count {
        let e = &meta[32 + i * 32..32 + (i + 1) * 32];
        if guid(&e[..16]) == VHDX_VIRTUAL_DISK_SIZE {
            return Ok(Some((u64::from(le32(e, 16)), le32(e, 20) as usize)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(data: &[u8], chunk: usize) -> Detection {
        let mut i = Inspector::new();
        for c in data.chunks(chunk.max(1)) {
            i.eat(c);
        }
        i.finish()
    }

    fn qcow2_header(version: u32, backing: u64, features: u64, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 1024];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h[72..80].copy_from_slice(&features.to_be_bytes());
        h
    }

    fn iso(size_blocks: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64 * 1024];
        let p = &mut d[ISO_DESCRIPTOR..];
        p[0] = 1;
        p[1..6].copy_from_slice(b"CD001");
        p[80..84].copy_from_slice(&size_blocks.to_le_bytes());
        p[128..130].copy_from_slice(&2048u16.to_le_bytes());
        d
    }

    fn mbr(entries: &[(u8, u8, [u8; 3], u32)]) -> Vec<u8> {
        let mut d = vec![0u8; 4096];
        for (i, (boot, ty, chs, lba)) in entries.iter().enumerate() {
            let e = &mut d[446 + 16 * i..446 + 16 * (i + 1)];
            e[0] = *boot;
            e[1..4].copy_from_slice(chs);
            e[4] = *ty;
            e[8..12].copy_from_slice(&lba.to_le_bytes());
            e[12..16].copy_from_slice(&100u32.to_le_bytes());
        }
        d[510] = 0x55;
        d[511] = 0xAA;
        d
    }

    /// `check(data, disk_format, expect)`: expect `Ok(virtual size)` or an error
    /// containing the text.
    fn check(data: &[u8], disk_format: &str, expect: Result<Option<u64>, &str>) {
        for chunk in [1, 7, 512, 4096, 1 << 20] {
            let got = judge(disk_format, &detect(data, chunk));
            match (&got, &expect) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{disk_format} chunk {chunk}"),
                (Err(Rejection(m)), Err(want)) => assert!(m.contains(want), "{m:?} lacks {want:?}"),
                _ => panic!("{disk_format} chunk {chunk}: got {got:?}, want {expect:?}"),
            }
        }
    }

    #[test]
    fn raw_content() {
        check(b"hello world", "raw", Ok(Some(11)));
        check(b"", "raw", Ok(None));
        check(&vec![0u8; 100_000], "raw", Ok(Some(100_000)));
        // ami/aki/ari are not inspectable: raw-looking content passes, size unknown.
        check(b"kernel bytes", "aki", Ok(None));
        check(b"hello", "qcow2", Err("does not match stream data raw"));
        check(b"hello", "iso", Err("does not match stream data raw"));
    }

    #[test]
    fn qcow2_content() {
        check(&qcow2_header(3, 0, 0, 1 << 30), "qcow2", Ok(Some(1 << 30)));
        check(&qcow2_header(2, 0, 0, 5 << 20), "qcow2", Ok(Some(5 << 20)));
        // dirty + corrupt bits are known features
        check(
            &qcow2_header(3, 0, 0x3, 1 << 20),
            "qcow2",
            Ok(Some(1 << 20)),
        );
        check(
            &qcow2_header(3, 0x200, 0, 1 << 20),
            "qcow2",
            Err("safety checks"),
        );
        check(
            &qcow2_header(3, 0, 0x4, 1 << 20),
            "qcow2",
            Err("safety checks"),
        );
        check(
            &qcow2_header(3, 0, 0x10, 1 << 20),
            "qcow2",
            Err("safety checks"),
        );
        check(
            &qcow2_header(1, 0, 0, 1 << 20),
            "qcow2",
            Err("safety checks"),
        );
        // qcow2 content claimed as raw passes (glance allows it) unless unsafe
        check(&qcow2_header(3, 0, 0, 1 << 20), "raw", Ok(Some(1024)));
        check(
            &qcow2_header(3, 0x200, 0, 1 << 20),
            "raw",
            Err("safety checks"),
        );
        check(
            &qcow2_header(3, 0, 0, 1 << 20),
            "vmdk",
            Err("does not match stream data qcow2"),
        );
        check(
            &qcow2_header(3, 0, 0, 1 << 20),
            "ami",
            Err("does not match stream data qcow2"),
        );
        let d = detect(&qcow2_header(3, 0x200, 0x4, 1), 100);
        let names: Vec<_> = d.matches[0].failures.iter().map(|f| f.0).collect();
        assert_eq!(names, ["backing_file", "data_file"]);
    }

    #[test]
    fn iso_and_gpt() {
        check(&iso(1000), "iso", Ok(Some(1000 * 2048)));
        check(&iso(1000), "qcow2", Err("does not match stream data iso"));
        // a hybrid ISO with an MBR in front is still an ISO
        let mut hybrid = iso(10);
        hybrid[..4096].copy_from_slice(&mbr(&[(0x80, 0x17, [0, 1, 0], 0)]));
        check(&hybrid, "iso", Ok(Some(10 * 2048)));
        // a disk with a partition table is "gpt", which a raw claim accepts
        let disk = mbr(&[(0x80, 0x83, [0, 1, 0], 2048)]);
        check(&disk, "raw", Ok(Some(4096)));
        let protective = mbr(&[(0, 0xEE, [0, 2, 0], 1)]);
        check(&protective, "raw", Ok(Some(4096)));
        check(
            &mbr(&[(0x7, 0x83, [0, 1, 0], 1)]),
            "raw",
            Err("safety checks"),
        );
        check(
            &mbr(&[(0, 0xEE, [0, 2, 0], 1), (0, 0x83, [0, 1, 0], 9)]),
            "raw",
            Err("safety checks"),
        );
        check(&mbr(&[]), "raw", Err("safety checks"));
    }

    #[test]
    fn vhd_vdi_qed_luks() {
        let mut vhd = vec![0u8; 1024];
        vhd[..8].copy_from_slice(b"conectix");
        vhd[40..48].copy_from_slice(&(7u64 << 20).to_be_bytes());
        check(&vhd, "vhd", Ok(Some(7 << 20)));
        let mut vdi = vec![0u8; 1024];
        vdi[0x40..0x44].copy_from_slice(&0xBEDA_107Fu32.to_le_bytes());
        vdi[0x170..0x178].copy_from_slice(&(3u64 << 20).to_le_bytes());
        check(&vdi, "vdi", Ok(Some(3 << 20)));
        let mut qed = vec![0u8; 1024];
        qed[..4].copy_from_slice(b"QED\0");
        check(&qed, "raw", Err("safety checks"));
        let mut luks = vec![0u8; 1024];
        luks[..6].copy_from_slice(b"LUKS\xba\xbe");
        luks[6..8].copy_from_slice(&2u16.to_be_bytes());
        check(&luks, "raw", Err("safety checks"));
    }

    fn vmdk_sparse(create_type: &str, extent: &str) -> Vec<u8> {
        let mut d = vec![0u8; 4096];
        d[..4].copy_from_slice(b"KDMV");
        d[4..8].copy_from_slice(&1u32.to_le_bytes());
        d[12..20].copy_from_slice(&2048u64.to_le_bytes());
        d[28..36].copy_from_slice(&1u64.to_le_bytes());
        d[36..44].copy_from_slice(&4u64.to_le_bytes());
        let desc = format!("# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType=\"{create_type}\"\n{extent}\nddb.adapterType = \"ide\"\n");
        d[512..512 + desc.len()].copy_from_slice(desc.as_bytes());
        d
    }

    #[test]
    fn vmdk_content() {
        check(
            &vmdk_sparse("monolithicSparse", "RW 2048 SPARSE \"disk.vmdk\""),
            "vmdk",
            Ok(Some(2048 * 512)),
        );
        check(
            &vmdk_sparse("monolithicSparse", "RW 2048 SPARSE \"/etc/shadow\""),
            "vmdk",
            Err("safety checks"),
        );
        check(
            &vmdk_sparse("monolithicFlat", "RW 2048 FLAT \"disk-flat.vmdk\" 0"),
            "vmdk",
            Err("safety checks"),
        );
        check(
            &vmdk_sparse("monolithicSparse", ""),
            "vmdk",
            Err("safety checks"),
        );
        // a bare text descriptor pointing elsewhere
        let text =
            b"# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 10 FLAT \"/dev/sda\" 0\n";
        check(text, "vmdk", Err("safety checks"));
        check(text, "raw", Err("safety checks"));
        // plain text is not a vmdk
        check(b"just some text\n", "raw", Ok(Some(15)));
    }

    #[test]
    fn vhdx_content() {
        // ident, region table at 192K pointing at metadata at 1 MiB + 4K (beyond the
        // kept head), whose virtual disk size item sits 64 KiB further in.
        let meta_off: usize = (1 << 20) + 4096;
        let mut d = vec![0u8; meta_off + 128 * 1024];
        d[..8].copy_from_slice(b"vhdxfile");
        let t = VHDX_REGION_TABLE;
        d[t..t + 4].copy_from_slice(&0x6967_6572u32.to_le_bytes());
        d[t + 8..t + 12].copy_from_slice(&1u32.to_le_bytes());
        let guid_bytes = |g: &str| {
            let p: Vec<&str> = g.split('-').collect();
            let mut b = Vec::new();
            b.extend_from_slice(&u32::from_str_radix(p[0], 16).unwrap().to_le_bytes());
            b.extend_from_slice(&u16::from_str_radix(p[1], 16).unwrap().to_le_bytes());
            b.extend_from_slice(&u16::from_str_radix(p[2], 16).unwrap().to_le_bytes());
            let rest = format!("{}{}", p[3], p[4]);
            for i in 0..8 {
                b.push(u8::from_str_radix(&rest[i * 2..i * 2 + 2], 16).unwrap());
            }
            b
        };
        d[t + 16..t + 32].copy_from_slice(&guid_bytes(VHDX_METAREGION));
        d[t + 32..t + 40].copy_from_slice(&(meta_off as u64).to_le_bytes());
        let m = meta_off;
        d[m..m + 8].copy_from_slice(b"metadata");
        d[m + 10..m + 12].copy_from_slice(&1u16.to_le_bytes());
        d[m + 32..m + 48].copy_from_slice(&guid_bytes(VHDX_VIRTUAL_DISK_SIZE));
        d[m + 48..m + 52].copy_from_slice(&(64u32 * 1024).to_le_bytes());
        d[m + 52..m + 56].copy_from_slice(&8u32.to_le_bytes());
        d[m + 64 * 1024..m + 64 * 1024 + 8].copy_from_slice(&(9u64 << 30).to_le_bytes());
        for chunk in [4096, 65536, 1 << 20] {
            assert_eq!(
                judge("vhdx", &detect(&d, chunk)),
                Ok(Some(9 << 30)),
                "chunk {chunk}"
            );
        }
        check(&d, "qcow2", Err("does not match stream data vhdx"));
    }

    #[test]
    fn qemu_img_files() {
        // Real files when qemu-img is around (it is on the dev machines).
        let dir = std::env::temp_dir().join(format!("oxi-fmt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("qemu-img")
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let p = |n: &str| dir.join(n).display().to_string();
        if !run(&["create", "-f", "qcow2", &p("base.qcow2"), "16M"]) {
            return;
        }
        let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
        check(&read("base.qcow2"), "qcow2", Ok(Some(16 << 20)));
        assert!(run(&[
            "create",
            "-f",
            "qcow2",
            "-b",
            &p("base.qcow2"),
            "-F",
            "qcow2",
            &p("child.qcow2")
        ]));
        check(&read("child.qcow2"), "qcow2", Err("safety checks"));
        if run(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            &format!("data_file={}", p("data.raw")),
            &p("ext.qcow2"),
            "1M",
        ]) {
            check(&read("ext.qcow2"), "qcow2", Err("safety checks"));
        }
        for (fmt, name) in [
            ("vmdk", "d.vmdk"),
            ("vpc", "d.vhd"),
            ("vhdx", "d.vhdx"),
            ("vdi", "d.vdi"),
        ] {
            assert!(run(&["create", "-f", fmt, &p(name), "64M"]), "{fmt}");
            let want = if fmt == "vpc" { "vhd" } else { fmt };
            let got = judge(want, &detect(&read(name), 65536));
            assert!(
                matches!(got, Ok(Some(s)) if s >= 64 << 20),
                "{fmt}: {got:?}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
