//! Process memory from `/proc` (Linux): one process's `smaps_rollup` and `VmRSS`, a
//! postmaster's children, and the DSM segments a process has mapped.

use std::path::Path;

/// Figures of one process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Resident set size (`Rss` of `smaps_rollup`).
    pub rss_kib: u64,
    /// Proportional set size: shared pages divided among the processes sharing them.
    pub pss_kib: u64,
    /// Anonymous memory (heap, stacks): where a leak in the process itself shows.
    pub anon_kib: u64,
}

/// `/proc/<pid>/smaps_rollup`, or `None` if the process is gone or unreadable.
pub fn rollup(pid: u32) -> Option<Rollup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_rollup(&text)
}

fn parse_rollup(text: &str) -> Option<Rollup> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some(Rollup {
        rss_kib: field("Rss")?,
        pss_kib: field("Pss")?,
        anon_kib: field("Anonymous")?,
    })
}

/// `VmRSS` of `/proc/<pid>/status`, in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix("VmRSS:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// The parent PID from `/proc/<pid>/stat`.
fn parent(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ppid(&text)
}

fn parse_stat_ppid(stat: &str) -> Option<u32> {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The postmaster and every child of it (backends and auxiliary processes).
pub fn server_processes(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if parent(pid) == Some(postmaster) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Dynamic shared memory segments (`/dev/shm/PostgreSQL.*`) mapped by a process: how many
/// and their total size in KiB.
pub fn dsm_mapped(pid: u32) -> Option<(usize, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    Some(parse_dsm_maps(&text))
}

fn parse_dsm_maps(maps: &str) -> (usize, u64) {
    let mut count = 0;
    let mut bytes = 0u64;
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        if !Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("PostgreSQL.") && path.starts_with("/dev/shm/"))
        {
            continue;
        }
        let Some((from, to)) = line
            .split_whitespace()
            .next()
            .and_then(|range| range.split_once('-'))
        else {
            continue;
        };
        if let (Ok(from), Ok(to)) = (u64::from_str_radix(from, 16), u64::from_str_radix(to, 16)) {
            count += 1;
            bytes += to.saturating_sub(from);
        }
    }
    (count, bytes / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_rollup_fields_are_read_in_kib() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:               18236 kB\nPss:                4190 kB\nPss_Anon:           1600 kB\nAnonymous:          1712 kB\n";
        assert_eq!(
            parse_rollup(text),
            Some(Rollup {
                rss_kib: 18236,
                pss_kib: 4190,
                anon_kib: 1712
            })
        );
        assert_eq!(parse_rollup("Rss: 1 kB\n"), None);
    }

    #[test]
    fn the_parent_pid_follows_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(
            parse_stat_ppid("4242 (postgres: a (b) c) S 4100 4100 4100 0 -1"),
            Some(4100)
        );
    }

    #[test]
    fn only_postgres_dsm_segments_are_counted() {
        let maps = "7f00a0000000-7f00a0100000 rw-s 00000000 00:1a 12 /dev/shm/PostgreSQL.1234\n\
                    7f00a0200000-7f00a0204000 rw-s 00000000 00:1a 13 /dev/shm/PostgreSQL.99\n\
                    7f00a0300000-7f00a0400000 rw-s 00000000 00:1a 14 /dev/shm/other\n\
                    7f00a0500000-7f00a0600000 r-xp 00000000 08:01 15 /usr/lib/PostgreSQL.so\n";
        assert_eq!(parse_dsm_maps(maps), (2, 1024 + 16));
    }

    #[test]
    fn this_process_can_be_measured() {
        let me = std::process::id();
        let r = rollup(me).expect("smaps_rollup of this process");
        assert!(r.rss_kib > 0 && r.pss_kib > 0);
        assert!(vm_rss_kib(me).is_some_and(|kib| kib > 0));
    }
}
