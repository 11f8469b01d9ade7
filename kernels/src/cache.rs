//! The data-cache sizes of the CPU the process runs on, read once: the GEMM derives its blocking
//! from them (`gemm/blocked.rs`), so one binary blocks for a 512 KiB-L2 Zen 3 core and a 2 MiB-L2
//! Xeon core alike.
//!
//! - x86-64: CPUID's deterministic cache parameters, leaf 4 (Intel) or leaf `0x8000_001D` (AMD,
//!   Hygon), with AMD's older leaves `0x8000_0005`/`0x8000_0006` as a fallback.
//! - aarch64 (and any Linux where CPUID gave nothing): `/sys/devices/system/cpu/cpu0/cache`.
//! - Otherwise, or where a level is missing: [`CacheSizes::FALLBACK`].
//!
//! `MINILM_CACHE=l1d=32K,l2=512K,l3=32M` overrides any of them (for benches that emulate another
//! CPU's blocking; every level left out keeps its detected size).

use std::sync::OnceLock;

/// Data-cache sizes in bytes, as one core sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache of one core.
    pub l1d: usize,
    /// Level-2 cache of one core (its share, where the level is shared by several cores).
    pub l2: usize,
    /// The last-level cache (level 3), whole; 0 when there is none.
    pub l3: usize,
    /// Where the sizes came from: `cpuid`, `sysfs`, `fallback`, with `+MINILM_CACHE` when the
    /// environment overrode any of them.
    pub source: &'static str,
}

impl CacheSizes {
    /// What is assumed when nothing can be read: a common modern core (32 KiB L1D, 512 KiB L2).
    pub const FALLBACK: CacheSizes = CacheSizes {
        l1d: 32 << 10,
        l2: 512 << 10,
        l3: 0,
        source: "fallback",
    };

    /// This CPU's sizes (read once per process), with `MINILM_CACHE`'s overrides.
    ///
    /// ```
    /// let caches = minilm_kernels::CacheSizes::detect();
    /// assert!(caches.l1d >= 4 << 10 && caches.l2 >= caches.l1d);
    /// println!("{caches}"); // e.g. "L1d 32 KiB, L2 1 MiB, L3 32 MiB (cpuid)"
    /// ```
    pub fn detect() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(|| {
            let detected = read_cpuid()
                .or_else(read_sysfs)
                .unwrap_or(CacheSizes::FALLBACK);
            match std::env::var("MINILM_CACHE") {
                Ok(spec) if !spec.trim().is_empty() => detected.overridden(&spec),
                _ => detected,
            }
        })
    }

    /// `self` with the levels `spec` names (`l1d=32K,l2=512K,l3=32M`; K, M or a plain byte
    /// count) replaced; malformed entries are ignored.
    fn overridden(mut self, spec: &str) -> CacheSizes {
        let mut any = false;
        for entry in spec.split(',') {
            let Some((level, size)) = entry.split_once('=') else {
                continue;
            };
            let Some(bytes) = parse_size(size) else {
                continue;
            };
            match level.trim().to_ascii_lowercase().as_str() {
                "l1d" | "l1" => self.l1d = bytes,
                "l2" => self.l2 = bytes,
                "l3" => self.l3 = bytes,
                _ => continue,
            }
            any = true;
        }
        if any {
            self.source = match self.source {
                "cpuid" => "cpuid+MINILM_CACHE",
                "sysfs" => "sysfs+MINILM_CACHE",
                _ => "fallback+MINILM_CACHE",
            };
        }
        self.sane()
    }

    /// Sizes no blocking rule can trip over: L1D at least 4 KiB, L2 at least L1D.
    fn sane(mut self) -> CacheSizes {
        self.l1d = self.l1d.max(4 << 10);
        self.l2 = self.l2.max(self.l1d);
        self
    }
}

impl std::fmt::Display for CacheSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "L1d {}, L2 {}", Bytes(self.l1d), Bytes(self.l2))?;
        if self.l3 > 0 {
            write!(f, ", L3 {}", Bytes(self.l3))?;
        }
        write!(f, " ({})", self.source)
    }
}

/// A byte count in KiB or MiB, whichever is whole.
struct Bytes(usize);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", b >> 20)
        } else if b.is_multiple_of(1 << 10) {
            write!(f, "{} KiB", b >> 10)
        } else {
            write!(f, "{b} B")
        }
    }
}

/// `32K`, `1M`, `1024k`, `2MiB`, `49152`: bytes.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let value: usize = text[..digits].parse().ok()?;
    let unit = text[digits..].trim().to_ascii_lowercase();
    let scale = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return None,
    };
    value.checked_mul(scale).filter(|&b| b > 0)
}

