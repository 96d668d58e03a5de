//! Enum names from the kernel's BTF (`/sys/kernel/btf/vmlinux`): the running kernel's own
//! `enum skb_drop_reason` and `enum sk_rst_reason`, so a number a BPF program read is named
//! exactly as this kernel names it, whatever its version. Format: the kernel's
//! `Documentation/bpf/btf.rst` (`struct btf_header`, `struct btf_type`). Hostile or truncated
//! input gives `None` or fewer names, never a panic.

use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;
const KIND_ENUM: u32 = 6;
const KIND_ENUM64: u32 = 19;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn str_at(strings: &[u8], off: u32) -> Option<&str> {
    let s = strings.get(off as usize..)?;
    let end = s.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&s[..end]).ok()
}

/// Bytes that follow a `struct btf_type` of this kind with `vlen` members.
fn extra(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        1 => 4,                    // INT
        3 => 12,                   // ARRAY
        4 | 5 => 12 * vlen,        // STRUCT, UNION
        6 => 8 * vlen,             // ENUM
        13 => 8 * vlen,            // FUNC_PROTO
        14 => 4,                   // VAR
        15 => 12 * vlen,           // DATASEC
        17 => 4,                   // DECL_TAG
        19 => 12 * vlen,           // ENUM64
        2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
        _ => return None,
    })
}

/// The values of the enum named `name`, value → enumerator name with `strip` removed
/// (`SKB_DROP_REASON_` → `NETFILTER_DROP`). Little-endian BTF only (what x86 and arm64 use).
pub fn enum_names(btf: &[u8], name: &str, strip: &str) -> Option<HashMap<u64, String>> {
    if u16::from_le_bytes(btf.get(0..2)?.try_into().ok()?) != MAGIC {
        return None;
    }
    let hdr_len = u32_at(btf, 4)? as usize;
    let (type_off, type_len) = (u32_at(btf, 8)? as usize, u32_at(btf, 12)? as usize);
    let (str_off, str_len) = (u32_at(btf, 16)? as usize, u32_at(btf, 20)? as usize);
    let base = hdr_len;
    let types = btf.get(base + type_off..(base + type_off).checked_add(type_len)?)?;
    let strings = btf.get(base + str_off..(base + str_off).checked_add(str_len)?)?;
    let mut pos = 0;
    while pos + 12 <= types.len() {
        let name_off = u32_at(types, pos)?;
        let info = u32_at(types, pos + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let body = pos + 12;
        let next = body.checked_add(extra(kind, vlen)?)?;
        if (kind == KIND_ENUM || kind == KIND_ENUM64) && str_at(strings, name_off) == Some(name) {
            let step = if kind == KIND_ENUM { 8 } else { 12 };
            let mut out = HashMap::new();
            for i in 0..vlen {
                let m = body + i * step;
                let Some(n) = u32_at(types, m).and_then(|o| str_at(strings, o)) else {
                    continue;
                };
                let lo = u64::from(u32_at(types, m + 4)?);
                let v = if kind == KIND_ENUM {
                    lo
                } else {
                    lo | (u64::from(u32_at(types, m + 8)?) << 32)
                };
                out.insert(v, n.strip_prefix(strip).unwrap_or(n).to_string());
            }
            return Some(out);
        }
        pos = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with an INT, then `enum e { E_A = 1, E_B = 7 }`.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0e\0E_A\0E_B\0".to_vec();
        let mut types = Vec::new();
        let t = |types: &mut Vec<u8>, name: u32, info: u32, size: u32| {
            types.extend(name.to_le_bytes());
            types.extend(info.to_le_bytes());
            types.extend(size.to_le_bytes());
        };
        t(&mut types, 1, 1 << 24, 4);
        types.extend(0x20u32.to_le_bytes());
        t(&mut types, 5, (6 << 24) | 2, 4);
        for (n, v) in [(7u32, 1u32), (11, 7)] {
            types.extend(n.to_le_bytes());
            types.extend(v.to_le_bytes());
        }
        let mut b = Vec::new();
        b.extend(MAGIC.to_le_bytes());
        b.extend([1, 0]);
        b.extend(24u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((types.len() as u32).to_le_bytes());
        b.extend((types.len() as u32).to_le_bytes());
        b.extend((strings.len() as u32).to_le_bytes());
        b.extend(types);
        b.extend(strings);
        b
    }

    #[test]
    fn finds_an_enum_after_other_types() {
        let m = enum_names(&blob(), "e", "E_").unwrap();
        assert_eq!(m[&1], "A");
        assert_eq!(m[&7], "B");
        assert!(enum_names(&blob(), "nope", "").is_none());
    }

    #[test]
    fn every_prefix_and_corruption_is_safe() {
        let b = blob();
        for n in 0..b.len() {
            let _ = enum_names(&b[..n], "e", "");
        }
        for i in 0..b.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut c = b.clone();
                c[i] = v;
                let _ = enum_names(&c, "e", "");
            }
        }
    }

    #[test]
    fn this_kernels_reasons_when_it_has_btf() {
        let Ok(b) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            return;
        };
        let drops = enum_names(&b, "skb_drop_reason", "SKB_DROP_REASON_").unwrap();
        assert!(drops.values().any(|n| n == "NETFILTER_DROP"), "{drops:?}");
        let rst = enum_names(&b, "sk_rst_reason", "SK_RST_REASON_").unwrap();
        assert!(rst.values().any(|n| n == "TCP_ABORT_ON_CLOSE"), "{rst:?}");
    }
}
