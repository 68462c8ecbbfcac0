//! Gives back the memory a shim needed only to create its container, so that an idle shim (one
//! per running container) costs little: creating parses the spec, compiles seccomp and so on,
//! and the kernel's fault-around maps most of the binary's code while it does; supervising needs
//! a few pages of it. After the create the shim returns free heap to the kernel and unmaps the
//! clean read-only file pages it has mapped (the code refaults the few pages it still runs from
//! the page cache, which all shims of one engine share through its one sealed copy). The shim
//! does it right before its loop first blocks, and again when the loop has been quiet for a
//! while after activity (log output, attach clients), so a container that logged at start and
//! then sleeps costs no more than one that never logged.

use std::path::Path;

/// A mapping `[start, end)` of the process.
pub type Range = (usize, usize);

/// The mappings of an `smaps` listing whose pages can be dropped and refaulted unchanged:
/// read-only, private, backed by a file, never written (no anonymous, i.e. copied-on-write,
/// pages: relocated RELRO data is kept), and resident.
pub fn droppable(smaps: &str) -> Vec<Range> {
    let mut out = Vec::new();
    let mut current: Option<(Range, bool)> = None;
    let mut rss = 0u64;
    let mut anon = 0u64;
    let mut flush = |current: &mut Option<(Range, bool)>, rss: u64, anon: u64| {
        if let Some((range, true)) = current.take()
            && rss > 0
            && anon == 0
        {
            out.push(range);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            flush(&mut current, rss, anon);
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let candidate = matches!(perms, "r-xp" | "r--p") && path.starts_with('/');
            current = Some(((start, end), candidate));
            (rss, anon) = (0, 0);
            continue;
        }
        let mut kb = || {
            fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match first {
            "Rss:" => rss = kb(),
            "Anonymous:" => anon = kb(),
            _ => {}
        }
    }
    flush(&mut current, rss, anon);
    out
}

/// Returns free heap to the kernel and drops the [`droppable`] mappings of this process
/// (listed in `<proc_root>/self/smaps`). Best effort: memory only, never correctness.
///
/// Call it right before the process blocks: every code or constant page touched afterwards
/// comes back with the kernel's fault-around (up to 64 kB each), so the less runs after it,
/// the less is resident while idle. The listing is read and freed first, so the trim also
/// returns its buffer and the unmapping is the last thing done.
pub fn shed_startup_memory(proc_root: &Path) {
    let ranges = match std::fs::read_to_string(proc_root.join("self/smaps")) {
        Ok(smaps) => droppable(&smaps),
        Err(_) => Vec::new(),
    };
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory of glibc's allocator to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    for (start, end) in ranges {
        // SAFETY: the range is a whole read-only private file mapping of this process with no
        // copied-on-write page: MADV_DONTNEED only unmaps pages that the next access reads
        // back from the same file, unchanged.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0-55e0 r--p 00000000 00:01 2875                       /memfd:berth-runtime (deleted)
Rss:                 656 kB
Anonymous:             0 kB
55e0-55f0 r-xp 000ef000 00:01 2875                       /memfd:berth-runtime (deleted)
Size:               2672 kB
Rss:                2208 kB
Anonymous:             0 kB
55f0-5600 r--p 0038a000 00:01 2875                       /memfd:berth-runtime (deleted)
Rss:                 180 kB
Anonymous:           180 kB
5600-5610 rw-p 003b6000 00:01 2875                       /memfd:berth-runtime (deleted)
Rss:                  16 kB
Anonymous:            16 kB
5610-5620 r-xp 00000000 00:01 99                         /usr/lib/libc.so.6
Rss:                   0 kB
Anonymous:             0 kB
5620-5630 rw-p 00000000 00:00 0                          [heap]
Rss:                  88 kB
Anonymous:            88 kB
7ffc-7ffd r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_file_pages_are_dropped() {
        // Text and headers go; relocated RELRO (anonymous pages), data, heap, the vdso and a
        // mapping with nothing resident stay.
        assert_eq!(droppable(SMAPS), [(0x55d0, 0x55e0), (0x55e0, 0x55f0)]);
    }

    #[test]
    fn shedding_keeps_the_process_working() {
        let before: Vec<u8> = (0..=255).collect();
        shed_startup_memory(Path::new("/proc"));
        // Code, constants and heap data are all still there.
        let after: Vec<u8> = (0..=255).collect();
        assert_eq!(before, after);
        assert_eq!(format!("{:?}", droppable("")), "[]");
    }
}