#[cfg(target_arch = "x86_64")]
fn read_cpuid() -> Option<CacheSizes> {
    use std::arch::x86_64::{__cpuid_count, CpuidResult};
    #[allow(unused_unsafe)]
    let cpuid = |leaf: u32, sub: u32| -> CpuidResult {
        // SAFETY: CPUID exists on every x86-64 CPU; a leaf above the maximum returns data of the
        // highest basic leaf, never faults (the callers check the maximum first anyway).
        unsafe { __cpuid_count(leaf, sub) }
    };
    let vendor = cpuid(0, 0);
    let max_leaf = vendor.eax;
    let amd_like = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163)
        || (vendor.ebx, vendor.edx, vendor.ecx) == (0x6f67_7948, 0x6e65_476e, 0x656e_6975);
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let leaf = if amd_like && max_ext >= 0x8000_001D {
        Some(0x8000_001D)
    } else if !amd_like && max_leaf >= 4 {
        Some(4)
    } else {
        None
    };

    let mut sizes = CacheSizes {
        l1d: 0,
        l2: 0,
        l3: 0,
        source: "cpuid",
    };
    if let Some(leaf) = leaf {
        for sub in 0..16 {
            let r = cpuid(leaf, sub);
            let kind = r.eax & 0x1f; // 0: no more caches, 1: data, 2: instruction, 3: unified
            if kind == 0 {
                break;
            }
            if kind == 2 {
                continue;
            }
            let level = (r.eax >> 5) & 0x7;
            let sharing = (((r.eax >> 14) & 0xfff) + 1) as usize; // logical CPUs sharing it
            let line = ((r.ebx & 0xfff) + 1) as usize;
            let partitions = (((r.ebx >> 12) & 0x3ff) + 1) as usize;
            let ways = (((r.ebx >> 22) & 0x3ff) + 1) as usize;
            let sets = (r.ecx as usize) + 1;
            let bytes = ways * partitions * line * sets;
            match level {
                1 => sizes.l1d = bytes,
                // An L2 shared by a cluster of cores (some Intel E-core modules): one core's share.
                2 => sizes.l2 = bytes / cores_sharing(sharing, cpuid),
                3 => sizes.l3 = bytes,
                _ => {}
            }
        }
    }
    if amd_like && (sizes.l1d == 0 || sizes.l2 == 0) && max_ext >= 0x8000_0006 {
        // Older AMD: L1D KiB in 0x8000_0005 ECX[31:24], L2 KiB in 0x8000_0006 ECX[31:16].
        if sizes.l1d == 0 {
            sizes.l1d = ((cpuid(0x8000_0005, 0).ecx >> 24) as usize) << 10;
        }
        if sizes.l2 == 0 {
            sizes.l2 = ((cpuid(0x8000_0006, 0).ecx >> 16) as usize) << 10;
        }
    }
    (sizes.l1d > 0 && sizes.l2 > 0).then(|| sizes.sane())
}

/// How many cores share a cache that `logical` logical CPUs share: CPUID counts SMT siblings
/// too, and an L2 private to one core is shared by its hyper-threads. The SMT width comes from
/// leaf `0xB` (its first level, when that level is SMT), which Intel and AMD Zen both report.
#[cfg(target_arch = "x86_64")]
fn cores_sharing(
    logical: usize,
    cpuid: impl Fn(u32, u32) -> std::arch::x86_64::CpuidResult,
) -> usize {
    let smt = if cpuid(0, 0).eax >= 0xB {
        let r = cpuid(0xB, 0);
        if (r.ecx >> 8) & 0xff == 1 {
            (r.ebx & 0xffff).max(1) as usize
        } else {
            1
        }
    } else {
        1
    };
    logical.div_ceil(smt).max(1)
}

#[cfg(not(target_arch = "x86_64"))]
fn read_cpuid() -> Option<CacheSizes> {
    None
}

/// Linux's view: `index*/{level,type,size,shared_cpu_list}` of CPU 0.
fn read_sysfs() -> Option<CacheSizes> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut sizes = CacheSizes {
        l1d: 0,
        l2: 0,
        l3: 0,
        source: "sysfs",
    };
    for index in 0..16 {
        let dir = base.join(format!("index{index}"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            break;
        };
        if kind.trim() == "Instruction" {
            continue;
        }
        let Some(bytes) = parse_size(&size) else {
            continue;
        };
        match level.trim() {
            "1" => sizes.l1d = bytes,
            "2" => sizes.l2 = bytes / shared_cpus(read("shared_cpu_list").as_deref()),
            "3" => sizes.l3 = bytes,
            _ => {}
        }
    }
    (sizes.l1d > 0 && sizes.l2 > 0).then(|| sizes.sane())
}

/// The count of CPUs in a sysfs CPU list (`0-3`, `0,4`, `2`); 1 when unknown.
fn shared_cpus(list: Option<&str>) -> usize {
    let Some(list) = list else { return 1 };
    let mut count = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 1,
            },
            None => 1,
        };
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_unit() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("1024K"), Some(1 << 20));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size(" 49152 "), Some(49152));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn overrides_replace_only_the_levels_named() {
        let base = CacheSizes {
            l1d: 48 << 10,
            l2: 2 << 20,
            l3: 0,
            source: "cpuid",
        };
        let over = base.overridden("l2=512K, bogus, l9=3K");
        assert_eq!((over.l1d, over.l2, over.l3), (48 << 10, 512 << 10, 0));
        assert_eq!(over.source, "cpuid+MINILM_CACHE");
        assert_eq!(base.overridden("nothing"), base);
        // An L2 below L1D is raised to it.
        assert_eq!(base.overridden("l2=1K").l2, 48 << 10);
    }

    #[test]
    fn cpu_lists_count_cpus() {
        assert_eq!(shared_cpus(Some("0-3\n")), 4);
        assert_eq!(shared_cpus(Some("0,4")), 2);
        assert_eq!(shared_cpus(Some("2")), 1);
        assert_eq!(shared_cpus(None), 1);
    }

    #[test]
    fn this_cpu_reports_plausible_sizes() {
        let sizes = CacheSizes::detect();
        assert!(sizes.l1d >= 4 << 10 && sizes.l1d <= 1 << 20, "{sizes}");
        assert!(sizes.l2 >= sizes.l1d && sizes.l2 <= 64 << 20, "{sizes}");
    }
}
